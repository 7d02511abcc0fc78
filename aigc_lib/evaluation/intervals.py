"""95 % intervals for the book's headline numbers, and the one form in which they are printed.

Every headline number of the course is printed as::

    LABEL: X (95% interval A–B; N samples, K seeds)

where ``X`` is the estimate, ``A–B`` a 95 % interval, ``N`` the number of samples (or ``unit``) it rests on,
all seeds together, and ``K`` the number of training or sampling seeds. The interval says how far ``X`` could move if the
experiment were repeated; the prose of a chapter claims nothing finer than it.

Four ways to get the interval, for four kinds of data:

* :func:`bootstrap_interval` — one seed, ``N`` samples, any statistic (a mean, a FID, a ratio of two
  statistics): the percentile bootstrap over samples (Efron & Tibshirani 1993).
* :func:`seed_interval` — ``K`` seeds, one number per seed: Student's t-interval over the seed values.
* :func:`wilson_interval` — a proportion (``k`` successes in ``n`` trials), e.g. a label accuracy:
  the Wilson score interval, which stays inside [0, 1] and is good for proportions near 0 or 1.
* :func:`seeds_and_samples_interval` — ``K`` seeds with ``N`` samples each: a two-level bootstrap that
  resamples the seeds, then the samples inside each chosen seed, so both sources of spread count.

Each returns an :class:`Interval`; :meth:`Interval.headline` (or :func:`format_headline`) prints it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Interval", "format_headline", "bootstrap_interval", "seed_interval", "wilson_interval",
    "seeds_and_samples_interval", "t_quantile",
]

Statistic = Callable[..., float]


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval. ``n``: samples (or ``unit``), all seeds together; ``k``: seeds."""

    value: float
    low: float
    high: float
    n: int
    k: int = 1
    unit: str = "samples"
    level: float = 0.95

    def __post_init__(self) -> None:
        for name in ("value", "low", "high"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool) or math.isnan(v):
                raise ValueError(f"Interval.{name} must be a number, got {v!r}")
        if not self.low <= self.high:
            raise ValueError(f"Interval: low must be <= high, got {self.low} and {self.high}")
        _check_count(self.n, "n")
        _check_count(self.k, "k")
        if not 0 < self.level < 1:
            raise ValueError(f"Interval.level must be in (0, 1), got {self.level!r}")

    def contains(self, x: float) -> bool:
        """True when ``x`` lies inside the interval (ends included)."""
        return self.low <= x <= self.high

    def headline(self, label: str, digits: int | None = None) -> str:
        """``LABEL: X (95% interval A–B; N samples, K seeds)``."""
        return format_headline(label, self.value, self.low, self.high, self.n, self.k, unit=self.unit,
                               digits=digits, level=self.level)


def _check_count(x: object, name: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")


def _default_digits(value: float, low: float, high: float) -> int:
    """Decimals that show the interval's width with two significant digits (at most 4, at least 0)."""
    width = abs(high - low)
    if width == 0 or not math.isfinite(width):
        return 3
    return int(min(4, max(0, 1 - math.floor(math.log10(width)))))


def format_headline(label: str, value: float, low: float, high: float, n: int, k: int = 1,
                    unit: str = "samples", digits: int | None = None, level: float = 0.95) -> str:
    """The course's one form of a headline number.

    >>> format_headline("guided label accuracy", 0.992, 0.985, 0.996, 1000, 3)
    'guided label accuracy: 0.992 (95% interval 0.985–0.996; 1,000 samples, 3 seeds)'

    Args:
        label: what is measured, as the chapter names it.
        value, low, high: the estimate and its interval.
        n: samples (or ``unit``), all seeds together; k: seeds.
        unit: the plural noun after ``n`` ("samples", "test digits", "draws of 250", ...).
        digits: decimals to print; by default two significant digits of the interval's width.
        level: the interval's coverage (0.95 prints "95%").
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    Interval(float(value), float(low), float(high), n, k, unit, level)   # the same checks
    d = _default_digits(value, low, high) if digits is None else digits
    seeds = "1 seed" if k == 1 else f"{k:,} seeds"
    dash = " to " if low < 0 else "–"     # "-0.11–0.02" would read as a range from a negative
    return (f"{label}: {value:.{d}f} ({100 * level:g}% interval {low:.{d}f}{dash}{high:.{d}f}; "
            f"{n:,} {unit}, {seeds})")


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy)."""
    from scipy import stats
    return float(stats.t.ppf(p, df))


def _as_array(x: Sequence[float] | np.ndarray, name: str, min_len: int = 1) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim == 0 or len(arr) < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def seed_interval(values: Sequence[float], n: int = 1, level: float = 0.95, unit: str = "samples") -> Interval:
    """Student's t-interval for the mean over seeds: ``mean ± t_{K-1} · sd / √K``.

    Args:
        values: one number per seed, ``K >= 2`` of them.
        n: samples the numbers rest on, all seeds together (printed only).
    """
    v = _as_array(values, "seed_interval values", min_len=2)
    k = len(v)
    half = t_quantile(0.5 + level / 2, k - 1) * v.std(ddof=1) / math.sqrt(k)
    m = float(v.mean())
    return Interval(m, m - half, m + half, n, k, unit, level)


def wilson_interval(successes: int, trials: int, k: int = 1, level: float = 0.95,
                    unit: str = "samples") -> Interval:
    """Wilson score interval for a proportion ``successes / trials`` (pooled over ``k`` seeds)."""
    _check_count(trials, "trials")
    if isinstance(successes, bool) or not isinstance(successes, (int, np.integer)) or not 0 <= successes <= trials:
        raise ValueError(f"successes must be an integer in [0, trials={trials}], got {successes!r}")
    from scipy import stats
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return Interval(p, min(low, p), max(high, p), trials, k, unit, level)   # p inside despite rounding at 0 and 1


def bootstrap_interval(statistic: Statistic, *samples: Sequence[float] | np.ndarray, n_boot: int = 1000,
                       level: float = 0.95, seed: int = 0, k: int = 1, unit: str = "samples") -> Interval:
    """Percentile bootstrap over samples: resample each sample set with replacement ``n_boot`` times.

    ``statistic(*samples)`` gives the estimate; each sample set is an array whose first axis indexes
    samples (e.g. ``(N, D)`` features), resampled independently (two models' samples, a paired statistic
    should pass one stacked array). Example: the ratio of two FIDs is
    ``bootstrap_interval(lambda a, b: fid(a, ref) / fid(b, ref), feats_a, feats_b)``.
    """
    _check_count(n_boot, "n_boot")
    arrays = [np.asarray(s.detach().cpu() if hasattr(s, "detach") else s) for s in samples]
    if not arrays or any(a.ndim == 0 or len(a) < 2 for a in arrays):
        raise ValueError("bootstrap_interval needs at least one sample set of 2 or more samples")
    rng = np.random.default_rng(seed)
    value = float(statistic(*arrays))
    stats_ = np.empty(n_boot)
    for b in range(n_boot):
        stats_[b] = statistic(*(a[rng.integers(0, len(a), len(a))] for a in arrays))
    low, high = np.quantile(stats_, [0.5 - level / 2, 0.5 + level / 2])
    n = min(len(a) for a in arrays)
    return Interval(value, float(min(low, value)), float(max(high, value)), n, k, unit, level)


def seeds_and_samples_interval(statistic: Statistic, per_seed: Sequence[np.ndarray], n_boot: int = 1000,
                               level: float = 0.95, seed: int = 0, unit: str = "samples") -> Interval:
    """Two-level bootstrap for ``K`` seeds of ``N`` samples each.

    Each replicate draws ``K`` seeds with replacement, then resamples the samples inside each drawn seed,
    and averages ``statistic`` over the drawn seeds. The estimate is the mean of ``statistic`` over the
    seeds as they are. With one seed it reduces to :func:`bootstrap_interval`.
    """
    _check_count(n_boot, "n_boot")
    arrays = [np.asarray(a.detach().cpu() if hasattr(a, "detach") else a) for a in per_seed]
    if not arrays or any(a.ndim == 0 or len(a) < 2 for a in arrays):
        raise ValueError("seeds_and_samples_interval needs one array of 2 or more samples per seed")
    rng = np.random.default_rng(seed)
    k = len(arrays)
    value = float(np.mean([statistic(a) for a in arrays]))
    stats_ = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, k, k) if k > 1 else [0]
        stats_[b] = np.mean([statistic(arrays[i][rng.integers(0, len(arrays[i]), len(arrays[i]))])
                             for i in chosen])
    low, high = np.quantile(stats_, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(value, float(min(low, value)), float(max(high, value)), sum(len(a) for a in arrays), k,
                    unit, level)
