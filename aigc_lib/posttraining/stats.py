"""Small interval helpers for chapter 11 (to be unified with ``aigc_lib.evaluation`` by the lead).

* :func:`wilson_interval`: a 95% interval for a proportion (accuracy, win rate) from ``k`` of ``n``.
* :func:`t_interval`: a 95% interval for the mean of a few per-seed values (Student's t).
* :func:`paired_gain_interval`: the accuracy gain of tuned models over their starting model, bootstrapped
  over seeds and prompts.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..core.checks import check_float, check_int

__all__ = ["wilson_interval", "t_interval", "paired_gain_interval"]


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


def paired_gain_interval(before: Sequence[bool], after_per_seed: Sequence[Sequence[bool]], n_boot: int = 4000,
                         seed: int = 0) -> tuple[float, float, float]:
    """Mean gain ``after - before`` (in accuracy points, x100) with a 95% bootstrap interval.

    ``before``: ``N`` booleans (the starting model on ``N`` prompts); ``after_per_seed``: ``K`` lists of ``N``
    booleans (one tuned model per training seed, same prompts). Each replicate draws ``K`` seeds with
    replacement, then ``N`` prompts with replacement (the same prompts for both models: a paired comparison).
    """
    import torch

    b = torch.tensor([float(bool(v)) for v in before])
    a = torch.tensor([[float(bool(v)) for v in row] for row in after_per_seed])
    if a.ndim != 2 or a.shape[1] != b.shape[0] or b.numel() == 0:
        raise ValueError(f"after_per_seed must be K lists of N={b.numel()} booleans, got shape {tuple(a.shape)}")
    n_boot = check_int(n_boot, "n_boot", min=100)
    k, n = a.shape
    g = torch.Generator().manual_seed(seed)
    seeds = torch.randint(k, (n_boot, k), generator=g)
    prompts = torch.randint(n, (n_boot, k, n), generator=g)
    diff = a - b                                                    # (K, N)
    reps = diff[seeds[..., None], prompts].mean(dim=(1, 2)) * 100
    lo, hi = torch.quantile(reps, torch.tensor([0.025, 0.975])).tolist()
    return float(diff.mean() * 100), lo, hi
