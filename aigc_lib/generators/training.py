"""Train one of the course's generators by its registered stages (:func:`train_course_generator`).

Each stage of a :class:`~aigc_lib.generators.specs.GeneratorSpec` names its task,
its steps, its batch size and its Trainer settings; :func:`training_setup` builds
the model and the stages, :func:`train_course_generator` runs them with
:class:`aigc_lib.Trainer`.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from ..core.checks import check_bool, check_float, check_int, check_tensor
from ..data.batches import TensorBatches
from ..diffusion.images import to_model_range
from ..core.schedule import warmup_cosine
from .specs import IMAGE_SHAPE, Stage, get_spec


def training_setup(name: str, model: nn.Module | None = None) -> tuple[nn.Module, tuple[Stage, ...]]:
    """``(model, stages)``: the module to train and its recipe; ``stage.make_task(model)`` gives each Task."""
    spec = get_spec(name)
    if not spec.stages:
        raise ValueError(f"{name!r} is not trained here: the DDPM weights come from "
                         f"python scripts/train_diffusion_mnist.py (see aigc_lib.diffusion.pretrained)")
    return (model if model is not None else spec.build()), spec.stages


class _AdjustableCosine:
    """``warmup_cosine(warmup, total)`` whose ``total`` may shrink during training (to fit a time budget)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        return warmup_cosine(min(self.warmup, max(self.total - 1, 0)), max(self.total, 1))(step)


def _schedule(stage: Stage, total: int) -> tuple[dict[str, Any], _AdjustableCosine | None]:
    kw = dict(stage.trainer)
    schedule = None
    if kw.get("lr_schedule") == "cosine":
        schedule = _AdjustableCosine(kw.pop("warmup_steps", 0), total)
        kw["lr_schedule"] = schedule
    return kw, schedule


def train_course_generator(name: str, images: torch.Tensor, labels: torch.Tensor, device: str | torch.device = "cpu",
                           steps_scale: float = 1.0, max_steps: int | None = None, time_budget_s: float | None = None,
                           seed: int = 0, chunk: int = 250, log: Callable[[str], None] = print,
                           chapter_steps: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``name`` with its recipe on ``images`` ``(N, 1, 28, 28)`` in [0, 1] and ``labels`` ``(N,)``.

    Args:
        steps_scale: multiply every stage's steps (``0.01``: a quick check); at least 1 step each.
        max_steps: cap every stage at this many steps (a smoke test).
        time_budget_s: seconds for the whole model, shared by its stages in proportion to their
            steps. After each chunk the stage's plan shrinks (or grows back, up to its planned steps)
            to what the latest chunk's speed allows in the time left, and the cosine learning-rate
            schedule follows the new plan; a stage past its budget stops. The steps actually done
            are recorded.
        seed: seeds torch before building the model and each stage's batches.
        chunk: steps between progress lines (and time-budget checks).
        log: where progress lines go.
        chapter_steps: train each stage for the steps its chapter uses (``Stage.chapter_steps``;
            stages a chapter does not train keep ``Stage.steps``), before ``steps_scale``.

    Returns:
        ``(model in eval mode, info)`` with ``info`` holding steps, batch sizes, seconds, device.
    """
    from ..core.device import seed_everything
    from ..core.trainer import Trainer

    check_tensor(images, "images", ndim=4, kind="float", shape_hint="(N, 1, 28, 28) in [0, 1]")
    check_tensor(labels, "labels", ndim=1, kind="int", shape_hint="(N,)")
    if tuple(images.shape[1:]) != IMAGE_SHAPE or labels.shape[0] != images.shape[0]:
        raise ValueError(f"images must be (N, 1, 28, 28) and labels (N,), got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}")
    steps_scale = check_float(steps_scale, "steps_scale", min=0.0, min_open=True)
    max_steps = check_int(max_steps, "max_steps", min=1, allow_none=True)
    time_budget_s = check_float(time_budget_s, "time_budget_s", min=0.0, min_open=True, allow_none=True)
    chunk = check_int(chunk, "chunk", min=1)
    seed_everything(seed)
    model, stages = training_setup(name)
    model = model.to(device)
    check_bool(chapter_steps, "chapter_steps")
    planned = [max(1, round((s.chapter_steps if chapter_steps and s.chapter_steps > 0 else s.steps) * steps_scale))
               for s in stages]
    if max_steps is not None:
        planned = [min(p, max_steps) for p in planned]
    info: dict[str, Any] = {"name": name, "stages": [], "device": str(device), "seed": seed}
    t_model = time.perf_counter()
    for stage, total in zip(stages, planned):
        seed_everything(seed + 1)
        if stage.before is not None:
            stage.before(model, images)
        task = stage.make_task(model)
        x = images if stage.data_range == "unit" else to_model_range(images)
        data = TensorBatches(x, labels, batch_size=stage.batch_size, seed=seed) if stage.labels else \
            TensorBatches(x, batch_size=stage.batch_size, seed=seed)
        kw, lr_schedule = _schedule(stage, total)
        trainer = Trainer(max_steps=0, device=str(device), progress=False, live_plot=False, log_every=50, **kw)
        planned_total = total
        budget = None if time_budget_s is None else time_budget_s * total / sum(planned)
        t0 = time.perf_counter()
        while trainer.step < total:
            t_chunk, s_chunk = time.perf_counter(), trainer.step
            trainer.config.max_steps = min(total, trainer.step + chunk)
            trainer.fit(task, data)
            elapsed = time.perf_counter() - t0
            rate = (time.perf_counter() - t_chunk) / max(trainer.step - s_chunk, 1)
            last = {k.split("/", 1)[1]: v for k, v in _last_metrics(trainer).items()}
            shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
            log(f"[{name}/{stage.name}] step {trainer.step}/{total}: {shown} | {elapsed:.0f} s "
                f"({rate * 1000:.1f} ms/step in the last chunk)")
            if budget is None or trainer.step >= total:
                continue
            if elapsed > budget:
                log(f"[{name}/{stage.name}] time budget of {budget:.0f} s used: stopping at step {trainer.step}")
                break
            # Fit the plan to the budget at the latest chunk's speed, so that the learning-rate schedule
            # still ends (cosine decay over the steps that will actually run).
            affordable = min(planned_total, trainer.step + int((budget - elapsed) / rate))
            if affordable != total:
                log(f"[{name}/{stage.name}] {rate * 1000:.1f} ms/step, {budget - elapsed:.0f} s of the "
                    f"{budget:.0f} s budget left: plan {total} -> {affordable} steps")
                total = max(trainer.step, affordable)
                if lr_schedule is not None:
                    lr_schedule.total = total
        if stage.use_ema and trainer.ema is not None:
            trainer.ema.copy_to(task)
        info["stages"].append({"stage": stage.name, "steps": trainer.step, "planned_steps": planned_total,
                               "batch_size": stage.batch_size, "seconds": round(time.perf_counter() - t0, 1),
                               "chapter_steps": stage.chapter_steps,
                               "precision": trainer.config.precision, "ema": stage.use_ema})
    info["train_seconds"] = round(time.perf_counter() - t_model, 1)
    info["steps"] = sum(s["steps"] for s in info["stages"])
    info["batch_size"] = stages[-1].batch_size
    if name == "latent":
        info["latent_scale"] = float(model.latent_scale)
    return model.eval(), info


def _last_metrics(trainer: Any) -> dict[str, float]:
    """The last logged training metrics (``train/...``) of a Trainer's history."""
    out: dict[str, float] = {}
    for key in trainer.history.names():
        if key.startswith("train/") and not key.startswith("train/lr"):
            try:
                out[key] = float(trainer.history.last(key))
            except (KeyError, ValueError, TypeError):
                pass
    return out
