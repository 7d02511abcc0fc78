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
