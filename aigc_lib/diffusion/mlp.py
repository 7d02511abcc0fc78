"""A time-conditioned MLP denoiser for vectors such as 2-D toy points (or flattened small images).

``forward(x (B, *data_shape), t (B,), y (B,) or None) -> (B, *data_shape)``. The
input is flattened to ``D`` numbers, mapped to ``hidden`` features, passed through
``depth`` residual blocks (LayerNorm, SiLU, Linear, + time/class embedding,
SiLU, Linear) and mapped back. The embedding of ``t`` is sinusoidal, as in the
:class:`~aigc_lib.diffusion.unet.UNet`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import TimeEmbedding, check_class_labels, check_input_dtype, check_time


@dataclass
class MLPDenoiserConfig:
    """Sizes of an :class:`MLPDenoiser`.

    Attributes:
        data_shape: shape of one example, e.g. ``(2,)`` for 2-D points or ``(1, 28, 28)``.
        hidden: width of the hidden layers.
        depth: residual blocks.
        time_dim: width of the sinusoidal time features (even).
        num_classes: 0 for an unconditional model; ``C > 0`` adds ``C + 1`` class embeddings (the last: null class).
    """

    data_shape: tuple[int, ...] = (2,)
    hidden: int = 128
    depth: int = 3
    time_dim: int = 64
    num_classes: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.data_shape, (tuple, list, torch.Size)):
            raise TypeError(f"data_shape must be a tuple of positive ints such as (2,), got {self.data_shape!r}")
        self.data_shape = tuple(self.data_shape)
        if not self.data_shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.data_shape):
            raise ValueError(f"data_shape must be positive ints such as (2,), got {self.data_shape}")
        for name in ("hidden", "depth", "time_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if self.time_dim % 2:
            raise ValueError(f"time_dim must be even, got {self.time_dim}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0 (0: unconditional), got {self.num_classes!r}")


class _Block(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.emb = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.fc2.weight)   # each block starts as the identity
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(F.silu(self.fc1(F.silu(self.norm(h))) + self.emb(emb)))


class MLPDenoiser(nn.Module):
    """Predicts noise (or velocity) for vectors: ``(B, *data_shape), (B,) [, (B,)] -> (B, *data_shape)``."""

    def __init__(self, config: MLPDenoiserConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MLPDenoiserConfig()
        self.num_classes = cfg.num_classes
        self.dim = math.prod(cfg.data_shape)
        self.time_emb = TimeEmbedding(cfg.time_dim, cfg.hidden)
        self.class_emb = nn.Embedding(cfg.num_classes + 1, cfg.hidden) if cfg.num_classes else None
        self.inp = nn.Linear(self.dim, cfg.hidden)
        self.blocks = nn.ModuleList(_Block(cfg.hidden) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(cfg.hidden)
        self.out = nn.Linear(cfg.hidden, self.dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | int,
                y: torch.Tensor | int | None = None) -> torch.Tensor:
        shape = self.config.data_shape
        if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MLPDenoiser expects inputs (B, {', '.join(map(str, shape))}), got {got}")
        if not x.is_floating_point():
            raise TypeError(f"MLPDenoiser expects floating-point inputs, got {x.dtype}")
        check_input_dtype(x, self, "MLPDenoiser")
        t = check_time(t, x.shape[0], x.device)
        emb = self.time_emb(t)
        labels = check_class_labels(y, self.num_classes, x.shape[0], x.device)
        if self.class_emb is not None:
            emb = emb + self.class_emb(labels)
        emb = F.silu(emb)
        h = self.inp(x.reshape(x.shape[0], self.dim))
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.silu(self.norm_out(h))).reshape(x.shape)
