"""The training machinery that every chapter uses (chapter 1 builds it by hand).

:class:`Trainer` and :class:`TrainerConfig` (the loop), :class:`Task` (what a
model, its optimisers and its losses look like to the loop), atomic checkpoints
and the run lock, :class:`History`, learning-rate schedules, :class:`EMA`,
devices and seeds, distributed data parallel, smoke mode (``AIGC_SMOKE=1``),
the argument checks every module uses, and the course's plots. The plotting
names load matplotlib only when first used.
"""
from .checks import (check_int, check_float, check_bool, check_choice, check_str, check_tensor, check_finite_tensor,
                     check_non_empty, check_float_tensor, check_shape, check_callable, check_instance,
                     check_generator, check_sha256, check_device, FLAG_TRUE, FLAG_FALSE, env_flag)
from .smoke import ENV_VAR, SMOKE_MAX_STEPS, SMOKE_MAX_EXAMPLES, is_smoke, budget
from .device import get_device, seed_everything
from .history import History
from .schedule import LRMultiplier, warmup_cosine, inverse_sqrt, constant
from .ema import EMA
from .task import Batch, LossOutput, Task, SupervisedTask
from .checkpoint import (CHECKSUM_KEY, CheckpointError, remove_stale_temp_files, save_checkpoint, load_checkpoint,
                         get_rng_state, set_rng_state)
from .lock import LOCK_NAME, acquire_lock, release_lock
from .distributed import DistInfo, JOIN_TIMEOUT_S, COLLECTIVE_TIMEOUT, init_from_env, all_reduce_mean, cleanup
from .trainer_config import NonFiniteLossError, TrainerConfig, RESUMABLE_CHANGES, move_to_device
from .progress import NotebookLine, progress_bar
from .trainer import Trainer

#: names of :mod:`aigc_lib.core.plotting`, imported on first use.
_LAZY = dict.fromkeys(["STYLE", "use_course_style", "readable_name", "plot_history", "LiveLossPlot", "show_images",
                       "heatmap"], "plotting")


def __getattr__(name: str):
    """Load the plotting names (and matplotlib) only when first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NotebookLine", "progress_bar",
    "check_int", "check_float", "check_bool", "check_choice", "check_str", "check_tensor", "check_finite_tensor",
    "check_non_empty", "check_float_tensor", "check_shape", "check_callable", "check_instance",
    "check_generator", "check_sha256", "check_device", "FLAG_TRUE", "FLAG_FALSE", "env_flag", "ENV_VAR", "SMOKE_MAX_STEPS", "SMOKE_MAX_EXAMPLES",
    "is_smoke", "budget", "get_device", "seed_everything", "History", "LRMultiplier", "warmup_cosine", "inverse_sqrt",
    "constant", "EMA", "Batch", "LossOutput", "Task", "SupervisedTask", "CHECKSUM_KEY", "CheckpointError",
    "remove_stale_temp_files", "save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state", "LOCK_NAME",
    "acquire_lock", "release_lock", "DistInfo", "JOIN_TIMEOUT_S", "COLLECTIVE_TIMEOUT", "init_from_env",
    "all_reduce_mean", "cleanup", "NonFiniteLossError", "TrainerConfig", "RESUMABLE_CHANGES", "move_to_device",
    "Trainer", "STYLE", "use_course_style", "readable_name", "plot_history", "LiveLossPlot", "show_images", "heatmap",
]
