"""Generators and discriminators for generative adversarial networks (GANs).

A GAN (Goodfellow et al., 2014) has two networks:

* the **generator** ``G`` maps a random *latent* vector ``z`` of shape
  ``(B, latent_dim)`` to a data sample, e.g. an image ``(B, C, H, W)``;
* the **discriminator** ``D`` maps a sample to one *logit* per example
  ``(B,)``: large when it thinks the sample is real, small when it thinks the
  generator made it. In a WGAN the same network is called the *critic* and
  its output is a score, not a logit.

Two families live here, each with one dataclass config shared by ``G`` and ``D``:

* :class:`MLPGANConfig`: fully connected networks, for 2-D toy points
  (``data_shape=(2,)``) or flattened MNIST digits (``data_shape=(1, 28, 28)``);
* :class:`DCGANConfig`: the convolutional networks of DCGAN (Radford et al.,
  2016): transposed convolutions with stride 2 instead of up-sampling, batch
  norm in the generator and discriminator (not in the first discriminator
  layer nor the generator's output), ReLU in ``G``, LeakyReLU(0.2) in ``D``,
  ``tanh`` output, weights drawn from N(0, 0.02).

Setting ``n_classes > 0`` makes both networks *class-conditional* (Mirza &
Osindero, 2014): they also take a label ``y`` of shape ``(B,)``. The
generator reads a one-hot code of ``y`` next to ``z``; the discriminator reads
it as extra input (one constant channel per class for images, plus a
projection term in :class:`DCGANDiscriminator`).

Image models produce and expect values in ``[-1, 1]``. Convert MNIST images
from ``[0, 1]`` with ``x * 2 - 1`` and back with ``(x + 1) / 2``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_choice, check_finite_tensor, check_float, check_generator, check_int, check_tensor


def check_latent(z: torch.Tensor, latent_dim: int) -> None:
    """Raise ``ValueError`` unless ``z`` has shape ``(B, latent_dim)``, ``TypeError`` unless it is floating point."""
    check_tensor(z, "z", shape_hint=f"(B, {latent_dim}) latent vectors")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"latent vectors must have shape (B, {latent_dim}), got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise TypeError(f"latent vectors must be floating point (e.g. from torch.randn), got {z.dtype} (z)")
    if z.shape[0] == 0:
        raise ValueError(f"z must hold at least one latent vector, got shape {tuple(z.shape)}")
    check_finite_tensor(z, "z")


def check_samples(x: torch.Tensor, data_shape: tuple[int, ...], who: str) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(B, *data_shape)``, ``TypeError`` unless it is floating point."""
    check_tensor(x, "x", shape_hint=f"(B, {', '.join(map(str, data_shape))}) samples of {who}")
    if tuple(x.shape[1:]) != tuple(data_shape) or x.ndim != len(data_shape) + 1:
        expected = "(B, " + ", ".join(str(s) for s in data_shape) + ")"
        hint = ""
        if len(data_shape) == 3 and x.ndim == 4:
            hint = (f": {who} was built for {data_shape[0]} channel(s) of {data_shape[1]}x{data_shape[2]} pixels, "
                    f"the input has {x.shape[1]} channel(s) of {x.shape[2]}x{x.shape[3]}")
        raise ValueError(f"{who} expects samples of shape {expected}, got {tuple(x.shape)}{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{who} expects at least one sample x, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{who} expects floating-point samples, got {x.dtype}; "
                        f"convert uint8 images to [-1, 1] with x.float() / 127.5 - 1")


def check_labels(y: torch.Tensor | None, n_classes: int, batch_size: int, who: str) -> None:
    """Raise a clear error unless ``y`` fits a model with ``n_classes`` classes (0: unconditional)."""
    if n_classes == 0:
        if y is not None:
            raise ValueError(f"{who} is unconditional (n_classes=0) but got labels")
        return
    if y is None:
        raise ValueError(f"{who} is class-conditional (n_classes={n_classes}) and needs labels y of shape (B,)")
    check_tensor(y, "y", shape_hint=f"({batch_size},) labels of {who}")
    if y.ndim != 1 or y.shape[0] != batch_size:
        raise ValueError(f"{who}: labels must have shape ({batch_size},), got {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{who}: labels must be integers (torch.long), got {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0].item()
        raise IndexError(f"{who}: labels must be in 0..{n_classes - 1}, got {bad}")


def one_hot(y: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B,)`` integer labels to ``(B, n_classes)`` one-hot codes."""
    return F.one_hot(y, n_classes).to(dtype)


def sample_latent(n: int, latent_dim: int, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n, latent_dim)`` standard normal latent vectors (the prior p(z))."""
    n = check_int(n, "n", min=1)
    latent_dim = check_int(latent_dim, "latent_dim", min=1)
    check_generator(generator)
    return torch.randn(n, latent_dim, generator=generator).to(device)


# ----------------------------------------------------------------------------- MLP
@dataclass
class MLPGANConfig:
    """Fully connected generator and discriminator.

    Attributes:
        data_shape: shape of one sample: ``(2,)`` for 2-D points, ``(1, 28, 28)`` for MNIST.
        latent_dim: width of the latent vector ``z``.
        hidden_dim: width of each hidden layer.
        n_hidden: number of hidden layers in each network.
        n_classes: 0 for an unconditional GAN, else the number of labels.
        output: generator output: ``"tanh"`` (images in [-1, 1]) or ``"linear"`` (points).
        d_dropout: dropout in the discriminator's hidden layers.
    """

    data_shape: tuple[int, ...] = (2,)
    latent_dim: int = 16
    hidden_dim: int = 128
    n_hidden: int = 3
    n_classes: int = 0
    output: str = "linear"
    d_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.data_shape, (tuple, list)) or not self.data_shape or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.data_shape):
            raise ValueError(f"data_shape must be a tuple of positive integer sizes such as (2,) or (1, 28, 28), "
                             f"got {self.data_shape!r}")
        self.data_shape = tuple(int(s) for s in self.data_shape)
        check_choice(self.output, "output", ("tanh", "linear"))
        for name in ("latent_dim", "hidden_dim", "n_hidden"):
            setattr(self, name, check_int(getattr(self, name), name, min=1))
        self.n_classes = check_int(self.n_classes, "n_classes", min=0, note=" (0: unconditional)")
        check_float(self.d_dropout, "d_dropout", min=0.0, max=1.0, max_open=True)

    @property
    def data_dim(self) -> int:
        return math.prod(self.data_shape)


class _GANNetworkBase(nn.Module):
    """Read-only views of ``self.config`` shared by every generator and discriminator."""

    config: MLPGANConfig | DCGANConfig

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    @property
    def n_classes(self) -> int:
        return self.config.n_classes


class _GeneratorBase(_GANNetworkBase):
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def output_range(self) -> tuple[float, float] | None:
        """``(-1, 1)`` for a ``tanh`` output (every DCGAN generator), ``None`` for a linear one."""
        return (-1.0, 1.0) if getattr(self.config, "output", "tanh") == "tanh" else None


class MLPGenerator(_GeneratorBase):
    """``z (B, latent_dim)`` [+ labels ``(B,)``] -> samples ``(B, *data_shape)``."""

    def __init__(self, config: MLPGANConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.latent_dim + config.n_classes
        for _ in range(config.n_hidden):
            layers += [nn.Linear(width, config.hidden_dim), nn.ReLU()]
            width = config.hidden_dim
        layers.append(nn.Linear(width, config.data_dim))
        if config.output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_latent(z, self.config.latent_dim)
        check_labels(y, self.config.n_classes, z.shape[0], "MLPGenerator")
        h = z if y is None else torch.cat([z, one_hot(y, self.config.n_classes, z.dtype)], dim=1)
        return self.net(h).view(z.shape[0], *self.config.data_shape)


class MLPDiscriminator(_GANNetworkBase):
    """Samples ``(B, *data_shape)`` [+ labels ``(B,)``] -> logits ``(B,)``."""

    def __init__(self, config: MLPGANConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.data_dim + config.n_classes
        for _ in range(config.n_hidden):
            layers += [nn.Linear(width, config.hidden_dim), nn.LeakyReLU(0.2)]
            if config.d_dropout > 0:
                layers.append(nn.Dropout(config.d_dropout))
            width = config.hidden_dim
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_samples(x, self.config.data_shape, "MLPDiscriminator")
        check_labels(y, self.config.n_classes, x.shape[0], "MLPDiscriminator")
        h = x.flatten(1)
        if y is not None:
            h = torch.cat([h, one_hot(y, self.config.n_classes, h.dtype)], dim=1)
        return self.net(h).squeeze(1)


# --------------------------------------------------------------------------- DCGAN
@dataclass
class DCGANConfig:
    """Convolutional generator and discriminator for small square images (DCGAN guidelines).

    Attributes:
        image_size: height = width; a multiple of 4 (the networks change the size twice by 2).
        channels: image channels (1 for MNIST).
        latent_dim: width of ``z``.
        base_channels: feature maps of the widest layer at full resolution ``b``;
            the generator goes ``z -> (2b, s/4, s/4) -> (b, s/2, s/2) -> (C, s, s)``.
        n_classes: 0 for unconditional, else the number of labels.
        d_norm: normalisation in the discriminator: ``"batch"`` (DCGAN),
            ``"layer"`` (for a WGAN-GP critic, whose gradient penalty is per
            example, so batch norm must not mix examples) or ``"none"``.
    """

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 64
    base_channels: int = 64
    n_classes: int = 0
    d_norm: str = "batch"

    def __post_init__(self) -> None:
        for name in ("image_size", "channels", "latent_dim", "base_channels"):
            setattr(self, name, check_int(getattr(self, name), name, min=1))
        self.n_classes = check_int(self.n_classes, "n_classes", min=0, note=" (0: unconditional)")
        if self.image_size < 4 or self.image_size % 4 != 0:
            raise ValueError(f"image_size must be a positive multiple of 4, got {self.image_size}")
        if self.d_norm not in {"batch", "layer", "none"}:
            raise ValueError(f"d_norm must be 'batch', 'layer' or 'none', got {self.d_norm!r}")
        if self.channels < 1 or self.latent_dim < 1 or self.base_channels < 1 or self.n_classes < 0:
            raise ValueError(f"need channels, latent_dim, base_channels >= 1 and n_classes >= 0, got {self}")

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight initialisation: N(0, 0.02) for (transposed) convolutions and linear layers,
    N(1, 0.02) for normalisation scales, zero biases. Use with ``model.apply(dcgan_init)``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(_GeneratorBase):
    """``z (B, latent_dim)`` [+ labels ``(B,)``] -> images ``(B, C, S, S)`` in [-1, 1].

    Layers: linear to ``(2b, S/4, S/4)`` + BN + ReLU; transposed conv (4x4, stride 2)
    to ``(b, S/2, S/2)`` + BN + ReLU; transposed conv to ``(C, S, S)`` + tanh.
    """

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        b, s = config.base_channels, config.image_size // 4
        self.project = nn.Sequential(
            nn.Linear(config.latent_dim + config.n_classes, 2 * b * s * s, bias=False),
            nn.BatchNorm1d(2 * b * s * s), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * b, b, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
            nn.ConvTranspose2d(b, config.channels, 4, stride=2, padding=1), nn.Tanh())
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_latent(z, self.config.latent_dim)
        check_labels(y, self.config.n_classes, z.shape[0], "DCGANGenerator")
        if y is not None:
            z = torch.cat([z, one_hot(y, self.config.n_classes, z.dtype)], dim=1)
        s = self.config.image_size // 4
        h = self.project(z).view(z.shape[0], 2 * self.config.base_channels, s, s)
        return self.upsample(h)


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # normalises over (C, H, W) of each example
    return nn.Identity()


class DCGANDiscriminator(_GANNetworkBase):
    """Images ``(B, C, S, S)`` [+ labels ``(B,)``] -> logits ``(B,)``.

    Layers: conv (4x4, stride 2) to ``(b, S/2, S/2)`` + LeakyReLU (no norm);
    conv to ``(2b, S/4, S/4)`` + norm + LeakyReLU; linear to one logit.
    A conditional discriminator sees the label twice: as ``n_classes`` extra
    constant input channels (channel ``k`` is 1 where the label is ``k``; Mirza
    & Osindero, 2014), and through a *projection* term added to the logit,
    ``<embed(y), h>`` with ``h`` the flattened features (Miyato & Koyama, 2018),
    which makes the label much harder for the generator to ignore.
    """

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        b, s = config.base_channels, config.image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(config.channels + config.n_classes, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(b, 2 * b, 4, stride=2, padding=1, bias=config.d_norm == "none"),
            _norm2d(config.d_norm, 2 * b), nn.LeakyReLU(0.2))
        self.head = nn.Linear(2 * b * s * s, 1)
        self.embed = nn.Embedding(config.n_classes, 2 * b * s * s) if config.n_classes > 0 else None
        self.apply(dcgan_init)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_samples(x, self.config.data_shape, "DCGANDiscriminator")
        check_labels(y, self.config.n_classes, x.shape[0], "DCGANDiscriminator")
        if y is not None:
            maps = one_hot(y, self.config.n_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, maps], dim=1)
        h = self.features(x).flatten(1)
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(y) * h).sum(1)
        return logits


@torch.no_grad()
def generate(generator: nn.Module, n: int, labels: torch.Tensor | None = None, seed: int | None = None,
             z: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``n`` samples ``(n, *data_shape)`` from ``generator`` in evaluation mode.

    Args:
        labels: ``(n,)`` labels for a conditional generator.
        seed: seed of the latent vectors (``None``: the global generator).
        z: give the latent vectors ``(n, latent_dim)`` yourself instead.
    """
    if not isinstance(generator, nn.Module) or not hasattr(generator, "latent_dim"):
        raise TypeError(f"generator must be a GAN generator (an nn.Module with latent_dim), got "
                        f"{type(generator).__name__}")
    n = check_int(n, "n", min=1)
    seed = check_int(seed, "seed", min=0, allow_none=True)
    if z is not None:
        check_latent(z, generator.latent_dim)
        if z.shape[0] != n:
            raise ValueError(f"z must hold n={n} latent vectors, got shape {tuple(z.shape)}")
    if labels is not None:
        check_tensor(labels, "labels", shape_hint=f"({n},)")
    device = next(generator.parameters()).device
    if z is None:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = sample_latent(n, generator.latent_dim, g, device)
    was_training = generator.training
    generator.eval()
    try:
        return generator(z.to(device), None if labels is None else labels.to(device))
    finally:
        generator.train(was_training)
