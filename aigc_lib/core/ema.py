"""An exponential moving average (EMA) of a model's weights.

After each optimiser step the average moves a little towards the current weights::

    avg <- d * avg + (1 - d) * weights,      d = decay (e.g. 0.999)

so it is a smoothed copy of the last ``~1 / (1 - d)`` steps of training. Diffusion
models sample markedly better from the averaged weights (Ho et al., 2020 use
``d = 0.9999``; Song & Ermon, 2020 explain why). With ``warmup=True`` the decay
starts small, ``d_n = min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so a
short run is not dominated by the random initial weights.

Floating-point buffers (e.g. BatchNorm statistics) are averaged too; other
buffers (integer counters) are copied.

Example::

    ema = EMA(model, decay=0.999)
    for batch in data:
        ...; optimizer.step()
        ema.update(model)
    with ema.average_parameters(model):   # the averaged weights, only inside the block
        samples = sample(model)
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import torch
from torch import nn

from .checks import check_bool, check_int


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


class EMA:
    """Exponential moving average of ``module``'s parameters and buffers.

    Args:
        module: the model whose weights are averaged (the average starts as a copy).
        decay: ``d`` in ``[0, 1)``; larger is smoother (0.999 ~ the last 1,000 steps).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or math.isnan(decay) or not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module (the model to average), got {type(module).__name__}")
        check_bool(warmup, "warmup")
        self.decay, self.warmup = float(decay), warmup
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in _state(module).items()}

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    def _check(self, module: nn.Module) -> dict[str, torch.Tensor]:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be the nn.Module this EMA averages, got {type(module).__name__}")
        state = _state(module)
        if state.keys() != self.shadow.keys():
            missing, extra = sorted(self.shadow.keys() - state.keys()), sorted(state.keys() - self.shadow.keys())
            raise ValueError(f"the module does not match the EMA's weights: missing {missing[:5]}, "
                             f"unexpected {extra[:5]}")
        for k, v in state.items():
            if v.shape != self.shadow[k].shape:
                raise ValueError(f"the module does not match the EMA's weights: {k!r} has shape {tuple(v.shape)}, "
                                 f"the average {tuple(self.shadow[k].shape)}")
        return state

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards ``module``'s current weights (call after each optimiser step)."""
        d = self.current_decay()
        for k, v in self._check(module).items():
            s = self.shadow[k]
            if s.device != v.device:
                s = self.shadow[k] = s.to(v.device)
            if v.is_floating_point():
                s.lerp_(v.detach(), 1.0 - d)
            else:
                s.copy_(v)
        self.num_updates += 1

    @torch.no_grad()
    def reset(self, module: nn.Module) -> None:
        """Restart the average from ``module``'s current weights (the update count is kept)."""
        for k, v in self._check(module).items():
            self.shadow[k] = v.detach().clone()

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Overwrite ``module``'s weights with the averaged ones (for good)."""
        for k, v in self._check(module).items():
            v.copy_(self.shadow[k])

    @contextlib.contextmanager
    def average_parameters(self, module: nn.Module) -> Iterator[nn.Module]:
        """Swap the averaged weights into ``module`` inside a ``with`` block; restore the trained ones after."""
        state = self._check(module)
        backup = {k: v.detach().clone() for k, v in state.items()}
        self.copy_to(module)
        try:
            yield module
        finally:
            with torch.no_grad():
                for k, v in state.items():
                    v.copy_(backup[k])

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights, the decay settings and the update count (tensors and plain values only)."""
        return {"decay": self.decay, "warmup": self.warmup, "num_updates": self.num_updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the whole state is checked before anything is assigned."""
        if not isinstance(state, dict):
            raise TypeError(f"EMA state must be a dict (from EMA.state_dict()), got {type(state).__name__}")
        missing = [k for k in ("shadow", "decay", "warmup", "num_updates") if k not in state]
        if missing:
            raise KeyError(f"EMA state has no {missing} entries (expected the dict of EMA.state_dict())")
        shadow = state["shadow"]
        if not isinstance(shadow, dict) or shadow.keys() != self.shadow.keys():
            got = sorted(shadow)[:5] if isinstance(shadow, dict) else type(shadow).__name__
            raise ValueError(f"EMA state has weights {got}..., this EMA has {sorted(self.shadow)[:5]}...")
        for k, v in shadow.items():
            if not isinstance(v, torch.Tensor) or v.shape != self.shadow[k].shape:
                got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(f"EMA weight {k!r} has shape {got}, expected {tuple(self.shadow[k].shape)}")
        decay = state["decay"]
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA state decay must be a number in [0, 1), got {decay!r}")
        check_bool(state["warmup"], "EMA state warmup")
        num_updates = check_int(state["num_updates"], "EMA state num_updates", min=0)
        for k, v in shadow.items():
            self.shadow[k] = v.to(self.shadow[k].device).clone()
        self.decay, self.warmup = float(decay), state["warmup"]
        self.num_updates = num_updates
