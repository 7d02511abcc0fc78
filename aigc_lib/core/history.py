"""A small record of metrics logged during training."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from .checks import check_int


class History:
    """Metric values by name, each a list of ``(step, value)`` pairs.

    >>> h = History(); h.log(10, {"train/loss": 2.5}); h.last("train/loss")
    2.5
    """

    def __init__(self) -> None:
        self._data: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append ``metrics`` (name -> number) at ``step``."""
        step = check_int(step, "step", min=0)
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics must be a dict of name -> number, got {type(metrics).__name__}")
        values = {}
        for name, value in metrics.items():
            if not isinstance(name, str):
                raise TypeError(f"metric names must be strings, got {name!r}")
            try:
                values[name] = float(value)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"metric {name!r} must be a number (or a one-element tensor), got "
                                f"{type(value).__name__} {str(value)[:40]!r}") from None
        for name, value in values.items():
            self._data[name].append((step, value))

    def names(self) -> list[str]:
        return list(self._data)

    def steps(self, name: str) -> list[int]:
        return [s for s, _ in self._get(name)]

    def values(self, name: str) -> list[float]:
        return [v for _, v in self._get(name)]

    def last(self, name: str) -> float:
        series = self._get(name)
        if not series:
            raise KeyError(f"metric {name!r} has no values yet")
        return series[-1][1]

    def _get(self, name: str) -> list[tuple[int, float]]:
        if name not in self._data:
            raise KeyError(f"no metric named {name!r}; logged metrics are {sorted(self._data)}")
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def state_dict(self) -> dict[str, Any]:
        return {name: [list(p) for p in series] for name, series in self._data.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple))
                and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in v) for k, v in state.items()):
            raise TypeError(f"History state must be a dict name -> [(step, value), ...] (from "
                            f"History.state_dict()), got {str(state)[:80]}")
        self._data = defaultdict(list, {k: [(int(s), float(v)) for s, v in series] for k, series in state.items()})

    def __repr__(self) -> str:
        parts = [f"{k}: {len(v)} values (last {v[-1][1]:.4g})" for k, v in self._data.items() if v]
        return "History(" + ", ".join(parts) + ")"
