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

import datetime
import json
import os
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ._checks import check_bool, check_float, check_int, check_str, check_tensor
from .data.batches import TensorBatches
from .data.download import ChecksumError, file_hash
from .diffusion.ddim import ddim_sample
from .diffusion.ddpm import ddpm_sample
from .diffusion.flow_matching import flow_sample
from .diffusion.guidance import classifier_free_guidance
from .diffusion.images import to_image_range, to_model_range
from .diffusion.latent import LatentDiffusion, LatentDiffusionConfig, LatentDiffusionTask, make_autoencoder_task
from .diffusion.pretrained import LABEL_DROPOUT, WEIGHTS_PATH as DDPM_WEIGHTS_PATH, mnist_schedule, mnist_unet_config
from .diffusion.tasks import FlowMatchingTask
from .diffusion.unet import UNet
from .gan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGANConfig, MLPGenerator
from .gan_training import GANTask, WGANGPTask
from .schedule import warmup_cosine
from .task import Task
from .vae import VAE, VAEConfig, VAETask, mnist_cvae_config

#: where the shipped weights and ``manifest.json`` live.
WEIGHTS_DIR = Path(__file__).resolve().parent / "data" / "files" / "generators"
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
    """Chapter 7's conditional VAE (:func:`aigc_lib.vae.mnist_cvae_config`): Z = 2, so the decoder uses the label."""
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
        trainer: extra :class:`~aigc_lib.trainer.TrainerConfig` settings. ``lr_schedule="cosine"``
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


def training_setup(name: str, model: nn.Module | None = None) -> tuple[nn.Module, tuple[Stage, ...]]:
    """``(model, stages)``: the module to train and its recipe; ``stage.make_task(model)`` gives each Task."""
    spec = get_spec(name)
    if not spec.stages:
        raise ValueError(f"{name!r} is not trained here: the DDPM weights come from "
                         f"python scripts/train_diffusion_mnist.py (see aigc_lib.diffusion.pretrained)")
    return (model if model is not None else spec.build()), spec.stages


class _AdjustableCosine:
    """``warmup_cosine(warmup, total)`` whose ``total`` may shrink during training (to fit a time budget)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        return warmup_cosine(min(self.warmup, max(self.total - 1, 0)), max(self.total, 1))(step)


def _schedule(stage: Stage, total: int) -> tuple[dict[str, Any], _AdjustableCosine | None]:
    kw = dict(stage.trainer)
    schedule = None
    if kw.get("lr_schedule") == "cosine":
        schedule = _AdjustableCosine(kw.pop("warmup_steps", 0), total)
        kw["lr_schedule"] = schedule
    return kw, schedule


def train_course_generator(name: str, images: torch.Tensor, labels: torch.Tensor, device: str | torch.device = "cpu",
                           steps_scale: float = 1.0, max_steps: int | None = None, time_budget_s: float | None = None,
                           seed: int = 0, chunk: int = 250, log: Callable[[str], None] = print,
                           chapter_steps: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``name`` with its recipe on ``images`` ``(N, 1, 28, 28)`` in [0, 1] and ``labels`` ``(N,)``.

    Args:
        steps_scale: multiply every stage's steps (``0.01``: a quick check); at least 1 step each.
        max_steps: cap every stage at this many steps (a smoke test).
        time_budget_s: seconds for the whole model, shared by its stages in proportion to their
            steps. After each chunk the stage's plan shrinks (or grows back, up to its planned steps)
            to what the latest chunk's speed allows in the time left, and the cosine learning-rate
            schedule follows the new plan; a stage past its budget stops. The steps actually done
            are recorded.
        seed: seeds torch before building the model and each stage's batches.
        chunk: steps between progress lines (and time-budget checks).
        log: where progress lines go.
        chapter_steps: train each stage for the steps its chapter uses (``Stage.chapter_steps``;
            stages a chapter does not train keep ``Stage.steps``), before ``steps_scale``.

    Returns:
        ``(model in eval mode, info)`` with ``info`` holding steps, batch sizes, seconds, device.
    """
    from .device import seed_everything
    from .trainer import Trainer

    check_tensor(images, "images", ndim=4, kind="float", shape_hint="(N, 1, 28, 28) in [0, 1]")
    check_tensor(labels, "labels", ndim=1, kind="int", shape_hint="(N,)")
    if tuple(images.shape[1:]) != IMAGE_SHAPE or labels.shape[0] != images.shape[0]:
        raise ValueError(f"images must be (N, 1, 28, 28) and labels (N,), got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}")
    steps_scale = check_float(steps_scale, "steps_scale", min=0.0, min_open=True)
    max_steps = check_int(max_steps, "max_steps", min=1, allow_none=True)
    time_budget_s = check_float(time_budget_s, "time_budget_s", min=0.0, min_open=True, allow_none=True)
    chunk = check_int(chunk, "chunk", min=1)
    seed_everything(seed)
    model, stages = training_setup(name)
    model = model.to(device)
    check_bool(chapter_steps, "chapter_steps")
    planned = [max(1, round((s.chapter_steps if chapter_steps and s.chapter_steps > 0 else s.steps) * steps_scale))
               for s in stages]
    if max_steps is not None:
        planned = [min(p, max_steps) for p in planned]
    info: dict[str, Any] = {"name": name, "stages": [], "device": str(device), "seed": seed}
    t_model = time.perf_counter()
    for stage, total in zip(stages, planned):
        seed_everything(seed + 1)
        if stage.before is not None:
            stage.before(model, images)
        task = stage.make_task(model)
        x = images if stage.data_range == "unit" else to_model_range(images)
        data = TensorBatches(x, labels, batch_size=stage.batch_size, seed=seed) if stage.labels else \
            TensorBatches(x, batch_size=stage.batch_size, seed=seed)
        kw, lr_schedule = _schedule(stage, total)
        trainer = Trainer(max_steps=0, device=str(device), progress=False, live_plot=False, log_every=50, **kw)
        planned_total = total
        budget = None if time_budget_s is None else time_budget_s * total / sum(planned)
        t0 = time.perf_counter()
        while trainer.step < total:
            t_chunk, s_chunk = time.perf_counter(), trainer.step
            trainer.config.max_steps = min(total, trainer.step + chunk)
            trainer.fit(task, data)
            elapsed = time.perf_counter() - t0
            rate = (time.perf_counter() - t_chunk) / max(trainer.step - s_chunk, 1)
            last = {k.split("/", 1)[1]: v for k, v in _last_metrics(trainer).items()}
            shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
            log(f"[{name}/{stage.name}] step {trainer.step}/{total}: {shown} | {elapsed:.0f} s "
                f"({rate * 1000:.1f} ms/step in the last chunk)")
            if budget is None or trainer.step >= total:
                continue
            if elapsed > budget:
                log(f"[{name}/{stage.name}] time budget of {budget:.0f} s used: stopping at step {trainer.step}")
                break
            # Fit the plan to the budget at the latest chunk's speed, so that the learning-rate schedule
            # still ends (cosine decay over the steps that will actually run).
            affordable = min(planned_total, trainer.step + int((budget - elapsed) / rate))
            if affordable != total:
                log(f"[{name}/{stage.name}] {rate * 1000:.1f} ms/step, {budget - elapsed:.0f} s of the "
                    f"{budget:.0f} s budget left: plan {total} -> {affordable} steps")
                total = max(trainer.step, affordable)
                if lr_schedule is not None:
                    lr_schedule.total = total
        if stage.use_ema and trainer.ema is not None:
            trainer.ema.copy_to(task)
        info["stages"].append({"stage": stage.name, "steps": trainer.step, "planned_steps": planned_total,
                               "batch_size": stage.batch_size, "seconds": round(time.perf_counter() - t0, 1),
                               "chapter_steps": stage.chapter_steps,
                               "precision": trainer.config.precision, "ema": stage.use_ema})
    info["train_seconds"] = round(time.perf_counter() - t_model, 1)
    info["steps"] = sum(s["steps"] for s in info["stages"])
    info["batch_size"] = stages[-1].batch_size
    if name == "latent":
        info["latent_scale"] = float(model.latent_scale)
    return model.eval(), info


def _last_metrics(trainer: Any) -> dict[str, float]:
    """The last logged training metrics (``train/...``) of a Trainer's history."""
    out: dict[str, float] = {}
    for key in trainer.history.names():
        if key.startswith("train/") and not key.startswith("train/lr"):
            try:
                out[key] = float(trainer.history.last(key))
            except (KeyError, ValueError, TypeError):
                pass
    return out


# ---------------------------------------------------------------- saving and loading
def _records(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        if path.name == MANIFEST:
            continue
        with open(path) as f:
            rec = json.load(f)
        out[rec.get("name", path.stem)] = rec
    return out


def merge_manifest(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Rebuild ``manifest.json`` from the ``<name>.json`` records in ``directory`` (under a file lock)."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / ".manifest.lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:   # not on POSIX: no lock
            pass
        records = _records(directory)
        manifest = {"generators": records,
                    "note": "written by scripts/train_course_generators.py; one record per <name>.pt"}
        tmp = directory / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, directory / MANIFEST)
    return records


def save_course_generator(name: str, model: nn.Module, info: dict[str, Any],
                          directory: str | os.PathLike | None = None, merge: bool = True) -> dict[str, Any]:
    """Write ``<name>.pt`` (fp32 state dict) and ``<name>.json`` (its record with the sha256); merge the manifest."""
    get_spec(name)
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    path = directory / f"{name}.pt"
    tmp = directory / f".{name}.pt.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    record = {**info, "name": name, "file": path.name, "sha256": file_hash(path), "bytes": path.stat().st_size,
              "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "config": _config_dict(model)}
    with open(directory / f"{name}.json", "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    if merge:
        merge_manifest(directory)
    return record


def _config_dict(model: nn.Module) -> dict[str, Any] | None:
    cfg = getattr(model, "config", None)
    return json.loads(json.dumps(asdict(cfg), default=str)) if cfg is not None and is_dataclass(cfg) else None


def read_manifest(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The records of ``manifest.json`` (name -> record); a missing manifest is an error naming the command."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {directory}: train the course's generators with "
                                f"`{TRAIN_COMMAND}` (or run it with --merge to rebuild the manifest)")
    with open(path) as f:
        return json.load(f)["generators"]


def course_generator_record(name: str, directory: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The manifest record of ``name`` (steps, batch size, ``train_seconds``, device, FID, ...).

    ``None`` for ``ddpm``/``ddim50``, whose training is described in ``scripts/train_diffusion_mnist.py``.
    """
    if not get_spec(name).stages:
        return None
    records = read_manifest(directory)
    if name not in records:
        raise FileNotFoundError(f"{MANIFEST} has no record of {name!r}: train it with `{TRAIN_COMMAND} --only {name}`")
    return records[name]


def load_course_generator(name: str, directory: str | os.PathLike | None = None,
                          device: str | torch.device = "cpu") -> nn.Module:
    """Load the trained module of ``name`` in eval mode, after checking its sha256 against the manifest.

    ``ddpm`` and ``ddim50`` load chapter 8's shipped U-Net
    (:func:`~aigc_lib.diffusion.pretrained.load_mnist_diffusion`, with its own checksum).

    Raises:
        FileNotFoundError: no manifest, no record of ``name``, or no weights file (the message names the command).
        aigc_lib.data.ChecksumError: the file differs from the one recorded.
    """
    spec = get_spec(name)
    if not spec.stages:
        from .diffusion.pretrained import load_mnist_diffusion
        if directory is None:
            return load_mnist_diffusion(device=device)
        return load_mnist_diffusion(Path(directory) / DDPM_WEIGHTS_PATH.name, device=device)
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    records = read_manifest(directory)
    command = f"`{TRAIN_COMMAND} --only {name}`"
    if name not in records:
        raise FileNotFoundError(f"{MANIFEST} in {directory} has no record of {name!r} (it has "
                                f"{', '.join(sorted(records)) or 'none'}): train it with {command}")
    rec = records[name]
    path = directory / rec["file"]
    if not path.is_file():
        raise FileNotFoundError(f"the weights of {name!r} ({path}) are missing: train them with {command}")
    got = file_hash(path)
    if got != rec["sha256"]:
        raise ChecksumError(f"sha256 of {path.name} is {got}, but {MANIFEST} records {rec['sha256']}: the file "
                            f"was changed or belongs to another run; train it again with {command}")
    model = spec.build()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


# ---------------------------------------------------------------- sampling
def _check_labels(spec: GeneratorSpec, n: int, labels: torch.Tensor | None) -> torch.Tensor | None:
    if labels is None:
        return torch.arange(n) % NUM_CLASSES if spec.labels == "required" else None
    if spec.labels == "none":
        raise ValueError(f"{spec.name!r} is unconditional: it takes no labels (conditional models: "
                         f"{', '.join(n for n, s in REGISTRY.items() if s.conditional)})")
    check_tensor(labels, "labels", ndim=1, kind="int", shape_hint=f"({n},) digits in 0..9")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one digit per image, got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= NUM_CLASSES):
        raise ValueError(f"labels must be digits in 0..{NUM_CLASSES - 1}, got values in "
                         f"{int(labels.min())}..{int(labels.max())}")
    return labels.long()


@torch.no_grad()
def sample(name: str, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
           device: str | torch.device = "cpu", model: nn.Module | None = None, guidance_scale: float | None = None,
           num_steps: int | None = None) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` in [0, 1] from the course generator ``name``.

    Args:
        n: number of images.
        labels: ``(n,)`` digits for a conditional model (see the module notes for the defaults).
        generator: a CPU ``torch.Generator`` for all the noise (the same seed gives the same
            samples on any device, up to floating-point differences).
        device: where the model runs (the images come back on the CPU).
        model: the trained module (default: :func:`load_course_generator`); a fresh
            :func:`build_generator` module works too (noise-like samples).
        guidance_scale: classifier-free guidance for diffusion models when labels are given
            (default :data:`DEFAULT_GUIDANCE`; 1: the plain conditional model).
        num_steps: override the sampler's steps (DDIM/Euler/latent DDIM; for ``ddpm``, ancestral
            DDPM always runs all 1,000 steps, so it is an error).
    """
    spec = get_spec(name)
    n = check_int(n, "n", min=1)
    y = _check_labels(spec, n, labels)
    if guidance_scale is not None:
        if spec.labels != "guidance":
            raise ValueError(f"guidance_scale applies to the diffusion models only, not to {name!r}")
        guidance_scale = check_float(guidance_scale, "guidance_scale", min=0.0)
    scale = DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale
    num_steps = check_int(num_steps, "num_steps", min=1, allow_none=True)
    if num_steps is not None and (name == "ddpm" or spec.labels != "guidance"):
        raise ValueError(f"num_steps applies to ddim50, flow and latent only, not to {name!r}")
    if model is None:
        model = load_course_generator(name, device=device)
    model = model.to(device).eval()
    y_dev = None if y is None else y.to(device)
    shape = (n, *IMAGE_SHAPE)
    if name in ("mlp_gan", "dcgan", "wgan_gp", "cond_gan"):
        z = torch.randn(n, model.latent_dim, generator=generator).to(device)
        out = (model(z, y_dev) + 1) / 2
    elif name in ("vae", "cond_vae"):
        z = torch.randn(n, model.latent_dim, generator=generator).to(device)
        out = torch.sigmoid(model.decode(z, y_dev))
    elif name == "latent":
        out = model.sample(n, labels=y, guidance_scale=scale if y is not None else 1.0, num_steps=num_steps or 50,
                           generator=generator)
    else:
        if y is None:
            fn = lambda x, t: model(x, t)                                    # noqa: E731  (null label)
        elif scale == 1.0:
            fn = lambda x, t: model(x, t, y_dev)                             # noqa: E731
        else:
            fn = classifier_free_guidance(model, y_dev, scale)
        if name == "ddpm":
            x = ddpm_sample(fn, mnist_schedule(), shape, generator=generator, device=device, clip_x0=1.0)
        elif name == "ddim50":
            x = ddim_sample(fn, mnist_schedule(), shape, num_steps=num_steps or 50, generator=generator,
                            device=device, clip_x0=1.0)
        else:
            x = flow_sample(fn, shape, num_steps=num_steps or 50, generator=generator, device=device)
        out = to_image_range(x)
    return out.clamp(0, 1).float().cpu()


__all__ = ["REGISTRY", "NAMES", "TRAINABLE", "WEIGHTS_DIR", "TRAIN_COMMAND", "DEFAULT_GUIDANCE", "GeneratorSpec",
           "Stage", "get_spec", "build_generator", "training_setup", "train_course_generator", "save_course_generator",
           "merge_manifest", "read_manifest", "course_generator_record", "load_course_generator", "sample"]
