"""Sinusoidal time embedding shared by the denoisers (Vaswani et al., 2017; Ho et al., 2020)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``(B,)`` times (integers or floats) -> ``(B, dim)`` features ``[cos(t w_k), sin(t w_k)]``.

    The frequencies ``w_k = max_period^(-k / (dim/2))`` span periods from 1 to
    ``max_period`` steps. ``dim`` must be even.
    """
    if dim % 2:
        raise ValueError(f"the embedding width must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimeEmbedding(nn.Module):
    """``(B,)`` times -> ``(B, out_dim)``: sinusoidal features, then Linear, SiLU, Linear."""

    def __init__(self, freq_dim: int, out_dim: int) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim))


def check_time(t: torch.Tensor | float | int, batch: int, device: torch.device) -> torch.Tensor:
    """Times as a ``(B,)`` tensor: one number is repeated; ``(B,)`` is checked; NaN and bools are rejected."""
    if isinstance(t, bool) or (isinstance(t, torch.Tensor) and t.dtype == torch.bool):
        raise TypeError("t must be numbers (timesteps), got a bool")
    if isinstance(t, (str, bytes)) or not isinstance(t, (int, float, torch.Tensor, list, tuple, np.ndarray)):
        raise TypeError(f"t must be timesteps: one number or a ({batch},) tensor, got {t!r} ({type(t).__name__})")
    try:
        t = torch.as_tensor(t, device=device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"t must be timesteps: one number or a ({batch},) tensor, got {type(t).__name__} "
                        f"({e})") from None
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"t must be real numbers (timesteps), got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be one number or ({batch},) = one per example, got shape {tuple(t.shape)}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"t must hold finite times, got {'NaN' if bool(torch.isnan(t).any()) else 'inf'}")
    if t.numel() and bool((t < 0).any()):
        raise ValueError(f"t must be times >= 0 (timesteps 0..T-1, or time_scale * t for flow matching), got "
                         f"a smallest value of {float(t.min()):g}")
    return t


def check_input_dtype(x: torch.Tensor, module: nn.Module, who: str) -> None:
    """Outside autocast, ``x`` must have the dtype of ``module``'s weights (e.g. float64 data for a float32 net)."""
    weight = next(module.parameters(), None)
    if weight is None or x.dtype == weight.dtype:
        return
    try:
        autocast = torch.is_autocast_enabled(x.device.type)
    except TypeError:            # older torch: no device argument
        autocast = torch.is_autocast_enabled()
    if not autocast:
        raise TypeError(f"{who} expects x of its weights' dtype {weight.dtype}, got x of dtype {x.dtype}: convert "
                        f"the input (x.to({weight.dtype})) or the model (model.to({x.dtype}))")


def check_class_labels(y: torch.Tensor | int | None, num_classes: int, batch: int,
                       device: torch.device) -> torch.Tensor | None:
    """Labels as ``(B,)`` int64 in ``0 .. num_classes`` (``num_classes`` = null class; ``None`` -> all null)."""
    if num_classes == 0:
        if y is not None:
            raise ValueError("this model is unconditional (num_classes=0) but labels y were given")
        return None
    if y is None:
        return torch.full((batch,), num_classes, dtype=torch.long, device=device)
    if isinstance(y, bool) or (isinstance(y, torch.Tensor) and (y.dtype == torch.bool or y.is_floating_point())):
        raise TypeError(f"labels y must be integers, got {y.dtype if isinstance(y, torch.Tensor) else 'a bool'}")
    if isinstance(y, float):
        raise TypeError(f"labels y must be integers, got the float {y}")
    shown = y
    try:
        y = torch.as_tensor(y, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"labels y must be integers (one int or ({batch},)), got {type(shown).__name__}") from None
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        listed = y.tolist() if y.numel() <= 8 else f"{y.numel()} values"
        raise TypeError(f"labels y must be integers, got {'floats' if y.is_floating_point() else y.dtype} {listed}")
    if y.ndim == 0:
        y = y.expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"labels y must be one int or ({batch},), got shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) > num_classes):
        raise ValueError(f"labels y must be in 0..{num_classes - 1} (or {num_classes}, the null class), got "
                         f"values in {int(y.min())}..{int(y.max())}")
    return y.long()
