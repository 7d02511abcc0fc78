"""The contract between a model and the Trainer.

A *task* is an ``nn.Module`` that holds the model(s) being trained and says
three things:

* ``configure_optimizers()``: one optimiser, or a dict of named optimisers.
  The dict's order is the order in which they step, e.g. ``{"D": ..., "G": ...}``
  for a GAN whose discriminator steps first.
* ``training_loss(batch, optimizer_name)``: the loss to minimise with that
  optimiser, as a scalar tensor or a dict with a ``"loss"`` entry plus extra
  metrics to log.
* ``validation_metrics(batch)`` (optional): a dict of numbers on held-out data.

``forward`` calls ``training_loss``, so that ``DistributedDataParallel`` and
``torch.compile`` wrap exactly the computation whose gradients are needed.
"""
from __future__ import annotations

import dataclasses
import functools
import types
from typing import Any, Callable

import torch
from torch import nn

Batch = Any
LossOutput = torch.Tensor | dict[str, torch.Tensor]


class Task(nn.Module):
    """Base class for everything the :class:`~aigc_lib.core.trainer.Trainer` trains."""

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, torch.optim.Optimizer]:
        raise NotImplementedError(f"{type(self).__name__} must define configure_optimizers()")

    def training_loss(self, batch: Batch, optimizer_name: str) -> LossOutput:
        raise NotImplementedError(f"{type(self).__name__} must define training_loss(batch, optimizer_name)")

    def validation_metrics(self, batch: Batch) -> dict[str, float | torch.Tensor]:
        """Metrics on one held-out batch; by default the training loss of the first optimiser."""
        out = self.training_loss(batch, next(iter(self._optimizer_names())))
        loss = out["loss"] if isinstance(out, dict) else out
        return {"loss": loss}

    def optimizer_schedule(self, step: int) -> list[str] | None:
        """Which optimisers step at ``step``, in order. ``None`` means all of them, in dict order.

        A WGAN critic that steps five times per generator step returns
        ``["critic"] * 5 + ["generator"]``.
        """
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap each subclass's ``__init__`` so that the signature is taken once the task is built.

        Counters or caches that a task changes while it trains then never make
        a resumed run look like another task.
        """
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_takes_signature", False):
            return

        @functools.wraps(init)
        def __init__(self: "Task", *args: Any, **kw: Any) -> None:
            outermost = not getattr(self, "_building", False)
            if outermost:
                object.__setattr__(self, "_building", True)
            try:
                init(self, *args, **kw)
            finally:
                if outermost:
                    object.__setattr__(self, "_building", False)
            if outermost:
                try:
                    object.__setattr__(self, "_signature_at_init", self.config_signature())
                except Exception:  # noqa: BLE001 - the Trainer computes it again and reports the error
                    object.__setattr__(self, "_signature_at_init", None)

        __init__._takes_signature = True
        cls.__init__ = __init__

    #: public attributes that may differ when a run resumes; :meth:`config_signature` leaves them out.
    resume_may_differ: frozenset[str] = frozenset()

    def config_signature(self) -> dict[str, Any]:
        """The task's class and hyper-parameters as ``{name: plain value}``: what must not change on resume.

        The Trainer stores it in every checkpoint and refuses to resume a task
        whose signature differs, naming each difference: a run resumed with
        another noise schedule, ``time_scale`` or objective would not equal the
        uninterrupted one.

        The default works for every subclass, with no code of its own. It holds
        ``"class"`` (the class name) and ``"classes"`` (it and its Task bases: a
        subclass that only adds behaviour, e.g. stopping at a given step, may
        resume its base's run and the reverse, when the hyper-parameters they
        share agree); every public attribute of the task whose
        value is None, a bool, int, float or str, or a list/tuple/dict of them
        (``lr``, ``beta``, ``time_scale``, ``betas``, ...); for an attribute
        with a ``config_signature()`` of its own (such as a
        :class:`~aigc_lib.diffusion.schedules.NoiseSchedule`), its entries as
        ``"name.key"``; a function attribute (``loss_fn``) by its qualified
        name; and the dataclass ``config`` of each direct sub-module
        (``"model.config.hidden"``). Tensors, weights (checked when they are
        loaded) and other objects are left out.

        A task adds more by overriding it::

            def config_signature(self):
                return {**super().config_signature(), "data": self.data_name}

        and leaves out public attributes that may change between runs by
        listing them in :attr:`resume_may_differ`.
        """
        from .resume import _NOT_PLAIN, plain_value

        bases = [c.__qualname__ for c in type(self).__mro__ if issubclass(c, Task) and c is not Task]
        sig: dict[str, Any] = {"class": type(self).__qualname__, "classes": bases}
        skip = {"training"} | set(self.resume_may_differ)
        for name, value in vars(self).items():
            if name.startswith("_") or name in skip:
                continue
            plain = plain_value(value)
            if plain is not _NOT_PLAIN:
                sig[name] = plain
            elif callable(getattr(value, "config_signature", None)) and not isinstance(value, nn.Module):
                sig.update({f"{name}.{k}": v for k, v in value.config_signature().items()})
            elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
                sig[name] = f"{value.__module__}.{value.__qualname__}"
        for name, child in self.named_children():
            config = getattr(child, "config", None)
            if name in skip or not dataclasses.is_dataclass(config) or isinstance(config, type):
                continue
            for f in dataclasses.fields(config):
                plain = plain_value(getattr(config, f.name))
                if plain is not _NOT_PLAIN:
                    sig[f"{name}.config.{f.name}"] = plain
        return sig

    def forward(self, batch: Batch, optimizer_name: str = "main") -> LossOutput:
        return self.training_loss(batch, optimizer_name)

    def _optimizer_names(self) -> list[str]:
        names = getattr(self, "_trainer_optimizer_names", None)
        return names or ["main"]


class SupervisedTask(Task):
    """The common case: one model, one loss function, one optimiser.

    Args:
        model: maps inputs ``x`` to predictions.
        loss_fn: ``loss_fn(prediction, target) -> scalar tensor``.
        optimizer: a function ``params -> Optimizer``, e.g.
            ``lambda p: torch.optim.AdamW(p, lr=1e-3)``.

    Batches are ``(x, y)`` pairs.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        optimizer: Callable[[Any], torch.optim.Optimizer],
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be a function (prediction, target) -> scalar tensor, "
                            f"got {type(loss_fn).__name__}")
        if not callable(optimizer) or isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a function params -> Optimizer, e.g. "
                            f"lambda p: torch.optim.AdamW(p, lr=1e-3), got {type(optimizer).__name__}")
        self.model = model
        self.loss_fn = loss_fn
        self._make_optimizer = optimizer

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self._make_optimizer(self.model.parameters())

    def training_loss(self, batch: Batch, optimizer_name: str = "main") -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"SupervisedTask expects batches (x, y), got "
                            f"{type(batch).__name__}{f' of length {len(batch)}' if isinstance(batch, (tuple, list)) else ''}")
        x, y = batch
        return self.loss_fn(self.model(x), y)
