"""One training loop for every model in the course.

The Trainer owns the loop; the task (see :mod:`aigc_lib.core.task`) owns the
model, its optimisers and its losses. The loop does, at every step and for
each optimiser in the task's order (a GAN's discriminator before its
generator):

1. zero the gradients,
2. for each of ``grad_accum_steps`` micro-batches: compute the loss (under
   bf16 autocast on GPUs with native bf16), stop with :class:`NonFiniteLossError` if it is
   NaN or infinite, and back-propagate ``loss / grad_accum_steps``,
3. clip the gradient norm (optional), step the optimiser and its
   learning-rate schedule.

Around that it evaluates every ``eval_every`` steps, logs to
:class:`~aigc_lib.core.history.History`, draws a progress bar and a live loss
plot, and writes atomic checkpoints from which an interrupted run resumes
exactly (on CPU: bit-for-bit the same weights as an uninterrupted run).
"""
from __future__ import annotations

import contextlib
import itertools
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from . import distributed
from .checkpoint import (CheckpointError, get_rng_state, load_checkpoint, remove_stale_temp_files, save_checkpoint,
                         set_rng_state)
from .lock import acquire_lock, release_lock
from .progress import progress_bar
from .resume import optimizer_classes, optimizer_differences, signature_differences, task_signature
from .device import get_device
from .ema import EMA
from .history import History
from .schedule import LRMultiplier, constant, warmup_cosine
from .smoke import SMOKE_MAX_STEPS, is_smoke
from .task import Task
from .trainer_config import (NonFiniteLossError, RESUMABLE_CHANGES, TrainerConfig, _RunningMean, _checked_multiplier,
                             _in_notebook, _is_endless, _is_one_shot, move_to_device)


class Trainer:
    """Trains a :class:`~aigc_lib.core.task.Task`.

    Example::

        trainer = Trainer(max_steps=500, lr_schedule="cosine", warmup_steps=50, eval_every=100)
        history = trainer.fit(task, train_batches, val_batches)

    Args:
        config: a :class:`TrainerConfig`; keyword arguments override its fields.

    Checkpoints and resuming. With ``checkpoint_dir`` set, ``fit()`` checks at
    its start that the folder can be written and takes a lock file
    (``checkpoint_dir/.lock`` with the process id): a second run pointed at
    the same folder gets a clear error, and a lock left by a process that no
    longer runs is taken over. A checkpoint holds the weights, optimiser and
    schedule states, random-number states, the data position, the history
    and the running means of the metrics not yet logged, so a resumed run
    logs the same history and reaches the same weights as an uninterrupted
    one. Its SHA-256 checksum is verified on loading.

    When ``fit()`` resumes, these settings may differ from the checkpoint's:
    ``max_steps`` (not below the checkpoint's step; with ``lr_schedule="cosine"``
    it must stay the same, since it shapes the schedule), ``eval_every``,
    ``eval_batches``, ``checkpoint_every``, ``checkpoint_dir``, ``resume``,
    ``device``, ``compile``, ``progress``, ``live_plot`` and ``plot_every_s``.
    Any other setting that differs (for example ``grad_accum_steps``,
    ``clip_grad_norm``, ``lr_schedule``, ``warmup_steps``, ``log_every``,
    ``precision``), or an optimiser hyper-parameter that differs (the base
    learning rate, weight decay, betas, ...), raises ``ValueError`` naming it:
    the resumed run could not equal the uninterrupted one. (A function passed
    as ``lr_schedule`` cannot be compared and is not checked.) So does another
    optimiser class, or another task: the checkpoint stores the task's
    :meth:`~aigc_lib.core.task.Task.config_signature` (its class and
    hyper-parameters, e.g. a diffusion task's noise schedule and
    ``time_scale``), and every difference is named. A data stream
    whose position the checkpoint lacks (or the reverse) gives a warning.

    A write that fails (disk full) raises :class:`CheckpointError` naming the
    file; the previous checkpoint stays intact, and ``fit()`` resumes from it.
    Pass ``resume=False`` to start afresh and overwrite the checkpoint.

    One Trainer trains one task: calling ``fit()`` with another task after
    training has begun raises ``RuntimeError``; make a new Trainer.
    """

    def __init__(self, config: TrainerConfig | None = None, **overrides: Any) -> None:
        if config is not None and not isinstance(config, TrainerConfig):
            raise TypeError(f"config must be a TrainerConfig or None (settings can also be given as keyword "
                            f"arguments: Trainer(max_steps=100)), got {type(config).__name__}")
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = TrainerConfig(**base)
        self.history = History()
        self.step = 0
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.task: Task | None = None
        self.device: torch.device = get_device(self.config.device)
        self.dist = distributed.DistInfo()
        self._running = _RunningMean()
        #: the :class:`~aigc_lib.core.ema.EMA` of the task's weights when ``ema_decay`` is set, else ``None``.
        self.ema: EMA | None = None
        self._task_signature: dict[str, Any] = {}
        self._saved_step: int | None = None       # the step of the last checkpoint this run wrote or loaded

    # ------------------------------------------------------------------ setup
    @property
    def max_steps(self) -> int:
        """The step budget of this run (capped in smoke mode)."""
        return min(self.config.max_steps, SMOKE_MAX_STEPS) if is_smoke() else self.config.max_steps

    def _lr_multiplier(self) -> LRMultiplier:
        schedule = self.config.lr_schedule
        if callable(schedule):
            return _checked_multiplier(schedule)
        if schedule == "cosine":
            return warmup_cosine(self.config.warmup_steps, self.max_steps, self.config.min_lr_ratio)
        if self.config.warmup_steps > 0:
            return warmup_cosine(self.config.warmup_steps, self.config.warmup_steps, 1.0)
        return constant()

    def _setup(self, task: Task) -> None:
        """Move the task to the device and build its optimisers (once per task)."""
        if task is self.task:
            return
        if self.task is not None and self.step > 0:
            raise RuntimeError(f"this Trainer has already trained another task (to step {self.step}); one "
                               f"Trainer trains one task: make a new Trainer for {type(task).__name__}")
        if not isinstance(task, nn.Module) or not hasattr(task, "training_loss"):
            raise TypeError(
                f"Trainer.fit expects a Task (an nn.Module with configure_optimizers and training_loss), "
                f"got {type(task).__name__}"
            )
        signature = task_signature(task)
        self.dist = distributed.init_from_env(self.device.type)
        if self.dist.is_distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        task.to(self.device)
        opts = task.configure_optimizers()
        if isinstance(opts, torch.optim.Optimizer):
            opts = {"main": opts}
        if not isinstance(opts, dict) or not opts or not all(isinstance(o, torch.optim.Optimizer) for o in opts.values()):
            raise TypeError(f"configure_optimizers must return an Optimizer or a non-empty dict of them, got {opts!r}")
        self.optimizers = dict(opts)
        task._trainer_optimizer_names = list(self.optimizers)
        multiplier = self._lr_multiplier()
        self.schedulers = {n: torch.optim.lr_scheduler.LambdaLR(o, multiplier) for n, o in self.optimizers.items()}
        self.task = task
        self._task_signature = signature
        self.ema = EMA(task, self.config.ema_decay) if self.config.ema_decay is not None else None

    def _autocast(self) -> contextlib.AbstractContextManager:
        p = self.config.precision
        use_bf16 = p == "bf16" or (p == "auto" and self.device.type == "cuda"
                                   and torch.cuda.is_bf16_supported(including_emulation=False))
        if use_bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------- checkpoints
    def state_dict(self, train_data: Any = None) -> dict[str, Any]:
        """Everything needed to continue this run exactly."""
        assert self.task is not None, "call fit() first"
        config = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                  for k, v in asdict(self.config).items()}
        state = {
            "step": self.step,
            "task": self.task.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "rng": get_rng_state(),
            "history": self.history.state_dict(),
            "running_means": self._running.state_dict(),
            # The run's settings: the Trainer's, the task's signature and the optimisers' classes.
            "config": {**config, "task_signature": self._task_signature,
                       "optimizer_classes": optimizer_classes(self.optimizers)},
        }
        if train_data is not None and hasattr(train_data, "state_dict"):
            state["train_data"] = train_data.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], train_data: Any = None) -> None:
        assert self.task is not None, "call _setup() first"
        missing = [k for k in ("step", "task", "optimizers", "schedulers", "rng", "history") if k not in state]
        if missing:
            raise KeyError(f"the checkpoint has no {missing} entries")
        if set(state["optimizers"]) != set(self.optimizers):
            raise ValueError(
                f"checkpoint has optimisers {sorted(state['optimizers'])}, the task has {sorted(self.optimizers)}"
            )
        self.task.load_state_dict(state["task"])
        for n, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][n])
            self.schedulers[n].load_state_dict(state["schedulers"][n])
        self.step = int(state["step"])
        self.history.load_state_dict(state["history"])
        self._running = _RunningMean()
        if "running_means" in state:
            self._running.load_state_dict(state["running_means"])
        set_rng_state(state["rng"])
        if train_data is not None and "train_data" in state and hasattr(train_data, "load_state_dict"):
            train_data.load_state_dict(state["train_data"])
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:
                print("The checkpoint has no EMA weights; the average starts from the resumed weights.",
                      file=sys.stderr)
                self.ema.reset(self.task)

    def _check_resume_settings(self, state: dict[str, Any], path: Path, train_data: Any) -> None:
        """Raise ``ValueError`` for settings that must not change on resume (see the class docstring)."""
        stored = state.get("config", {})
        current = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                   for k, v in asdict(self.config).items()}
        changed = []
        for k, v in current.items():
            if k not in stored or k in RESUMABLE_CHANGES:
                continue
            if k == "lr_schedule" and callable(self.config.lr_schedule):
                continue
            if stored[k] != v:
                changed.append(f"{k}: checkpoint {stored[k]!r}, now {v!r}")
        if (self.config.lr_schedule == "cosine" and stored.get("lr_schedule") == "cosine"
                and "max_steps" in stored and stored["max_steps"] != self.config.max_steps):
            changed.append(f"max_steps (shapes the cosine schedule): checkpoint {stored['max_steps']!r}, "
                           f"now {self.config.max_steps!r}")
        changed += optimizer_differences(state, self.optimizers)
        if isinstance(stored.get("task_signature"), dict):
            changed += signature_differences(stored["task_signature"], self._task_signature)
        else:
            warnings.warn(f"{path} holds no signature of its task (it was written by an older aigc_lib), so "
                          f"resuming cannot check that it belongs to a {type(self.task).__name__} with the same "
                          f"hyper-parameters", stacklevel=3)
        if changed:
            raise ValueError(f"cannot resume from {path}: these settings differ from the checkpoint's, so the "
                             f"resumed run could not equal the uninterrupted one:\n  " + "\n  ".join(changed)
                             + "\nUse the checkpoint's settings, or pass resume=False (or another checkpoint_dir) "
                               "to start a new run.")
        stored_step = int(state["step"])
        if self.config.max_steps < stored_step:
            raise ValueError(f"cannot resume from {path}: it is at step {stored_step}, but max_steps="
                             f"{self.config.max_steps} is smaller. Raise max_steps, or pass resume=False "
                             f"(or another checkpoint_dir) to start a new run.")
        has_pos = hasattr(train_data, "load_state_dict")
        if has_pos and "train_data" not in state:
            warnings.warn(f"{path} holds no position of the training data (it was written with another kind of "
                          f"train_data), so {type(train_data).__name__} starts from its beginning: the resumed "
                          f"run will not see the same batches as an uninterrupted one", stacklevel=3)
        elif not has_pos and "train_data" in state:
            warnings.warn(f"{path} holds a position of the training data, but {type(train_data).__name__} has no "
                          f"load_state_dict, so the position is not restored: the resumed run will not see the "
                          f"same batches as an uninterrupted one", stacklevel=3)

    def _prepare_checkpoint_dir(self) -> Path | None:
        """Check at the start of fit() that the checkpoint folder can be written, and lock it (main process)."""
        d = self.config.checkpoint_dir
        if d is None or not self.dist.is_main:
            return None
        folder = Path(d)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = acquire_lock(folder)
        except CheckpointError:
            raise
        except OSError as e:
            raise CheckpointError(f"checkpoint_dir {folder} cannot be written ({type(e).__name__}: "
                                  f"{e.strerror or e}): expected a writable folder (or checkpoint_dir=None for "
                                  f"no checkpoints)") from None
        remove_stale_temp_files(folder / "last.pt")
        return lock

    @property
    def checkpoint_path(self) -> Path | None:
        d = self.config.checkpoint_dir
        return Path(d) / "last.pt" if d is not None else None

    def save(self, train_data: Any = None) -> Path | None:
        """Write ``checkpoint_dir/last.pt`` atomically (main process only)."""
        path = self.checkpoint_path
        if path is None or not self.dist.is_main:
            return None
        try:
            saved = save_checkpoint(self.state_dict(train_data), path)
        except CheckpointError as e:
            cause = e.__cause__
            if self._saved_step is not None and isinstance(cause, OSError) and path.is_file():
                why = cause.strerror or str(cause)
                raise CheckpointError(f"could not write checkpoint {path} at step {self.step} ({why}); the previous "
                                      f"checkpoint (step {self._saved_step}) is intact. Free space (or fix the "
                                      f"folder) and call fit() again to resume from it") from cause
            raise
        self._saved_step = self.step
        return saved

    # -------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, task: Task, val_data: Iterable) -> dict[str, float]:
        """Average ``task.validation_metrics`` over ``eval_batches`` batches of ``val_data``.

        A stateful loader (one with ``state_dict``) is rewound afterwards, so
        every evaluation sees the same batches.
        """
        if self.task is None:
            self._setup(task)
        elif task is not self.task:
            task.to(self.device)
        n = self.config.eval_batches
        self._check_val_data(val_data)
        saved = val_data.state_dict() if hasattr(val_data, "state_dict") else None
        if n is not None and is_smoke():
            n = min(n, 2)
        was_training = task.training
        task.eval()
        sums: dict[str, float] = {}
        count = 0
        try:
            for batch in itertools.islice(iter(val_data), n):
                with self._autocast():
                    metrics = task.validation_metrics(move_to_device(batch, self.device))
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                count += 1
        finally:
            task.train(was_training)
            if saved is not None:
                val_data.load_state_dict(saved)
        if count == 0:
            raise ValueError("val_data gave no batches: expected a non-empty, re-iterable set of batches "
                             "(a list, a TensorBatches(..., repeat=False), a DataLoader)")
        return distributed.all_reduce_mean({k: v / count for k, v in sums.items()}, self.dist, self.device)

    def _check_val_data(self, val_data: Any) -> None:
        if val_data is None:
            return
        if _is_one_shot(val_data):
            raise TypeError(f"val_data must be re-iterable (a list, TensorBatches(..., repeat=False), a "
                            f"DataLoader), got {type(val_data).__name__}, an iterator that can be read only "
                            f"once: every evaluation would see other batches, and later ones none")
        if self.config.eval_batches is None and _is_endless(val_data):
            raise ValueError(f"eval_batches=None evaluates on the whole validation set, but val_data "
                             f"({type(val_data).__name__}) never ends: expected a finite val_data (e.g. "
                             f"TensorBatches(..., repeat=False) or RandomWindows(..., num_batches=20)) or "
                             f"eval_batches set to a number")

    # ---------------------------------------------------------------- training
    def fit(self, task: Task, train_data: Iterable, val_data: Iterable | None = None) -> History:
        """Train ``task`` on batches drawn from ``train_data`` until ``max_steps``.

        Args:
            task: the :class:`~aigc_lib.core.task.Task` to train.
            train_data: an iterable of batches. It is iterated as long as
                needed (restarted when it ends). A loader with
                ``state_dict``/``load_state_dict`` (such as
                :class:`aigc_lib.data.TensorBatches`) is checkpointed too,
                which makes resumed runs exact; with ``torchrun`` its
                ``shard(rank, world_size)`` is called so each process sees
                different data.
            val_data: optional batches for :meth:`evaluate`.

        Returns:
            The :class:`~aigc_lib.core.history.History` of logged metrics.
        """
        cfg = self.config
        self._setup(task)
        self._check_val_data(val_data)
        if train_data is None or not hasattr(train_data, "__iter__"):
            raise TypeError(f"train_data must be an iterable of batches (e.g. TensorBatches, a list, a "
                            f"DataLoader), got {type(train_data).__name__}")
        lock = self._prepare_checkpoint_dir()
        try:
            return self._fit(task, train_data, val_data)
        finally:
            if lock is not None:
                release_lock(lock.parent)

    def _fit(self, task: Task, train_data: Iterable, val_data: Iterable | None) -> History:
        cfg = self.config
        if self.dist.is_distributed and hasattr(train_data, "shard"):
            train_data.shard(self.dist.rank, self.dist.world_size)
        path = self.checkpoint_path
        if path is not None and cfg.resume and path.is_file():
            state = load_checkpoint(path, map_location=self.device)
            self._check_resume_settings(state, path, train_data)
            try:
                self.load_state_dict(state, train_data)
            except (KeyError, ValueError, RuntimeError) as e:   # e.g. a model of another size
                cls = next(c for c in (KeyError, ValueError, RuntimeError) if isinstance(e, c))
                raise cls(f"cannot resume from {path}: the checkpoint does not fit this task (was it written "
                          f"for another model? use another checkpoint_dir, delete the file, or pass "
                          f"resume=False):\n{e}") from e
            self._saved_step = self.step
            if self.dist.is_main:
                print(f"Resumed from {path} at step {self.step}.", file=sys.stderr)
        elif path is not None and self.step < self.max_steps:
            # A checkpoint of the starting point: a run interrupted before its first periodic checkpoint
            # (or in the middle of a step) then resumes exactly too, never from a half-done step.
            self.save(train_data)

        step_module: nn.Module = task
        ddp: nn.parallel.DistributedDataParallel | None = None
        if self.dist.is_distributed:
            ddp = nn.parallel.DistributedDataParallel(
                task,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=len(self.optimizers) > 1,
            )
            step_module = ddp
        if cfg.compile:
            step_module = torch.compile(step_module)

        total = self.max_steps
        if self.step >= total:
            warnings.warn(f"fit() has nothing to do: the run is at step {self.step} and max_steps={total}; "
                          f"raise max_steps to train longer", stacklevel=3)
        show = self.dist.is_main
        bar = progress_bar(total=total, initial=self.step, disable=not (show and cfg.progress),   # in a notebook:
                           file=sys.stdout, dynamic_ncols=True, desc="training")   # one line, updated in place
        plot = None
        if show and (cfg.live_plot is True or (cfg.live_plot == "auto" and _in_notebook())):
            from .plotting import LiveLossPlot
            plot = LiveLossPlot(self.history, every_s=cfg.plot_every_s)

        batches = self._endless(train_data)
        running = self._running
        single = list(self.optimizers) == ["main"]
        task.train()
        t0 = time.perf_counter()
        try:
            while self.step < total:
                micro = [move_to_device(next(batches), self.device) for _ in range(cfg.grad_accum_steps)]
                order = task.optimizer_schedule(self.step) or list(self.optimizers)
                step_stats = [(name, self._optimizer_step(step_module, ddp, name, micro)) for name in order]
                for name, stats in step_stats:      # added only once the whole step is done
                    for k, v in stats.items():
                        running.add(k if single else f"{name}_{k}", v)
                self.step += 1
                if self.ema is not None:
                    if self.step > cfg.ema_start_step:
                        self.ema.update(task)
                    else:
                        self.ema.reset(task)
                last = self.step == total
                if self.step % cfg.log_every == 0 or last:
                    metrics = {f"train/{k}": v for k, v in running.pop().items()}
                    for n, s in self.schedulers.items():
                        metrics["lr" if single else f"lr/{n}"] = s.get_last_lr()[0]
                    self.history.log(self.step, metrics)
                    loss_key = "train/loss" if single else None
                    if loss_key in metrics:
                        bar.set_postfix(loss=f"{metrics[loss_key]:.4f}", refresh=False)
                if val_data is not None and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
                    val = self.evaluate(task, val_data)
                    self.history.log(self.step, {f"val/{k}": v for k, v in val.items()})
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and not last:
                    self.save(train_data)
                bar.update(1)
                if plot is not None:
                    plot.update()
        except KeyboardInterrupt:
            if show and path is not None:
                print(f"\nInterrupted at step {self.step}. The last checkpoint is {path}; "
                      f"call fit() again to resume from it.", file=sys.stderr)
            raise
        finally:
            bar.close()
            if plot is not None:
                plot.close()
        if path is not None and total > 0:
            self.save(train_data)
        self.seconds = time.perf_counter() - t0
        return self.history

    def _optimizer_step(self, step_module: nn.Module, ddp: Any, name: str, micro: list) -> dict[str, float]:
        """Gradients over the micro-batches, then one step of optimiser ``name``."""
        cfg = self.config
        opt = self.optimizers.get(name)
        if opt is None:
            raise KeyError(f"optimizer_schedule named {name!r}, but the task's optimisers are {list(self.optimizers)}")
        assert self.task is not None
        self.task.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        n = len(micro)
        for i, batch in enumerate(micro):
            sync = ddp.no_sync() if (ddp is not None and i < n - 1) else contextlib.nullcontext()
            with sync:
                with self._autocast():
                    try:
                        out = step_module(batch, name)
                    except RuntimeError as e:       # e.g. a batch whose shape the model does not take
                        if type(e) is not RuntimeError:     # out-of-memory and other subclasses keep their type
                            raise
                        raise RuntimeError(f"the task's training_loss failed at step {self.step} for optimizer "
                                           f"{name!r} on a batch of {_describe(batch)}: {e}") from e
                if isinstance(out, dict) and "loss" not in out:
                    raise KeyError(f"training_loss returned a dict without a 'loss' entry (keys: {sorted(out)}) "
                                   f"for optimizer {name!r}; put the loss to minimise under 'loss'")
                loss, extra = (out["loss"], out) if isinstance(out, dict) else (out, {"loss": out})
                if not isinstance(loss, torch.Tensor):
                    raise TypeError(f"training_loss must return a scalar tensor (or a dict with one under 'loss'), "
                                    f"got {type(loss).__name__} for optimizer {name!r}; do not call .item() on it")
                if not loss.requires_grad:
                    raise ValueError(f"the loss for optimizer {name!r} does not require grad: it was detached, "
                                     f"computed under torch.no_grad(), or does not depend on the parameters")
                if loss.ndim != 0:
                    raise ValueError(f"training_loss must return a scalar, got shape {tuple(loss.shape)} "
                                     f"for optimizer {name!r}")
                if not torch.isfinite(loss.detach()):
                    raise NonFiniteLossError(
                        f"non-finite loss ({loss.item()}) at step {self.step} for optimizer {name!r} "
                        f"(micro-batch {i}). Try a lower learning rate, gradient clipping "
                        f"(clip_grad_norm) or check the data for NaN/inf values."
                    )
                (loss / n).backward()
            for k, v in extra.items():
                v = v.detach().float() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
                sums[k] = sums.get(k, 0.0) + v / n
        if cfg.clip_grad_norm is not None:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            sums["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm).detach()
        opt.step()
        self.schedulers[name].step()
        return {k: float(v) for k, v in sums.items()}

    @staticmethod
    def _endless(data: Iterable) -> Iterator:
        """Iterate ``data`` forever, restarting it when it ends."""
        passes = 0
        while True:
            empty = True
            for batch in data:
                empty = False
                yield batch
            if empty and passes == 0:
                raise ValueError("train_data produced no batches: expected a non-empty iterable of batches")
            if empty:
                raise ValueError(f"train_data ({type(data).__name__}) ran out and cannot be restarted: an "
                                 f"iterator or generator can be read only once. Expected a re-iterable "
                                 f"(a list, TensorBatches, a DataLoader) or an endless generator")
            passes += 1


def _describe(batch: Any) -> str:
    """The shapes and dtypes of a batch, for error messages: ``(x (8, 3) float32, y (8, 1) float32)``."""
    if isinstance(batch, torch.Tensor):
        return f"{tuple(batch.shape)} {str(batch.dtype).replace('torch.', '')}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(_describe(b) for b in batch) + ")"
    if isinstance(batch, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in batch.items()) + "}"
    return type(batch).__name__
