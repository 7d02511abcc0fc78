"""Two checks of a generator's samples: mode coverage and a nearest-neighbour copy check.

Mode coverage (:func:`mode_coverage`): how many modes of a 2-D Gaussian
mixture a generator reaches. The usual measure for the ring of 8 Gaussians (Metz et al., 2017;
Srivastava et al., 2017; Lin et al., 2018): assign each generated point to
its nearest mode centre. A point is *high quality* when it lies within
``n_std`` standard deviations (3 by default) of that centre. A mode is
*covered* when at least ``min_samples`` high-quality points fall on it
(PacGAN uses 20 out of 2,500 samples).

Copy check (:func:`copy_check`): a metric that only compares feature
statistics (such as FID) cannot tell a generator from a memoriser that returns
its training images. For each generated sample we measure the pixel distance
to its nearest *training* image and to its nearest *held-out* image. A new
sample is about as close to both; a copy is much closer to the training set.
A sample is flagged as a copy when its training distance is below
``threshold`` times its held-out distance. Plain pixel distance sees only
pixel-exact copies: a training image moved by one pixel is as far from its
source as a new image is. With ``max_shift=s`` the distance of an image is the
smallest over all shifts of up to ``s`` pixels in each direction (the image
moved, the empty border filled with zeros), so shifted copies are caught too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.checks import check_finite_tensor, check_float, check_int, check_tensor


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
    for name, t in (("samples", samples), ("centers", centers)):
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one point, got shape {tuple(t.shape)}")
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


def shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``images`` ``(N, ..., H, W)`` moved down by ``dy`` and right by ``dx`` pixels; the empty border is 0."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def nearest_distances(queries: torch.Tensor, references: torch.Tensor, batch_size: int = 1024,
                      max_shift: int = 0) -> torch.Tensor:
    """Euclidean distance ``(N,)`` from each of ``queries`` ``(N, ...)`` to its nearest row of ``references`` ``(M, ...)``.

    Both are flattened to vectors; they must have the same shape after the first dimension.
    With ``max_shift > 0`` the inputs must be images ``(N, C, H, W)``, and each query's distance is the smallest
    over the query moved by ``dy, dx`` in ``[-max_shift, max_shift]`` pixels (see :func:`shifted`):
    ``(2 max_shift + 1)^2`` times the work.
    """
    check_tensor(queries, "queries", kind="float", shape_hint="(N, ...)")
    check_tensor(references, "references", kind="float", shape_hint="(M, ...)")
    batch_size = check_int(batch_size, "batch_size", min=1)
    for name, t in (("queries", queries), ("references", references)):
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one point, got shape {tuple(t.shape)}")
    max_shift = check_int(max_shift, "max_shift", min=0)
    if max_shift and queries.ndim != 4:
        raise ValueError(f"max_shift > 0 needs images (N, C, H, W), got queries of shape {tuple(queries.shape)}")
    if max_shift:
        nearest = None
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                d = nearest_distances(shifted(queries, dy, dx), references, batch_size)
                nearest = d if nearest is None else torch.minimum(nearest, d)
        return nearest
    if queries.ndim < 2 or tuple(queries.shape[1:]) != tuple(references.shape[1:]):
        raise ValueError(f"queries (N, ...) and references (M, ...) must have the same shape after the first "
                         f"dimension, got {tuple(queries.shape)} and {tuple(references.shape)}")
    if len(references) == 0:
        raise ValueError("references must hold at least one example, got an empty tensor")
    q = queries.detach().float().cpu().flatten(1)
    r = references.detach().float().cpu().flatten(1)
    check_finite_tensor(q, "queries")
    check_finite_tensor(r, "references")
    return torch.cat([torch.cdist(q[i:i + batch_size], r).min(dim=1).values for i in range(0, len(q), batch_size)]
                     ) if len(q) else torch.zeros(0)


@dataclass
class CopyCheck:
    """The result of :func:`copy_check`.

    Attributes:
        train_distance: ``(N,)`` distance of each sample to its nearest training example.
        heldout_distance: ``(N,)`` distance of each sample to its nearest held-out example.
        threshold: a sample is a copy when ``train_distance < threshold * heldout_distance``.
    """

    train_distance: torch.Tensor
    heldout_distance: torch.Tensor
    threshold: float

    @property
    def is_copy(self) -> torch.Tensor:
        """``(N,)`` booleans: which samples are flagged as copies."""
        return self.train_distance < self.threshold * self.heldout_distance

    @property
    def copied_fraction(self) -> float:
        """Fraction of samples flagged as copies."""
        return float(self.is_copy.float().mean()) if len(self.train_distance) else 0.0

    @property
    def median_ratio(self) -> float:
        """Median of ``train_distance / heldout_distance`` (about 1 or a bit less for new samples, 0 for copies)."""
        ratio = self.train_distance / self.heldout_distance.clamp_min(1e-12)
        return float(ratio.median())

    def __str__(self) -> str:
        return (f"{100 * self.copied_fraction:.1f}% flagged as copies "
                f"(median nearest-train / nearest-held-out distance {self.median_ratio:.2f})")


def copy_check(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor,
               threshold: float = 0.4, max_shift: int = 0) -> CopyCheck:
    """Nearest-neighbour copy check of generated ``samples`` ``(N, ...)``.

    Args:
        samples: generated samples, e.g. images ``(N, 1, 28, 28)``.
        train: ``(M, ...)`` the generator's training examples.
        heldout: ``(K, ...)`` examples of the same distribution that the generator never saw.
            They must not be among ``samples``, or those samples get distance 0 to them.
        threshold: flag a sample when its nearest training example is closer than
            ``threshold`` times its nearest held-out example (0 < threshold <= 1).
        max_shift: 0 compares pixels as they are (sees only pixel-exact copies); ``s > 0`` takes the
            smallest distance over shifts of up to ``s`` pixels, so a copy moved by up to ``s`` pixels is
            caught too (images ``(N, C, H, W)`` only).
    """
    threshold = check_float(threshold, "threshold", min=0.0, max=1.0, min_open=True)
    return CopyCheck(train_distance=nearest_distances(samples, train, max_shift=max_shift),
                     heldout_distance=nearest_distances(samples, heldout, max_shift=max_shift), threshold=threshold)
