"""What a resumed run must share with its checkpoint: the task's signature and the optimisers' classes.

The :class:`~aigc_lib.core.trainer.Trainer` stores, in every checkpoint, the
task's :meth:`~aigc_lib.core.task.Task.config_signature` (its class and
hyper-parameters) and the class of each optimiser. On resume it compares them
with the current run and refuses a difference, naming it: a run resumed with
another noise schedule, ``time_scale``, objective or optimiser would not equal
the uninterrupted one.
"""
from __future__ import annotations

import math
from typing import Any

import torch

_NOT_PLAIN = object()


def plain_value(value: Any, depth: int = 0) -> Any:
    """``value`` as a checkpoint-safe plain value (tuples become lists), or ``_NOT_PLAIN``.

    Plain: ``None``, bool, int, float, str, and lists/tuples/str-keyed dicts of them (three levels deep).
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (tuple, list)) and depth < 3:
        items = [plain_value(v, depth + 1) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    if isinstance(value, dict) and depth < 3 and all(isinstance(k, str) for k in value):
        out = {k: plain_value(v, depth + 1) for k, v in value.items()}
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in out.values()) else out
    return _NOT_PLAIN


def task_signature(task: Any) -> dict[str, Any]:
    """``task.config_signature()`` as it was when the task was built (checked to be a dict of plain values)."""
    snapshot = getattr(task, "_signature_at_init", None)
    make = (lambda: snapshot) if snapshot is not None else getattr(task, "config_signature", None)
    if make is None:                       # an nn.Module with the Task methods but not a Task subclass
        return {"class": type(task).__qualname__}
    sig = make()
    if not isinstance(sig, dict) or not all(isinstance(k, str) for k in sig):
        raise TypeError(f"{type(task).__name__}.config_signature() must return a dict with str keys, "
                        f"got {type(sig).__name__}")
    bad = [k for k, v in sig.items() if plain_value(v) is _NOT_PLAIN]
    if bad:
        raise TypeError(f"{type(task).__name__}.config_signature() must hold plain values (None, bool, int, "
                        f"float, str, lists/dicts of them), but {bad[0]!r} is a {type(sig[bad[0]]).__name__}")
    return {k: plain_value(v) for k, v in sig.items()}


def signature_differences(stored: dict[str, Any], current: dict[str, Any], prefix: str = "task ") -> list[str]:
    """``"task key: checkpoint A, now B"`` for every entry that differs (floats to a relative 1e-9).

    The classes must be the same, or one a subclass of the other (``"classes"`` lists each task's class and its
    bases): a subclass that only adds behaviour, such as stopping at a given step, may resume its base's run and
    the reverse. Then only the hyper-parameters that both have are compared.
    """
    old_cls, new_cls = stored.get("class"), current.get("class")
    old_mro, new_mro = stored.get("classes") or [old_cls], current.get("classes") or [new_cls]
    if old_cls != new_cls and old_cls not in new_mro and new_cls not in old_mro:
        return [f"{prefix}class: checkpoint {old_cls!r}, now {new_cls!r}"]
    same_class = old_cls == new_cls
    out = []
    for key in list(stored) + [k for k in current if k not in stored]:
        if key in ("class", "classes") or (not same_class and (key not in stored or key not in current)):
            continue
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if not _same(a, b):
            out.append(f"{prefix}{key}: checkpoint {a!r}, now {b!r}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    numbers = (int, float)
    if (isinstance(a, float) or isinstance(b, float)) and isinstance(a, numbers) and isinstance(b, numbers) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return type(a) is type(b) and a == b


def optimizer_classes(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, str]:
    return {name: type(opt).__qualname__ for name, opt in optimizers.items()}


def optimizer_differences(state: dict[str, Any], optimizers: dict[str, torch.optim.Optimizer]) -> list[str]:
    """Differences in the optimisers' classes and hyper-parameters between a checkpoint and the current run.

    The base learning rate is compared through ``initial_lr`` (the schedule changes ``lr``). A hyper-parameter
    present on one side only counts as a difference when the classes are unknown (an older checkpoint); for
    the same class it comes from another torch version and is ignored.
    """
    changed = []
    stored_classes = state.get("config", {}).get("optimizer_classes", {})
    current_classes = optimizer_classes(optimizers)
    for name, opt in optimizers.items():
        old_cls, new_cls = stored_classes.get(name), current_classes[name]
        if old_cls is not None and old_cls != new_cls:
            changed.append(f"optimizer {name!r}: checkpoint {old_cls}, now {new_cls}")
            continue
        saved_groups = state.get("optimizers", {}).get(name, {}).get("param_groups", [])
        for i, (old, new) in enumerate(zip(saved_groups, opt.param_groups)):
            where = f"optimizer {name!r}" + (f" group {i}" if len(opt.param_groups) > 1 else "")
            if old_cls is None:
                only_old = sorted(set(old) - set(new) - {"params"})
                only_new = sorted(set(new) - set(old) - {"params", "initial_lr"})
                if only_old or only_new:
                    changed.append(f"{where}: the checkpoint's optimiser has settings {only_old}, this one "
                                   f"{only_new} (another optimiser class?)")
                    continue
            for key, new_v in new.items():
                if key in ("params", "lr") or key not in old:
                    continue
                if _norm(old[key]) != _norm(new_v):
                    what = "learning rate" if key == "initial_lr" else key
                    changed.append(f"{what} of {where}: checkpoint {old[key]!r}, now {new_v!r}")
    return changed


def _norm(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_norm(t) for t in x]
    if isinstance(x, (int, float, torch.Tensor)) and not isinstance(x, bool):
        return float(x)
    return x
