"""Position information for attention, which on its own ignores the order of tokens.

* :class:`SinusoidalPositionalEncoding`: fixed sines and cosines added to the
  token embeddings (Vaswani et al., 2017).
* :class:`LearnedPositionalEmbedding`: one trained vector per position, added likewise.
* :class:`RotaryEmbedding` (RoPE): rotates each query and key by an angle that
  grows with its position, so that their dot product depends only on the
  *relative* offset (Su et al., 2021).

All three have a table of ``max_len`` positions and raise ``IndexError`` for a
longer sequence.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.checks import check_float, check_int, check_tensor


def _check_length(start: int, t: int, max_len: int, what: str) -> None:
    start = check_int(start, "start", min=0)
    if start + t > max_len:
        raise IndexError(
            f"{what}: positions {start}..{start + t - 1} (sequence length {t}) do not fit "
            f"the positional table of max_len={max_len}; build it with a larger max_len"
        )


_NO_BASE = object()


def _check_sizes(d_model: int, max_len: int, base: object = _NO_BASE, d_name: str = "d_model") -> None:
    check_int(d_model, d_name, min=1)
    check_int(max_len, "max_len", min=1)
    if base is not _NO_BASE:
        check_float(base, "base", min=1.0, min_open=True)


def _check_embeddings(x: torch.Tensor, d_model: int, what: str) -> None:
    check_tensor(x, "x", shape_hint=f"(B, T, {d_model})")
    if x.ndim != 3 or x.shape[-1] != d_model:
        hint = " (token ids? embed them first)" if not x.is_floating_point() else ""
        raise ValueError(f"{what} expects embeddings of shape (B, T, {d_model}), got {tuple(x.shape)}{hint} (x)")
    if not x.is_floating_point():
        raise TypeError(f"{what} expects floating-point embeddings x (token ids? embed them first), got {x.dtype}")


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """``(max_len, d_model)``: ``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(p / base^(2i/d))``."""
    _check_sizes(d_model, max_len, base)
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal encoding needs an even d_model, got {d_model}")
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(base) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to ``x (B, T, C)`` (no parameters)."""

    def __init__(self, d_model: int, max_len: int = 512, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("table", sinusoidal_table(max_len, d_model, base), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``x (B, T, C)`` plus the encodings of positions ``start .. start+T-1``."""
        _check_embeddings(x, self.d_model, "SinusoidalPositionalEncoding")
        _check_length(start, x.shape[1], self.max_len, "SinusoidalPositionalEncoding")
        return x + self.table[start:start + x.shape[1]].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position to ``x (B, T, C)`` (GPT-2 style)."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        _check_sizes(d_model, max_len)
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``x (B, T, C)`` plus the learned vectors of positions ``start .. start+T-1``."""
        _check_embeddings(x, self.d_model, "LearnedPositionalEmbedding")
        _check_length(start, x.shape[1], self.max_len, "LearnedPositionalEmbedding")
        pos = torch.arange(start, start + x.shape[1], device=x.device)
        return x + self.embedding(pos)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x[2i], x[2i+1])`` of the last dimension by the angle whose cosine/sine are given.

    ``x`` is ``(..., T, d)``; ``cos`` and ``sin`` are ``(T, d/2)``.
    """
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al., 2021) for one attention head.

    The pair ``(2i, 2i+1)`` of a query or key at position ``p`` is rotated by the
    angle ``p * theta_i`` with ``theta_i = base^(-2i/d)``. Then
    ``<R(p) q, R(s) k> = <q, R(s - p) k>``: scores depend on the offset only.

    Args:
        head_dim: ``d``, the width of a query/key (even).
        max_len: positions in the table.
        base: 10000 as in the paper.
    """

    def __init__(self, head_dim: int, max_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        _check_sizes(head_dim, max_len, base, "head_dim")
        if head_dim % 2 != 0:
            raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
        self.head_dim, self.max_len = head_dim, max_len
        theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.arange(max_len, dtype=torch.float32)[:, None] * theta[None, :]   # (max_len, d/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate ``x (..., T, head_dim)`` as if it sat at positions ``offset .. offset+T-1``."""
        check_tensor(x, "x", shape_hint=f"(..., T, {self.head_dim})")
        if x.ndim < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"RotaryEmbedding expects x of shape (..., T, {self.head_dim}), got {tuple(x.shape)}")
        t = x.shape[-2]
        _check_length(offset, t, self.max_len, "RotaryEmbedding")
        cos = self.cos[offset:offset + t].to(x.dtype)
        sin = self.sin[offset:offset + t].to(x.dtype)
        return rotate_pairs(x, cos, sin)
