"""VQ-VAE (van den Oord et al., 2017): an autoencoder whose latent grid holds *tokens*.

The encoder maps a ``(B, 1, 32, 32)`` image to a grid ``(B, D, 8, 8)`` of vectors; the
:class:`VectorQuantizer` replaces each vector by the nearest of ``K`` codebook vectors,
so the image becomes 64 integers in ``0 .. K-1``; the decoder draws the image again.

* **Straight-through gradient**: the forward pass uses the code ``e``, the backward pass
  copies the decoder's gradient to the encoder output ``z`` (``z + (e - z).detach()``).
* **Commitment loss** ``beta * ||z - sg(e)||^2`` keeps the encoder near its codes.
* **Codebook updates**: either a loss ``||sg(z) - e||^2`` (``ema_decay=None``), or
  exponential moving averages of the vectors assigned to each code (the paper's appendix).
* **Against collapse** (codes that are never chosen again): the codebook starts from
  encoder outputs of the first batch (``init="data"``), and codes whose average use falls
  below ``dead_threshold`` vectors per batch are restarted at random encoder outputs
  of the batch (``restart_dead=True``).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_bool, check_choice, check_float, check_int, check_tensor
from ..core.task import Task
from .checker import check_canvas_images


@dataclass
class VQVAEConfig:
    """Sizes and codebook settings of :class:`VQVAE`.

    Attributes:
        codebook_size: ``K`` codes.
        code_dim: ``D``, width of each code.
        hidden: channels of the conv layers.
        beta: weight of the commitment loss (the paper: 0.25).
        ema_decay: decay of the EMA codebook update; ``None`` learns the codebook with a loss instead.
        init: ``"data"`` (codes start as encoder outputs of the first training batch) or
            ``"random"`` (standard normal).
        restart_dead: move codes whose EMA use falls below ``dead_threshold`` to random encoder outputs.
        dead_threshold: average assignments per batch under which a code counts as dead.
    """

    codebook_size: int = 128
    code_dim: int = 16
    hidden: int = 32
    beta: float = 0.25
    ema_decay: float | None = 0.95
    init: str = "data"
    restart_dead: bool = True
    dead_threshold: float = 0.5

    def __post_init__(self) -> None:
        self.codebook_size = check_int(self.codebook_size, "codebook_size", min=2)
        self.code_dim = check_int(self.code_dim, "code_dim", min=1)
        self.hidden = check_int(self.hidden, "hidden", min=1)
        check_float(self.beta, "beta", min=0.0)
        check_float(self.ema_decay, "ema_decay", min=0.0, max=1.0, max_open=True, allow_none=True)
        check_choice(self.init, "init", ("data", "random"))
        check_bool(self.restart_dead, "restart_dead")
        check_float(self.dead_threshold, "dead_threshold", min=0.0)


class VectorQuantizer(nn.Module):
    """Nearest-code lookup with a straight-through gradient: ``(B, D, H, W) -> (B, D, H, W)``.

    ``forward`` returns ``(quantized, indices (B, H, W), loss)``; ``loss`` is the commitment
    loss (plus the codebook loss when ``ema_decay`` is None).
    """

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        codebook = torch.randn(c.codebook_size, c.code_dim)
        if c.ema_decay is None:
            self.codebook = nn.Parameter(codebook)
        else:
            self.register_buffer("codebook", codebook)
            self.register_buffer("cluster_size", torch.ones(c.codebook_size))
            self.register_buffer("embed_sum", codebook.clone())
        self.register_buffer("usage", torch.full((c.codebook_size,), float(c.dead_threshold) + 1.0))
        self.register_buffer("initialised", torch.tensor(c.init == "random"))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index ``(N,)`` of the nearest code (squared Euclidean distance) for vectors ``(N, D)``."""
        d = z.pow(2).sum(1, keepdim=True) - 2 * z @ self.codebook.T + self.codebook.pow(2).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def _data_init(self, z: torch.Tensor) -> None:
        pick = torch.randint(0, len(z), (self.config.codebook_size,), device=z.device)
        self.codebook.data.copy_(z[pick] + 0.01 * torch.randn_like(z[pick]))
        if self.config.ema_decay is not None:
            self.embed_sum.copy_(self.codebook)
            self.cluster_size.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, z: torch.Tensor, idx: torch.Tensor) -> None:
        c = self.config
        counts = torch.bincount(idx, minlength=c.codebook_size).float()
        self.usage.mul_(0.9).add_(0.1 * counts)
        if c.ema_decay is not None:
            sums = torch.zeros_like(self.embed_sum).index_add_(0, idx, z)
            self.cluster_size.mul_(c.ema_decay).add_((1 - c.ema_decay) * counts)
            self.embed_sum.mul_(c.ema_decay).add_((1 - c.ema_decay) * sums)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + 1e-5) / (n + c.codebook_size * 1e-5) * n   # Laplace smoothing
            self.codebook.copy_(self.embed_sum / smoothed[:, None])
        if c.restart_dead:
            dead = (self.usage < c.dead_threshold).nonzero().squeeze(1)
            if len(dead):
                new = z[torch.randint(0, len(z), (len(dead),), device=z.device)]
                self.codebook.data[dead] = new
                self.usage[dead] = c.dead_threshold + 1.0
                if c.ema_decay is not None:
                    self.embed_sum[dead] = new
                    self.cluster_size[dead] = 1.0

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        check_tensor(z, "z", ndim=4, kind="float", shape_hint="(B, D, H, W)")
        b, d, h, w = z.shape
        if d != self.config.code_dim:
            raise ValueError(f"z has {d} channels, the codebook holds vectors of {self.config.code_dim}")
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        if self.training and not bool(self.initialised):
            self._data_init(flat.detach())
        idx = self.nearest(flat.detach())
        e = self.codebook[idx]
        loss = self.config.beta * F.mse_loss(flat, e.detach())
        if self.config.ema_decay is None:
            loss = loss + F.mse_loss(e, flat.detach())
        if self.training:
            self._update(flat.detach(), idx)
        quantized = flat + (e - flat).detach()                 # straight-through
        return quantized.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


class VQVAE(nn.Module):
    """``(B, 1, 32, 32)`` in [0, 1] -> tokens ``(B, 8, 8)`` in ``0 .. K-1`` -> image logits ``(B, 1, 32, 32)``."""

    def __init__(self, config: VQVAEConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or VQVAEConfig()
        h = c.hidden
        self.encoder = nn.Sequential(
            nn.Conv2d(1, h // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(h // 2, h, 4, stride=2, padding=1), nn.ReLU(),          # 16 x 16
            nn.Conv2d(h, h, 4, stride=2, padding=1), nn.ReLU(),               # 8 x 8
            nn.Conv2d(h, h, 3, padding=1), nn.ReLU(),
            nn.Conv2d(h, c.code_dim, 1))
        self.quantizer = VectorQuantizer(c)
        self.decoder = nn.Sequential(
            nn.Conv2d(c.code_dim, h, 3, padding=1), nn.ReLU(),
            nn.Conv2d(h, h, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(h, h, 4, stride=2, padding=1), nn.ReLU(),      # 16 x 16
            nn.ConvTranspose2d(h, h // 2, 4, stride=2, padding=1), nn.ReLU(),  # 32 x 32
            nn.Conv2d(h // 2, 1, 3, padding=1))

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(logits (B, 1, 32, 32), indices (B, 8, 8), vq_loss)``."""
        check_canvas_images(images)
        quantized, idx, vq_loss = self.quantizer(self.encoder(images))
        return self.decoder(quantized), idx, vq_loss

    @torch.no_grad()
    def encode_indices(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, 8, 8)`` int64 of images ``(B, 1, 32, 32)`` in [0, 1]."""
        check_canvas_images(images)
        z = self.encoder(images)
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])).reshape(
            z.shape[0], z.shape[2], z.shape[3])

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 1, 32, 32)`` in [0, 1] from tokens ``(B, 8, 8)``."""
        check_tensor(indices, "indices", ndim=3, kind="int", shape_hint="(B, 8, 8) codebook indices")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            bad = int(indices.max()) if int(indices.max()) >= self.codebook_size else int(indices.min())
            raise IndexError(f"code index {bad} is outside the codebook: expected 0 <= index < "
                             f"codebook_size={self.codebook_size}")
        e = self.quantizer.codebook[indices].permute(0, 3, 1, 2)
        return torch.sigmoid(self.decoder(e))


def reconstruct(model: VQVAE, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Images passed through the tokens and back: ``(N, 1, 32, 32)`` in [0, 1]."""
    model.eval()
    return torch.cat([model.decode_indices(model.encode_indices(images[i:i + batch_size]))
                      for i in range(0, len(images), batch_size)])


def codebook_usage(model: VQVAE, images: torch.Tensor, batch_size: int = 500) -> float:
    """Share of the ``K`` codes chosen at least once on ``images``."""
    model.eval()
    used = torch.zeros(model.codebook_size, dtype=torch.bool)
    for i in range(0, len(images), batch_size):
        used[model.encode_indices(images[i:i + batch_size]).flatten().unique()] = True
    return float(used.float().mean())


class VQVAETask(Task):
    """Train a :class:`VQVAE` on image batches ``(B, 1, 32, 32)``: binary cross-entropy per pixel + VQ loss."""

    def __init__(self, model: VQVAE, lr: float = 2e-3) -> None:
        super().__init__()
        self.model = model
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def training_loss(self, batch, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits, idx, vq_loss = self.model(images)
        recon = F.binary_cross_entropy_with_logits(logits, images)
        used = torch.zeros(self.model.codebook_size, device=idx.device).index_fill_(0, idx.flatten(), 1.0).mean()
        return {"loss": recon + vq_loss, "recon": recon.detach(), "vq": vq_loss.detach(), "batch_usage": used}


def save_vqvae(model: VQVAE, path: str | Path) -> str:
    """Write config and weights; return the file's sha256."""
    torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_vqvae_file(path: str | Path, sha256: str, codebook_size: int | None = None) -> VQVAE:
    """Load a VQ-VAE written by :func:`save_vqvae` after checking its sha256.

    ``codebook_size``, when given, must be the checkpoint's: a model cannot be asked for codes it does not hold.
    """
    from ..data.download import verify

    verify(Path(path), sha256, "sha256")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = VQVAEConfig(**saved["config"])
    if codebook_size is not None:
        codebook_size = check_int(codebook_size, "codebook_size", min=2)
        if codebook_size != config.codebook_size:
            raise ValueError(f"the checkpoint {Path(path).name} holds a codebook of {config.codebook_size} codes, "
                             f"not {codebook_size}")
    model = VQVAE(config)
    model.load_state_dict(saved["state_dict"])
    return model.eval()
