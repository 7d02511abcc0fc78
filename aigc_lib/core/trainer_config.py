"""The Trainer's settings (:class:`TrainerConfig`), its error for a NaN loss, and the small helpers of its loop.

See :mod:`aigc_lib.core.trainer` for the loop itself.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .checks import check_bool, check_choice, check_float, check_int
from .schedule import LRMultiplier


class NonFiniteLossError(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the message names the step."""


@dataclass
class TrainerConfig:
    """Settings of one training run. Every field has a sensible default.

    Attributes:
        max_steps: optimiser steps to run in total (a resumed run counts the
            steps it already did). Smoke mode caps it at ``SMOKE_MAX_STEPS``.
        grad_accum_steps: micro-batches whose gradients are averaged (each loss
            is divided by ``grad_accum_steps``) before each optimiser step.
            ``4`` with batches of 8 behaves like batches of 32.
        clip_grad_norm: clip the global gradient norm of each optimiser's
            parameters to this value; ``None`` turns clipping off.
        lr_schedule: ``"constant"``, ``"cosine"`` (linear warm-up for
            ``warmup_steps``, then cosine decay to ``min_lr_ratio``), or a
            function ``step -> multiplier`` of the base learning rate.
        eval_every: evaluate every this many steps (0: only at the end).
        eval_batches: batches per evaluation (``None``: the whole validation set).
        log_every: average the training metrics over this many steps per log entry.
        precision: ``"auto"`` (bf16 autocast on CUDA GPUs with native bf16,
            i.e. compute capability 8.0 or newer such as A100/H100/RTX 30xx;
            float32 elsewhere, including older GPUs such as the T4, which only
            emulate bf16), ``"bf16"`` or ``"fp32"``.
        compile: wrap the task in ``torch.compile`` (slow to start; pays off
            on GPUs and long runs).
        progress: show a tqdm progress bar (main process only).
        live_plot: ``"auto"`` (only inside a notebook), ``True`` or ``False``.
        plot_every_s: at most one live-plot redraw per this many seconds.
        checkpoint_dir: folder for ``last.pt``; ``None`` writes no checkpoints.
        checkpoint_every: write ``last.pt`` every this many steps (0: only at the end).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or ``None`` for automatic.
        ema_decay: keep an exponential moving average of the task's weights
            (:class:`aigc_lib.core.ema.EMA`, with warm-up) with this decay, updated
            after every step and saved in checkpoints; ``None``: off. Use it as
            ``with trainer.ema.average_parameters(task): ...``.
        ema_start_step: until this step the average just copies the weights.

    Every field is checked when the config is made: integers must be
    integers (not ``2.5`` or ``True``), numbers must be finite, and
    ``checkpoint_dir=""`` is an error (use ``None`` for no checkpoints).
    """

    max_steps: int = 1000
    grad_accum_steps: int = 1
    clip_grad_norm: float | None = None
    lr_schedule: str | Callable[[int], float] = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    eval_every: int = 0
    eval_batches: int | None = 20
    log_every: int = 10
    precision: str = "auto"
    compile: bool = False
    progress: bool = True
    live_plot: bool | str = "auto"
    plot_every_s: float = 2.0
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 0
    resume: bool = True
    device: str | None = None
    ema_decay: float | None = None
    ema_start_step: int = 0

    def __post_init__(self) -> None:
        self.max_steps = check_int(self.max_steps, "max_steps", min=0)
        self.grad_accum_steps = check_int(self.grad_accum_steps, "grad_accum_steps", min=1)
        check_float(self.clip_grad_norm, "clip_grad_norm", min=0, min_open=True,
                                          allow_none=True)
        check_choice(self.precision, "precision", ("auto", "bf16", "fp32"))
        if not callable(self.lr_schedule) and not isinstance(self.lr_schedule, str):
            raise TypeError(f"lr_schedule must be 'constant', 'cosine' or a function step -> multiplier, "
                            f"got {self.lr_schedule!r}")
        if not callable(self.lr_schedule):
            check_choice(self.lr_schedule, "lr_schedule", ("constant", "cosine"))
        self.log_every = check_int(self.log_every, "log_every", min=1)
        # A negative period would not fail: Python's step % -n == 0 silently means "every n steps".
        self.eval_every = check_int(self.eval_every, "eval_every", min=0, note=" (0: only at the end)")
        self.checkpoint_every = check_int(self.checkpoint_every, "checkpoint_every", min=0,
                                          note=" (0: only at the end)")
        self.eval_batches = check_int(self.eval_batches, "eval_batches", min=1, allow_none=True,
                                      note=" (None: the whole validation set)")
        self.warmup_steps = check_int(self.warmup_steps, "warmup_steps", min=0)
        check_float(self.min_lr_ratio, "min_lr_ratio", min=0.0, max=1.0)
        check_float(self.plot_every_s, "plot_every_s", min=0.0)
        check_bool(self.compile, "compile")
        check_bool(self.progress, "progress")
        check_bool(self.resume, "resume")
        check_choice(self.live_plot, "live_plot", (True, False, "auto"))
        if self.checkpoint_dir is not None:
            if not isinstance(self.checkpoint_dir, (str, os.PathLike)):
                raise TypeError(f"checkpoint_dir must be a folder path (str or Path) or None, "
                                f"got {self.checkpoint_dir!r}")
            if str(self.checkpoint_dir).strip() == "":
                raise ValueError("checkpoint_dir must be a folder path or None (no checkpoints), got '' "
                                 "(which would write into the working directory)")
        if self.device is not None and not isinstance(self.device, (str, torch.device)):
            raise TypeError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or None, got {self.device!r}")

        check_float(self.ema_decay, "ema_decay", min=0.0, max=1.0, max_open=True, allow_none=True,
                    note=" (None: no moving average)")
        self.ema_start_step = check_int(self.ema_start_step, "ema_start_step", min=0)


#: Settings that may differ when a run resumes from a checkpoint. Every other setting
#: (grad_accum_steps, clip_grad_norm, lr_schedule, warmup_steps, min_lr_ratio, log_every,
#: precision, and any setting added later) must equal the checkpoint's, or fit() raises.
RESUMABLE_CHANGES = frozenset({"max_steps", "eval_every", "eval_batches", "progress", "live_plot", "plot_every_s",
                               "checkpoint_dir", "checkpoint_every", "resume", "device", "compile"})


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) tuple, list or dict to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    return batch


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


@dataclass
class _RunningMean:
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[name] = self.counts.get(name, 0) + 1

    def pop(self) -> dict[str, float]:
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = {k: float(v) for k, v in state["sums"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}


def _checked_multiplier(fn: LRMultiplier) -> LRMultiplier:
    """Wrap a learning-rate multiplier so that a negative, NaN or non-numeric value is an error (plain Python)."""
    def multiplier(step: int) -> float:
        m = fn(step)
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m < 0:
            raise ValueError(f"lr_schedule must return a finite number >= 0 (a multiplier of the base learning "
                             f"rate), got {m!r} at step {step}")
        return m
    return multiplier


def _is_endless(data: Any) -> bool:
    """True for the streams known never to end (so ``eval_batches=None`` would loop forever)."""
    return getattr(data, "endless", False) is True or isinstance(data, (itertools.count, itertools.cycle,
                                                                       itertools.repeat))


def _is_one_shot(data: Any) -> bool:
    """True for iterators (generators, ``iter(x)``), which can be iterated only once."""
    try:
        return iter(data) is data
    except TypeError:
        return False
