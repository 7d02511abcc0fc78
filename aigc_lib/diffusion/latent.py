"""Latent diffusion in miniature (Rombach et al., 2022): diffuse in an autoencoder's latent space, then decode.

Two stages, each trained by :class:`aigc_lib.Trainer`:

1. **Autoencoder.** Chapter 7's :class:`~aigc_lib.vae.models.VAE` (an MLP with one hidden
   layer, Bernoulli decoder) maps a digit ``(B, 1, 28, 28)`` to ``Z`` numbers.
   We use the *posterior mean* ``mu(x)`` ``(B, Z)`` as the latent: a
   deterministic code. This is our choice: Rombach et al.'s code (and the
   ``diffusers`` training scripts) draw a *sample* of the posterior
   (``encoder_posterior.sample()``, ``latent_dist.sample()``); with their tiny
   KL weight the two are close. Train it with :func:`make_autoencoder_task` (a
   :class:`~aigc_lib.vae.models.VAETask`). Why a VAE and not a plain autoencoder: the
   KL term keeps the codes in a compact, roughly Gaussian cloud without holes
   far from the origin, which is an easy target for the second stage; and it
   reuses chapter 7's model unchanged. (A plain autoencoder's codes can sit at
   any scale and spread along thin curves.)
2. **Denoiser.** A class-conditional :class:`~aigc_lib.diffusion.mlp.MLPDenoiser`
   (labels dropped to the null class with probability ``label_dropout``, for
   classifier-free guidance) is trained with the DDPM ε-loss on the scaled
   latents ``z = scale * mu(x)`` while the autoencoder stays frozen
   (:class:`LatentDiffusionTask`).

**Why scale the latents.** The noise schedule assumes data of about unit
variance: ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps`` reaches pure noise at the
last step only if ``x_0`` is not much larger than ``eps``, and the
signal-to-noise ratio at each step is the schedule's only if ``x_0`` has
variance 1. The encoder's means have some other spread (smaller than 1 for a
VAE, whose KL pulls them to 0). Like Rombach et al.'s ``scale_factor``
(``1 / std`` of the latents, one number for all coordinates, which they
estimate on the first training batch), we multiply the latents by
``1 / std(mu)`` measured once on all the training images
(:meth:`LatentDiffusion.fit_latent_scale`), and divide by it before decoding.
One number, not one per coordinate: coordinates the VAE does not use have
tiny variance, and blowing them up to unit variance would make the denoiser
model pure noise.

Sampling: DDIM (or ancestral DDPM) in latent space from ``N(0, I)``, then
``decode``: pixel probabilities ``(n, 1, 28, 28)`` in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, check_tensor
from ..core.task import Task
from ..vae.models import VAE, VAEConfig, VAETask
from .ddim import ddim_sample
from .ddpm import ddpm_loss, ddpm_sample
from .forward import check_finite
from .guidance import classifier_free_guidance, drop_labels
from .mlp import MLPDenoiser, MLPDenoiserConfig
from .schedules import NoiseSchedule, make_schedule


@dataclass
class LatentDiffusionConfig:
    """Sizes of a :class:`LatentDiffusion` model.

    Attributes:
        image_shape: shape of one image, ``(C, H, W)``; pixels in [0, 1].
        ae_hidden: hidden layer widths of the VAE (chapter 7: ``(400,)``).
        latent_dim: ``Z``, the size of the latent (the denoiser's data).
        ae_dropout: dropout of the VAE during its training.
        hidden, depth, time_dim: sizes of the MLP denoiser.
        num_classes: 0 for an unconditional denoiser; ``C > 0`` adds a null class for guidance.
        schedule: ``"cosine"`` or ``"linear"``.
        num_timesteps: ``T`` of the noise schedule.
    """

    image_shape: tuple[int, ...] = (1, 28, 28)
    ae_hidden: tuple[int, ...] = (400,)
    latent_dim: int = 16
    ae_dropout: float = 0.1
    hidden: int = 256
    depth: int = 4
    time_dim: int = 64
    num_classes: int = 10
    schedule: str = "cosine"
    num_timesteps: int = 1000

    def __post_init__(self) -> None:
        self.image_shape = tuple(self.image_shape)
        self.ae_hidden = tuple(self.ae_hidden)
        self.latent_dim = check_int(self.latent_dim, "latent_dim", min=1)
        self.num_classes = check_int(self.num_classes, "num_classes", min=0, note=" (0: unconditional)")
        self.num_timesteps = check_int(self.num_timesteps, "num_timesteps", min=1)
        check_float(self.ae_dropout, "ae_dropout", min=0.0, max=1.0, max_open=True)
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {self.schedule!r}")
        # the sub-configs check the remaining sizes
        self.vae_config()
        self.denoiser_config()

    def vae_config(self) -> VAEConfig:
        """The (unconditional) VAE of stage 1."""
        return VAEConfig(image_shape=self.image_shape, hidden=self.ae_hidden, latent_dim=self.latent_dim,
                         dropout=self.ae_dropout)

    def denoiser_config(self) -> MLPDenoiserConfig:
        """The MLP denoiser of stage 2, on vectors ``(Z,)``."""
        return MLPDenoiserConfig(data_shape=(self.latent_dim,), hidden=self.hidden, depth=self.depth,
                                 time_dim=self.time_dim, num_classes=self.num_classes)


class LatentDiffusion(nn.Module):
    """A VAE, a latent scale and a latent denoiser: ``encode``, ``decode``, ``sample``.

    Shapes: images ``(B, *image_shape)`` in [0, 1] <-> latents ``(B, Z)`` (scaled to unit variance).

    Example::

        ldm = LatentDiffusion(LatentDiffusionConfig(latent_dim=16))
        # stage 1: Trainer(...).fit(make_autoencoder_task(ldm), TensorBatches(images, batch_size=100))
        ldm.fit_latent_scale(images)
        # stage 2: Trainer(...).fit(LatentDiffusionTask(ldm), TensorBatches(images, labels, batch_size=256))
        digits = ldm.sample(16, labels=torch.arange(16) % 10, guidance_scale=2.0)   # (16, 1, 28, 28)
    """

    def __init__(self, config: LatentDiffusionConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LatentDiffusionConfig()
        self.autoencoder = VAE(cfg.vae_config())
        self.denoiser = MLPDenoiser(cfg.denoiser_config())
        self.schedule: NoiseSchedule = make_schedule(cfg.schedule, cfg.num_timesteps)
        self.num_classes = cfg.num_classes
        self.latent_dim = cfg.latent_dim
        #: multiply the encoder's means by this (0 until :meth:`fit_latent_scale` ran); saved in the state dict.
        self.register_buffer("latent_scale", torch.zeros(()))

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` with a clear error when the state is of another configuration."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict of tensors (from LatentDiffusion.state_dict()), "
                            f"got {type(state_dict).__name__}")
        w = state_dict.get("denoiser.inp.weight")
        if isinstance(w, torch.Tensor) and w.ndim == 2 and w.shape[1] != self.latent_dim:
            raise ValueError(f"the state dict is of a LatentDiffusion with latent_dim={w.shape[1]}, but this "
                             f"model has latent_dim={self.latent_dim}: build it with the same LatentDiffusionConfig")
        mine = self.state_dict()
        wrong = [k for k, v in state_dict.items() if k in mine and isinstance(v, torch.Tensor)
                 and v.shape != mine[k].shape]
        if wrong:
            k = wrong[0]
            raise ValueError(f"the state dict does not fit this LatentDiffusion ({self.config}): {k} has shape "
                             f"{tuple(state_dict[k].shape)}, expected {tuple(mine[k].shape)}")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def scale_fitted(self) -> bool:
        return float(self.latent_scale) > 0

    def _require_scale(self) -> float:
        if not self.scale_fitted:
            raise RuntimeError("the latent scale is not set: call fit_latent_scale(train_images) after training "
                               "the autoencoder (or load a state dict that holds it)")
        return float(self.latent_scale)

    def _check_images(self, x: Any, name: str = "images") -> torch.Tensor:
        shape = self.config.image_shape
        check_tensor(x, name, ndim=1 + len(shape), kind="float", shape_hint=f"(B, {', '.join(map(str, shape))})")
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        check_finite(x, name)
        return x

    @torch.no_grad()
    def encoder_means(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Unscaled posterior means ``mu(x)`` ``(B, Z)`` of images ``(B, *image_shape)`` in [0, 1] (eval mode)."""
        self._check_images(images)
        batch_size = check_int(batch_size, "batch_size", min=1)
        was_training = self.autoencoder.training
        self.autoencoder.eval()
        try:
            device = _device_of(self.autoencoder)
            return torch.cat([self.autoencoder.encode(images[i:i + batch_size].to(device))[0]
                              for i in range(0, len(images), batch_size)])
        finally:
            self.autoencoder.train(was_training)

    def fit_latent_scale(self, images: torch.Tensor, batch_size: int = 500) -> float:
        """Set ``latent_scale = 1 / std(mu(x))`` (one number over all coordinates) and return it.

        Args:
            images: training images ``(N, *image_shape)`` in [0, 1], ``N >= 2``.
        """
        self._check_images(images)
        if len(images) < 2:
            raise ValueError(f"images must hold at least 2 images to measure a spread, got {len(images)}")
        std = float(self.encoder_means(images, batch_size).std())
        if not std > 0:
            raise ValueError(f"the encoder maps all images to the same latent (std {std}): train the autoencoder first")
        self.latent_scale.fill_(1.0 / std)
        return 1.0 / std

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, *image_shape)`` in [0, 1] -> scaled latents ``latent_scale * mu(x)`` ``(B, Z)`` (no gradient)."""
        scale = self._require_scale()
        return self.encoder_means(images) * scale

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``(B, Z)`` -> pixel probabilities ``(B, *image_shape)`` in [0, 1] (eval mode, no gradient)."""
        scale = self._require_scale()
        check_tensor(z, "z", ndim=2, kind="float", shape_hint=f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        was_training = self.autoencoder.training
        self.autoencoder.eval()
        try:
            return torch.sigmoid(self.autoencoder.decode(z.to(_device_of(self.autoencoder)) / scale))
        finally:
            self.autoencoder.train(was_training)

    def _denoiser_fn(self, labels: torch.Tensor | None, guidance_scale: float):
        if labels is None:
            return lambda x, t: self.denoiser(x, t)
        if not self.num_classes:
            raise ValueError("this latent model is unconditional (num_classes=0) but labels were given")
        if guidance_scale == 1.0:
            return lambda x, t: self.denoiser(x, t, labels)
        return classifier_free_guidance(self.denoiser, labels, guidance_scale)

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, guidance_scale: float = 1.0, num_steps: int = 50,
               eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``(n, *image_shape)`` in [0, 1]: latent DDIM (``num_steps``, ``eta``) then decode.

        Args:
            labels: ``(n,)`` digits in ``0 .. num_classes - 1``, or ``None`` (the null class: unconditional).
            guidance_scale: classifier-free guidance ``w >= 0`` (1: the plain conditional model).
            num_steps: DDIM steps; ``num_steps = T`` with ``eta = 1`` runs ancestral DDPM sampling instead.
            generator: a CPU generator for the noise.
        """
        n = check_int(n, "n", min=1)
        num_steps = check_int(num_steps, "num_steps", min=1, max=self.schedule.num_timesteps)
        guidance_scale = check_float(guidance_scale, "guidance_scale", min=0.0)
        if labels is not None:
            check_tensor(labels, "labels", ndim=1, kind="int", shape_hint=f"({n},)")
            if labels.shape[0] != n:
                raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
            if self.num_classes and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got values in "
                                 f"{int(labels.min())}..{int(labels.max())}")
        self._require_scale()
        device = _device_of(self.denoiser)
        was_training = self.training
        self.eval()
        try:
            fn = self._denoiser_fn(None if labels is None else labels.to(device), guidance_scale)
            shape = (n, self.latent_dim)
            if num_steps == self.schedule.num_timesteps and eta == 1.0:
                z = ddpm_sample(fn, self.schedule, shape, generator=generator, device=device)
            else:
                z = ddim_sample(fn, self.schedule, shape, num_steps=num_steps, eta=eta, generator=generator,
                                device=device)
            return self.decode(z)
        finally:
            self.train(was_training)


def _device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (the Trainer may move the autoencoder and the denoiser apart)."""
    return next(module.parameters()).device


def make_autoencoder_task(model: LatentDiffusion, beta: float = 1.0, lr: float = 2e-3,
                          kl_warmup_steps: int = 200) -> VAETask:
    """Stage 1: chapter 7's :class:`~aigc_lib.vae.models.VAETask` on ``model.autoencoder`` (batches: images in [0, 1])."""
    if not isinstance(model, LatentDiffusion):
        raise TypeError(f"model must be a LatentDiffusion, got {type(model).__name__}")
    return VAETask(model.autoencoder, beta=beta, lr=lr, kl_warmup_steps=kl_warmup_steps)


class LatentDiffusionTask(Task):
    """Stage 2: the DDPM ε-loss on scaled latents; only the denoiser learns.

    Batches: images ``(B, *image_shape)`` in [0, 1], or ``(images, labels)`` pairs
    (needed by a conditional denoiser). The frozen autoencoder always runs in
    evaluation mode (no dropout) and without gradients.

    Args:
        model: a :class:`LatentDiffusion` whose autoencoder is trained and whose scale is fitted.
        lr, weight_decay: AdamW settings of the denoiser.
        label_dropout: probability of replacing a label by the null class (classifier-free guidance).

    Logged metric: ``loss`` (mean squared error of the noise prediction on latents).
    """

    def __init__(self, model: LatentDiffusion, lr: float = 1e-3, weight_decay: float = 0.0,
                 label_dropout: float = 0.1) -> None:
        super().__init__()
        if not isinstance(model, LatentDiffusion):
            raise TypeError(f"model must be a LatentDiffusion, got {type(model).__name__}")
        model._require_scale()
        self.model = model
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.label_dropout = check_float(label_dropout, "label_dropout", min=0.0, max=1.0)

    def config_signature(self) -> dict[str, Any]:
        """The default signature plus the fitted ``latent_scale`` (6 significant digits) and the schedule."""
        sig = super().config_signature()
        sig["latent_scale"] = float(f"{float(self.model.latent_scale):.6g}")
        sig.update({f"schedule.{k}": v for k, v in self.model.schedule.config_signature().items()})
        return sig

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.denoiser.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def train(self, mode: bool = True) -> "LatentDiffusionTask":
        super().train(mode)
        self.model.autoencoder.eval()   # frozen: never dropout
        return self

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> torch.Tensor:
        if isinstance(batch, (tuple, list)):
            x, y = batch[0], batch[1]
        else:
            x, y = batch, None
        z = self.model.encode(x).float()   # fp32 latents even under bf16 autocast
        if not self.model.num_classes:
            return ddpm_loss(lambda zt, t: self.model.denoiser(zt, t), self.model.schedule, z)
        if y is None:
            raise ValueError(f"this latent model is class-conditional (num_classes={self.model.num_classes}): "
                             f"batches must be (images, labels) pairs")
        if self.training and self.label_dropout > 0:
            y = drop_labels(y, self.label_dropout, self.model.num_classes)
        return ddpm_loss(lambda zt, t: self.model.denoiser(zt, t, y), self.model.schedule, z)
