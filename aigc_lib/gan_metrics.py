"""Mode coverage: how many modes of a 2-D Gaussian mixture a generator reaches.

The usual measure for the ring of 8 Gaussians (Metz et al., 2017;
Srivastava et al., 2017; Lin et al., 2018): assign each generated point to
its nearest mode centre. A point is *high quality* when it lies within
``n_std`` standard deviations (3 by default) of that centre. A mode is
*covered* when at least ``min_samples`` high-quality points fall on it
(PacGAN uses 20 out of 2,500 samples).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_finite_tensor, check_float, check_int, check_tensor


@dataclass
class ModeCoverage:
    """The result of :func:`mode_coverage`.

    Attributes:
        modes_covered: how many modes have at least ``min_samples`` high-quality points.
        n_modes: how many modes there are.
        high_quality_fraction: fraction of all samples within ``n_std`` std of a mode.
        counts: ``(n_modes,)`` high-quality points per mode.
    """

    modes_covered: int
    n_modes: int
    high_quality_fraction: float
    counts: torch.Tensor

    def __str__(self) -> str:
        return (f"{self.modes_covered}/{self.n_modes} modes covered, "
                f"{100 * self.high_quality_fraction:.1f}% of samples within 3 std of a mode")


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float, n_std: float = 3.0,
                  min_samples: int = 20) -> ModeCoverage:
    """Mode coverage of ``samples`` ``(N, D)`` for modes at ``centers`` ``(K, D)`` with isotropic ``std``."""
    check_tensor(samples, "samples", kind="float", shape_hint="(N, D)")
    check_tensor(centers, "centers", kind="float", shape_hint="(K, D)")
    std = check_float(std, "std", min=0.0, min_open=True)
    n_std = check_float(n_std, "n_std", min=0.0, min_open=True)
    min_samples = check_int(min_samples, "min_samples", min=1)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples must be (N, D) and centers (K, D) with the same D, got "
                         f"{tuple(samples.shape)} and {tuple(centers.shape)}")
    if std <= 0 or n_std <= 0:
        raise ValueError(f"std and n_std must be positive, got {std} and {n_std}")
    samples = samples.detach().float().cpu()
    centers = centers.detach().float().cpu()
    check_finite_tensor(centers, "centers")
    check_finite_tensor(samples, "samples")
    dist = torch.cdist(samples, centers)            # (N, K)
    nearest_dist, nearest = dist.min(dim=1)         # (N,)
    good = nearest_dist <= n_std * std
    counts = torch.bincount(nearest[good], minlength=centers.shape[0])
    return ModeCoverage(modes_covered=int((counts >= min_samples).sum()), n_modes=centers.shape[0],
                        high_quality_fraction=float(good.float().mean()) if len(samples) else 0.0,
                        counts=counts)
