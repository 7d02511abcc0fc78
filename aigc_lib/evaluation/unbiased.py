"""Distances between feature sets that do not drift with the sample count: FID∞ and KID.

The FID of ``N`` samples is biased upwards by about ``c / N`` (Chong & Forsyth 2020): two sets of real
digits score 164 at N = 100 and 32 at N = 1,000 with the course classifier, although they come from one
distribution. Two remedies, both on ``(N, F)`` feature arrays (:mod:`aigc_lib.evaluation.features`):

* :func:`fid_infinity` — FID∞ (Chong & Forsyth 2020): compute the FID of random subsets of ``n`` samples of
  *both* sets for several ``n``, fit the line ``FID_n = FID∞ + slope / n`` by least squares, and report its
  intercept: the FID an infinite sample would give.
* :func:`kid` — the kernel inception distance (Bińkowski et al. 2018): the squared maximum mean discrepancy
  with the cubic kernel ``k(x, y) = (x·y / F + 1)^3``, estimated without bias (the U-statistic, which leaves
  out each sample's kernel with itself). It is computed on ``blocks`` disjoint blocks of the samples; the
  blocks are independent, so their spread gives an honest standard error. The kernel was made for Inception
  features, whose entries are of order 1; the course classifier's ReLU features are larger, so by default
  both sets are divided by the root mean square of the reference's entries first (``normalise=True``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fid import frechet_distance

__all__ = ["FIDInfinity", "fid_from_features", "fid_infinity", "KIDResult", "polynomial_kernel", "mmd2_unbiased",
           "kid"]


def _features(x: np.ndarray, name: str, min_rows: int = 2) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim != 2 or len(arr) < min_rows:
        raise ValueError(f"{name} must be features of shape (N, F) with N >= {min_rows}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a (N, F)`` and ``b (M, F)``."""
    a, b = _features(a, "a"), _features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature widths differ: {a.shape[1]} and {b.shape[1]}")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@dataclass(frozen=True)
class FIDInfinity:
    """FID∞ = ``value``: the intercept of ``FID_n = value + slope / n`` fitted to ``fids`` at sizes ``ns``."""

    value: float
    slope: float
    ns: tuple[int, ...]
    fids: tuple[float, ...]

    def at(self, n: int) -> float:
        """The fitted line at sample count ``n``."""
        return self.value + self.slope / n


def fid_infinity(a: np.ndarray, b: np.ndarray, ns: tuple[int, ...] | None = None, draws: int = 3,
                 seed: int = 0) -> FIDInfinity:
    """FID∞ of two feature sets (Chong & Forsyth 2020), removing the 1/N bias of both sets.

    For each ``n`` in ``ns`` (default: 5 sizes from ``max(N/5, min(2F, N/2))`` to ``N``, with
    ``N = min(len(a), len(b))`` and ``F`` features, so that the covariances are not singular where ``N``
    allows) it draws
    ``draws`` random subsets of ``n`` rows of *each* set without replacement, takes the mean FID, and fits a
    straight line in ``1 / n``. Chong & Forsyth fix the reference statistics at a large set; we subsample
    both, so the intercept removes the bias of both finite sets.
    """
    a, b = _features(a, "a", 4), _features(b, "b", 4)
    n_max = min(len(a), len(b))
    if ns is None:
        lo = max(n_max // 5, min(2 * a.shape[1], n_max // 2))
        ns = tuple(sorted({int(round(lo + (n_max - lo) * f)) for f in (0.0, 0.25, 0.5, 0.75, 1.0)}))
    ns = tuple(int(n) for n in ns)
    if len(set(ns)) < 2 or min(ns) < 2 or max(ns) > n_max:
        raise ValueError(f"ns must hold at least 2 distinct sizes between 2 and {n_max}, got {ns}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    rng = np.random.default_rng(seed)
    fids = []
    for n in ns:
        values = []
        for _ in range(draws if n < n_max or len(a) != len(b) else 1):   # n = N of equal sets: only one subset
            ia, ib = rng.permutation(len(a))[:n], rng.permutation(len(b))[:n]
            values.append(fid_from_features(a[ia], b[ib]))
        fids.append(float(np.mean(values)))
    slope, intercept = np.polyfit(1.0 / np.asarray(ns, dtype=np.float64), np.asarray(fids), 1)
    return FIDInfinity(float(intercept), float(slope), ns, tuple(fids))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> np.ndarray:
    """``k(x, y) = (x·y / F + coef)^degree`` for rows of ``x (N, F)`` and ``y (M, F)`` -> ``(N, M)``."""
    return (x @ y.T / x.shape[1] + coef) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """Unbiased estimate of MMD² between the distributions of ``x (N, F)`` and ``y (M, F)``:

    ``mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)``.
    """
    x, y = _features(x, "x"), _features(y, "y")
    kxx, kyy, kxy = polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree), polynomial_kernel(x, y, degree)
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


@dataclass(frozen=True)
class KIDResult:
    """KID (the mean of ``blocks`` unbiased MMD² estimates) and its standard error."""

    value: float
    standard_error: float
    blocks: int
    block_size: int

    @property
    def interval(self) -> tuple[float, float]:
        """A 95 % normal interval, ``value ± 1.96 SE``."""
        return self.value - 1.96 * self.standard_error, self.value + 1.96 * self.standard_error


def kid(x: np.ndarray, y: np.ndarray, blocks: int = 10, seed: int = 0, normalise: bool = True) -> KIDResult:
    """KID between feature sets ``x`` and ``y`` (the reference) with a standard error (Bińkowski et al. 2018).

    The rows of each set are shuffled and cut into ``blocks`` disjoint blocks of equal size; the estimate
    is the mean of :func:`mmd2_unbiased` over the block pairs and its standard error is their standard
    deviation over ``sqrt(blocks)``. Unlike the FID its expectation does not depend on the sample count.
    With ``normalise`` both sets are first divided by ``sqrt(mean(y**2))``, so that the reference's entries
    have mean square 1 and the cubic kernel sees numbers of order 1, as with Inception features.
    """
    x, y = _features(x, "x"), _features(y, "y")
    if normalise:
        rms = float(np.sqrt((y ** 2).mean()))
        if rms == 0:
            raise ValueError("the reference features y are all zero: nothing to normalise by")
        x, y = x / rms, y / rms
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 2:
        raise ValueError(f"blocks must be an integer >= 2 (the standard error needs two), got {blocks!r}")
    size = min(len(x), len(y)) // blocks
    if size < 2:
        raise ValueError(f"{min(len(x), len(y))} samples cannot make {blocks} blocks of at least 2")
    rng = np.random.default_rng(seed)
    px, py = rng.permutation(len(x)), rng.permutation(len(y))
    values = np.array([mmd2_unbiased(x[px[i * size:(i + 1) * size]], y[py[i * size:(i + 1) * size]])
                       for i in range(blocks)])
    return KIDResult(float(values.mean()), float(values.std(ddof=1) / np.sqrt(blocks)), blocks, size)
