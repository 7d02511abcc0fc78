"""The course's image generators in one registry: build, train, save, load with a checksum, sample.

Ten names, each a model of chapters 6-9 with the chapter's own configuration:

* ``mlp_gan``: chapter 6's MLP GAN; ``G(z)``, ``z ~ N(0, I)``.
* ``dcgan``: chapter 6's DCGAN; ``G(z)``.
* ``wgan_gp``: chapter 6's WGAN-GP (DCGAN generator, layer-norm critic); ``G(z)``.
* ``cond_gan``: chapter 6's conditional DCGAN; ``G(z, y)``.
* ``vae``: chapter 7's VAE (Z = 32); ``sigmoid(decode(z))``, pixel probabilities.
* ``cond_vae``: chapter 7's conditional VAE (Z = 2); ``sigmoid(decode(z, y))``.
* ``ddpm``: chapter 8's U-Net (shipped, :mod:`~aigc_lib.diffusion.pretrained`); ancestral DDPM, 1,000 steps.
* ``ddim50``: the same weights; deterministic DDIM, 50 steps.
* ``flow``: flow matching with the same U-Net configuration (chapter 9); Euler, 50 steps.
* ``latent``: latent diffusion (chapter 9, :mod:`~aigc_lib.diffusion.latent`); latent DDIM, 50 steps, then decode.

:func:`sample` returns ``(n, 1, 28, 28)`` images in [0, 1] for every name.
Labels: ``cond_gan`` and ``cond_vae`` always need a digit per image; without
``labels`` they get the balanced labels ``arange(n) % 10``. The diffusion
models (``ddpm``, ``ddim50``, ``flow``, ``latent``) are unconditional when
``labels`` is ``None`` (the null class) and use classifier-free guidance with
scale ``guidance_scale`` (default 3, chapter 8's choice) when labels are
given. The GANs and the plain VAE accept no labels.

**Weights.** ``scripts/train_course_generators.py`` trains every model except
the DDPM (its weights come from ``scripts/train_diffusion_mnist.py`` and load
with :func:`~aigc_lib.diffusion.pretrained.load_mnist_diffusion`) and writes,
into one folder (by default :data:`WEIGHTS_DIR`):

* ``<name>.pt``: the fp32 state dict of the module :func:`build_generator`
  returns (a GAN's generator only; the discriminator is not needed to sample);
* ``<name>.json``: its record (sha256, steps, batch size, training seconds,
  device, torch version, date, the classifier-FID it measured);
* ``manifest.json``: all records merged (the script merges after each model,
  under a file lock, so several training processes can share one folder;
  ``--merge`` rebuilds it from the ``<name>.json`` files).

:func:`load_course_generator` reads ``manifest.json`` and refuses a missing
file or one whose sha256 differs, with a message naming the training command.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..core.checks import check_str
from ..diffusion.latent import LatentDiffusion, LatentDiffusionConfig, LatentDiffusionTask, make_autoencoder_task
from ..diffusion.pretrained import LABEL_DROPOUT, mnist_unet_config
from ..diffusion.tasks import FlowMatchingTask
from ..diffusion.unet import UNet
from ..gan.models import DCGANConfig, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGANConfig, MLPGenerator
from ..gan.training import GANTask, WGANGPTask
from ..core.task import Task
from ..vae.models import VAE, VAEConfig, VAETask
from ..vae.conditional import mnist_cvae_config


#: where the shipped weights and ``manifest.json`` live.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "files" / "generators"
MANIFEST = "manifest.json"
#: the command that writes the weights (named in every loading error).
TRAIN_COMMAND = "python scripts/train_course_generators.py --device cuda --out-dir aigc_lib/data/files/generators"
#: guidance scale used when labels are given to a diffusion model (chapter 8: label accuracy 0.99 at w = 3).
DEFAULT_GUIDANCE = 3.0
NUM_CLASSES = 10
IMAGE_SHAPE = (1, 28, 28)


# ---------------------------------------------------------------- the chapters' configurations
def mlp_gan_config() -> MLPGANConfig:
    """Chapter 6's MNIST MLP GAN."""
    return MLPGANConfig(data_shape=IMAGE_SHAPE, latent_dim=64, hidden_dim=256, n_hidden=2, output="tanh",
                        d_dropout=0.3)


def dcgan_config(n_classes: int = 0, d_norm: str = "batch") -> DCGANConfig:
    """Chapter 6's DCGAN (``d_norm="layer"``: the WGAN-GP critic; ``n_classes=10``: the conditional GAN)."""
    return DCGANConfig(image_size=28, channels=1, latent_dim=64, base_channels=32, n_classes=n_classes, d_norm=d_norm)


def vae_config() -> VAEConfig:
    """Chapter 7's VAE: one hidden layer of 400 units, Z = 32, dropout 0.1."""
    return VAEConfig(hidden=(400,), latent_dim=32, dropout=0.1)


def cond_vae_config() -> VAEConfig:
    """Chapter 7's conditional VAE (:func:`aigc_lib.vae.conditional.mnist_cvae_config`): Z = 2, so the decoder uses the label."""
    return mnist_cvae_config()


def latent_config() -> LatentDiffusionConfig:
    """Chapter 9's latent model: chapter 7's VAE layout with Z = 16, a conditional MLP denoiser."""
    return LatentDiffusionConfig(latent_dim=16, ae_hidden=(400,), ae_dropout=0.1, hidden=192, depth=3,
                                 num_classes=NUM_CLASSES)


# ---------------------------------------------------------------- training recipes
@dataclass
class Stage:
    """One Trainer run of a recipe.

    Attributes:
        name: ``"main"``, or ``"autoencoder"``/``"denoiser"`` for the latent model.
        make_task: ``model -> Task`` (called when the stage starts, after the previous stage ended).
        steps: optimiser steps of the committed (GPU) training run.
        chapter_steps: the steps the chapter itself used (for reference).
        batch_size: examples per optimiser step (a WGAN-GP batch feeds ``n_critic`` critic steps).
        data_range: ``"unit"`` (pixels in [0, 1]) or ``"symmetric"`` ([-1, 1]).
        labels: batches are ``(images, labels)`` pairs.
        trainer: extra :class:`~aigc_lib.core.trainer_config.TrainerConfig` settings. ``lr_schedule="cosine"``
            becomes ``warmup_cosine(warmup_steps, steps)`` so that training in chunks keeps the schedule.
        before: ``(model, train_images) -> None`` run before the task is made (fits the latent scale).
        use_ema: copy the EMA weights into the model at the end (needs ``trainer["ema_decay"]``).
    """

    name: str
    make_task: Callable[[nn.Module], Task]
    steps: int
    chapter_steps: int
    batch_size: int
    data_range: str = "symmetric"
    labels: bool = False
    trainer: dict[str, Any] = field(default_factory=dict)
    before: Callable[[nn.Module, torch.Tensor], None] | None = None
    use_ema: bool = False


@dataclass
class GeneratorSpec:
    """One entry of :data:`REGISTRY`.

    Attributes:
        name, title, chapter: identity (``title`` is the row label of the course's table).
        build: ``() -> nn.Module``, the module whose state dict is saved (untrained).
        labels: ``"none"`` (no labels), ``"required"`` (cond_gan, cond_vae) or ``"guidance"`` (diffusion).
        sampler: one-line description of the sampler.
        stages: the training recipe (empty for the DDPM, trained by ``scripts/train_diffusion_mnist.py``).
    """

    name: str
    title: str
    chapter: int
    build: Callable[[], nn.Module]
    labels: str
    sampler: str
    stages: tuple[Stage, ...] = ()

    @property
    def conditional(self) -> bool:
        return self.labels != "none"


def _gan_task(lr: float, betas=(0.5, 0.999)) -> Callable[[nn.Module], Task]:
    def make(generator: nn.Module) -> Task:
        cfg = generator.config
        disc = MLPDiscriminator(cfg) if isinstance(cfg, MLPGANConfig) else DCGANDiscriminator(cfg)
        return GANTask(generator, disc, lr_g=lr, lr_d=lr, betas=betas)
    return make


def _wgan_task(generator: nn.Module) -> Task:
    return WGANGPTask(generator, DCGANDiscriminator(dcgan_config(d_norm="layer")), n_critic=5, lr=5e-4,
                      betas=(0.5, 0.9))


def _fit_scale(model: nn.Module, images: torch.Tensor) -> None:
    model.fit_latent_scale(images.to(model.latent_scale.device))


_VAE_TRAINER = {"lr_schedule": "cosine", "warmup_steps": 100}
_DIFFUSION_TRAINER = {"lr_schedule": "cosine", "warmup_steps": 200, "ema_decay": 0.999, "clip_grad_norm": 1.0}

REGISTRY: dict[str, GeneratorSpec] = {s.name: s for s in (
    GeneratorSpec("mlp_gan", "MLP GAN", 6, lambda: MLPGenerator(mlp_gan_config()), "none", "G(z)",
                  (Stage("main", _gan_task(5e-4), steps=8000, chapter_steps=1500, batch_size=64),)),
    GeneratorSpec("dcgan", "DCGAN", 6, lambda: DCGANGenerator(dcgan_config()), "none", "G(z)",
                  (Stage("main", _gan_task(5e-4), steps=8000, chapter_steps=2400, batch_size=64),)),
    GeneratorSpec("wgan_gp", "WGAN-GP", 6, lambda: DCGANGenerator(dcgan_config(d_norm="layer")), "none", "G(z)",
                  (Stage("main", _wgan_task, steps=2000, chapter_steps=150, batch_size=5 * 64),)),
    GeneratorSpec("cond_gan", "conditional GAN", 6, lambda: DCGANGenerator(dcgan_config(n_classes=NUM_CLASSES)),
                  "required", "G(z, y)",
                  (Stage("main", _gan_task(2e-4), steps=8000, chapter_steps=1500, batch_size=64, labels=True),)),
    GeneratorSpec("vae", "VAE", 7, lambda: VAE(vae_config()), "none", "sigmoid(decode(z)), z ~ N(0, I)",
                  (Stage("main", lambda m: VAETask(m, lr=2e-3, kl_warmup_steps=200), steps=8000, chapter_steps=2000,
                         batch_size=100, data_range="unit", trainer=_VAE_TRAINER),)),
    GeneratorSpec("cond_vae", "conditional VAE", 7, lambda: VAE(cond_vae_config()), "required",
                  "sigmoid(decode(z, y)), z ~ N(0, I)",
                  (Stage("main", lambda m: VAETask(m, lr=2e-3, kl_warmup_steps=200), steps=6000, chapter_steps=1500,
                         batch_size=100, data_range="unit", labels=True, trainer=_VAE_TRAINER),)),
    GeneratorSpec("ddpm", "DDPM (1000 steps)", 8, lambda: UNet(mnist_unet_config()), "guidance",
                  "ancestral DDPM, 1000 steps, clip_x0=1"),
    GeneratorSpec("ddim50", "DDIM (50 steps)", 9, lambda: UNet(mnist_unet_config()), "guidance",
                  "deterministic DDIM (eta=0), 50 steps, clip_x0=1"),
    GeneratorSpec("flow", "flow matching", 9, lambda: UNet(mnist_unet_config()), "guidance", "Euler, 50 steps",
                  (Stage("main", lambda m: FlowMatchingTask(m, lr=2e-3, label_dropout=LABEL_DROPOUT), steps=6000,
                         chapter_steps=0, batch_size=128, labels=True, trainer=_DIFFUSION_TRAINER, use_ema=True),)),
    GeneratorSpec("latent", "latent diffusion", 9, lambda: LatentDiffusion(latent_config()), "guidance",
                  "latent DDIM (eta=0), 50 steps, then decode",
                  (Stage("autoencoder", lambda m: make_autoencoder_task(m, lr=2e-3, kl_warmup_steps=200), steps=8000,
                         chapter_steps=2000, batch_size=100, data_range="unit", trainer=_VAE_TRAINER),
                   Stage("denoiser", lambda m: LatentDiffusionTask(m, lr=1e-3, label_dropout=0.1), steps=15000,
                         chapter_steps=0, batch_size=256, data_range="unit", labels=True, before=_fit_scale,
                         trainer={**_DIFFUSION_TRAINER, "clip_grad_norm": None}, use_ema=True))),
)}
NAMES: tuple[str, ...] = tuple(REGISTRY)
#: the names that :func:`train_course_generator` trains (the DDPM has its own script).
TRAINABLE: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.stages)


def get_spec(name: str) -> GeneratorSpec:
    """The registry entry of ``name``; a clear error lists the valid names."""
    check_str(name, "name")
    if name not in REGISTRY:
        raise ValueError(f"name must be one of {', '.join(NAMES)}, got {name!r}")
    return REGISTRY[name]


def build_generator(name: str) -> nn.Module:
    """A fresh, untrained module of ``name`` (the one whose state dict is saved)."""
    return get_spec(name).build()
