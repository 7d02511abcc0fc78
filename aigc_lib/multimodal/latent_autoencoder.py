"""A small convolutional autoencoder with a *spatial* latent (Rombach et al., 2022, section 3.1).

Chapter 9's latent model squeezed a digit into one vector of 16 numbers. Stable
Diffusion keeps a small *image* instead: a ``(c, H/f, W/f)`` grid of latent
pixels, so that the denoiser can still be a U-Net and cross-attention still has
positions to attach words to ("at the top left"). Here ``f = 4``: a 28x28 digit
becomes a 4x7x7 latent (196 numbers, 4x fewer than the pixels).

Training: binary cross-entropy of the decoded pixel logits plus a small penalty
``latent_penalty * mean(z^2)`` that keeps the latents near the origin (Rombach et
al. use a tiny KL term for the same purpose). The latent scale for the denoiser is
fitted afterwards (:meth:`aigc_lib.multimodal.text_to_image.TextToImage.fit_latent_scale`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_float, check_int, check_tensor
from ..core.task import Task


@dataclass
class ConvAutoencoderConfig:
    """Sizes of a :class:`ConvAutoencoder`.

    Attributes:
        image_channels: 1 for MNIST.
        image_size: height = width; must be divisible by 4 (two stride-2 convolutions).
        hidden: channels after the first convolution (``2 * hidden`` after each down-sampling).
        latent_channels: ``c`` of the ``(c, image_size / 4, image_size / 4)`` latent.
    """

    image_channels: int = 1
    image_size: int = 28
    hidden: int = 32
    latent_channels: int = 4

    def __post_init__(self) -> None:
        for name in ("image_channels", "image_size", "hidden", "latent_channels"):
            check_int(getattr(self, name), name, min=1)
        if self.image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (the autoencoder halves it twice), "
                             f"got {self.image_size}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.latent_channels, self.image_size // 4, self.image_size // 4)


class ConvAutoencoder(nn.Module):
    """``encode``: images ``(B, C, S, S)`` in [0, 1] -> latents ``(B, c, S/4, S/4)``;
    ``decode``: latents -> pixel logits ``(B, C, S, S)`` (``sigmoid`` gives the image)."""

    def __init__(self, config: ConvAutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ConvAutoencoderConfig()
        h = c.hidden
        self.encoder = nn.Sequential(
            nn.Conv2d(c.image_channels, h, 3, padding=1), nn.SiLU(),
            nn.Conv2d(h, 2 * h, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * h, 2 * h, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * h, c.latent_channels, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(c.latent_channels, 2 * h, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * h, 2 * h, 4, stride=2, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * h, h, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(h, c.image_channels, 3, padding=1))

    def check_images(self, x: Any, name: str = "images") -> torch.Tensor:
        c = self.config
        shape = (c.image_channels, c.image_size, c.image_size)
        check_tensor(x, name, ndim=4, kind="float", shape_hint=f"(B, {', '.join(map(str, shape))})")
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"{name} must be (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.check_images(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        shape = self.config.latent_shape
        check_tensor(z, "z", ndim=4, kind="float", shape_hint=f"(B, {', '.join(map(str, shape))})")
        if tuple(z.shape[1:]) != shape:
            raise ValueError(f"latents must be (B, {', '.join(map(str, shape))}), got {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``(B, C, S, S)``."""
        return self.decode(self.encode(x))


class AutoencoderTask(Task):
    """Trains a :class:`ConvAutoencoder` on images ``(B, C, S, S)`` in [0, 1] (batches: images, or ``(images, ...)``).

    Loss: per-image binary cross-entropy (summed over pixels, averaged over the batch)
    + ``latent_penalty * mean(z^2)`` per image. Logged: ``loss``, ``bce``.
    """

    def __init__(self, model: ConvAutoencoder, lr: float = 2e-3, latent_penalty: float = 1e-2) -> None:
        super().__init__()
        if not isinstance(model, ConvAutoencoder):
            raise TypeError(f"model must be a ConvAutoencoder, got {type(model).__name__}")
        self.model = model
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.latent_penalty = check_float(latent_penalty, "latent_penalty", min=0.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.0)

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        z = self.model.encode(x)
        logits = self.model.decode(z)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        penalty = self.latent_penalty * z.pow(2).mean() * z[0].numel()
        return {"loss": bce + penalty, "bce": bce.detach()}
