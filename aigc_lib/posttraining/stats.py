"""Small interval helpers for chapter 11 (to be unified with ``aigc_lib.evaluation`` by the lead).

* :func:`wilson_interval`: a 95% interval for a proportion (accuracy, win rate) from ``k`` of ``n``.
* :func:`t_interval`: a 95% interval for the mean of a few per-seed values (Student's t).
"""
from __future__ import annotations

import math
from typing import Sequence

from .._checks import check_float, check_int

__all__ = ["wilson_interval", "t_interval"]


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (Wilson, 1927) for a proportion ``successes / n``.

    ``successes`` may be a half-integer (a win rate that counts ties as half a win).
    """
    n = check_int(n, "n", min=1)
    successes = check_float(successes, "successes", min=0.0, max=float(n))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student's t interval for the mean of ``values`` (>= 2 of them)."""
    from scipy import stats

    vals = [check_float(v, f"values[{i}]") for i, v in enumerate(values)]
    if len(vals) < 2:
        raise ValueError(f"need at least 2 values (seeds) for an interval, got {len(vals)}")
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half
