"""Small synthetic data sets for quick experiments."""
from __future__ import annotations

import math

import torch

from ..core.checks import check_float, check_int, check_tensor


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``(n_modes, 2)`` points evenly spaced on a circle of the given radius."""
    n_modes = check_int(n_modes, "n_modes", min=1)
    radius = check_float(radius, "radius", min=0.0)
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def ring_of_gaussians(n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples from an equal mixture of 2-D Gaussians placed on a ring.

    Returns:
        points ``(n, 2)`` and the index of the mode each came from ``(n,)``.
    """
    n = check_int(n, "n", min=1)
    n_modes = check_int(n_modes, "n_modes", min=1)
    std = check_float(std, "std", min=0.0, min_open=True)
    radius = check_float(radius, "radius", min=0.0)
    modes = torch.randint(n_modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator) * std
    return ring_centers(n_modes, radius)[modes] + noise, modes


def gaussian_mixture_2d(n: int, centers: torch.Tensor, std: float = 0.05,
                        weights: torch.Tensor | None = None,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples from a mixture of isotropic 2-D Gaussians with the given ``(K, 2)`` centres.

    ``weights`` ``(K,)`` (non-negative, any scale) gives the mixture proportions; ``None``: equal.
    Returns points ``(n, 2)`` and the index of the mode each came from ``(n,)``.
    """
    n = check_int(n, "n", min=1)
    std = check_float(std, "std", min=0.0, min_open=True)
    check_tensor(centers, "centers", kind="float", shape_hint="(K, 2)")
    if centers.ndim != 2 or centers.shape[1] != 2 or centers.shape[0] == 0:
        raise ValueError(f"centers must have shape (K, 2), got {tuple(centers.shape)}")
    k = centers.shape[0]
    if weights is not None:
        check_tensor(weights, "weights", kind="float", shape_hint=f"({k},)")
    if weights is not None and tuple(weights.shape) != (k,):
        raise ValueError(f"weights must have shape ({k},), one per centre, got {tuple(weights.shape)}")
    if weights is not None:
        w = weights.detach().double()
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights.tolist()}")
    probs = torch.full((k,), 1.0 / k) if weights is None else weights / weights.sum()
    modes = torch.multinomial(probs, n, replacement=True, generator=generator)
    return centers[modes] + torch.randn(n, 2, generator=generator) * std, modes
