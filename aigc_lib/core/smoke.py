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

from .checks import check_int, env_flag

ENV_VAR = "AIGC_SMOKE"

#: Upper bound on optimiser steps for one ``Trainer.fit`` call in smoke mode.
SMOKE_MAX_STEPS = 20
#: Upper bound on examples returned by the data loaders in smoke mode.
SMOKE_MAX_EXAMPLES = 1024


def is_smoke() -> bool:
    """Return True when the environment variable ``AIGC_SMOKE`` turns smoke mode on.

    Accepted values (case-insensitive, surrounding white space ignored):
    ``1``, ``true``, ``yes``, ``on`` turn it on; unset, empty, ``0``, ``false``,
    ``no``, ``off`` leave it off. Any other value (``2``, ``y``, ...) raises
    ``ValueError`` naming the variable, rather than silently meaning "off".
    """
    return env_flag(ENV_VAR, os.environ.get(ENV_VAR))


def budget(real: int, smoke: int) -> int:
    """Return ``real`` in a normal run and ``min(real, smoke)`` in smoke mode.

    Use it for any size a chapter chooses itself, for example the number of
    steps of a hand-written loop or the number of samples in a plot::

        n_steps = budget(2000, smoke=20)
    """
    real = check_int(real, "real", min=0)
    smoke = check_int(smoke, "smoke", min=0)
    return min(real, smoke) if is_smoke() else real
