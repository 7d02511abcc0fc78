"""Smoke mode: one switch that makes every chapter run in seconds.

CI sets the environment variable ``AIGC_SMOKE=1``. The library then shrinks
training steps and data sets so that each notebook executes in well under a
minute and a half on two CPU cores. Readers never need to set it.

Only ``aigc_lib`` reads this variable. Notebooks do not test it: they call
:func:`budget` (or use the Trainer and the data loaders, which call it for them)
and get the real size in a normal run and the small one in CI.
"""
from __future__ import annotations

import os

ENV_VAR = "AIGC_SMOKE"

#: Upper bound on optimiser steps for one ``Trainer.fit`` call in smoke mode.
SMOKE_MAX_STEPS = 20
#: Upper bound on examples returned by the data loaders in smoke mode.
SMOKE_MAX_EXAMPLES = 1024


def is_smoke() -> bool:
    """Return True when the environment variable ``AIGC_SMOKE`` is set to 1/true/yes."""
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def budget(real: int, smoke: int) -> int:
    """Return ``real`` in a normal run and ``min(real, smoke)`` in smoke mode.

    Use it for any size a chapter chooses itself, for example the number of
    steps of a hand-written loop or the number of samples in a plot::

        n_steps = budget(2000, smoke=20)
    """
    if real < 0 or smoke < 0:
        raise ValueError(f"budget expects non-negative sizes, got real={real}, smoke={smoke}")
    return min(real, smoke) if is_smoke() else real
