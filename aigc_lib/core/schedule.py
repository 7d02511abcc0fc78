"""Learning-rate schedules, as multipliers of the optimiser's base learning rate."""
from __future__ import annotations

import math
from typing import Callable

from .checks import check_float, check_int

LRMultiplier = Callable[[int], float]


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> LRMultiplier:
    """Linear warm-up, then cosine decay to ``min_ratio`` times the base rate.

    During the first ``warmup_steps`` steps the multiplier rises linearly from
    ``1/warmup_steps`` to 1. From there to ``total_steps`` it follows half a
    cosine down to ``min_ratio``, and stays there afterwards
    (Loshchilov & Hutter, 2017, without restarts).
    """
    warmup_steps = check_int(warmup_steps, "warmup_steps", min=0)
    total_steps = check_int(total_steps, "total_steps", min=1)
    min_ratio = check_float(min_ratio, "min_ratio", min=0.0, max=1.0)

    def multiplier(step: int) -> float:
        step = check_int(step, "step", min=0)
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if step >= total_steps:
            return min_ratio
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier


def inverse_sqrt(warmup_steps: int) -> LRMultiplier:
    """The schedule of "Attention Is All You Need" (Vaswani et al., 2017), peak-normalised.

    ``lr = base * min((step+1) / warmup, sqrt(warmup / (step+1)))``: a linear
    rise for ``warmup_steps`` steps, then decay with the inverse square root of
    the step. The paper's ``d_model**-0.5`` factor is folded into the base rate.
    """
    warmup_steps = check_int(warmup_steps, "warmup_steps", min=1)

    def multiplier(step: int) -> float:
        s = step + 1
        return min(s / warmup_steps, math.sqrt(warmup_steps / s))

    return multiplier


def constant() -> LRMultiplier:
    """Keep the base learning rate."""
    return lambda step: 1.0
