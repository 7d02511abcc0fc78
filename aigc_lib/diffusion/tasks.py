"""Trainer tasks (:class:`aigc_lib.core.task.Task`) for diffusion and flow-matching models.

Batches are data ``x`` ``(B, ...)`` (images scaled to [-1, 1], see
:func:`~aigc_lib.diffusion.images.to_model_range`, or 2-D points) or
``(x, y)`` pairs with integer labels ``y`` ``(B,)``. A class-conditional model
(``model.num_classes > 0``) gets the labels with each replaced by the null class
with probability ``label_dropout`` (classifier-free guidance training); an
unconditional model ignores them. The random times and noise come from
torch's global generator, which the Trainer's checkpoints save, so resumed
runs are exact.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.checks import check_float
from ..core.task import Task
from .ddpm import ddpm_loss
from .flow_matching import check_time_scale, flow_matching_loss
from .forward import check_schedule
from .guidance import drop_labels
from .schedules import NoiseSchedule


class _DenoiserTask(Task):
    def __init__(self, model: nn.Module, lr: float, weight_decay: float, label_dropout: float) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a denoising network (an nn.Module such as a UNet or MLPDenoiser), "
                            f"got {model!r} ({type(model).__name__})")
        label_dropout = check_float(label_dropout, "label_dropout", min=0.0, max=1.0)
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.model, self.lr, self.weight_decay, self.label_dropout = model, lr, weight_decay, label_dropout
        self.num_classes = int(getattr(model, "num_classes", 0))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def _denoiser(self, batch: Any, drop: bool):
        """The data ``x`` and a callable ``(x_t, t) -> prediction`` that closes over the (dropped) labels."""
        if isinstance(batch, (tuple, list)):
            x, y = batch[0], batch[1]
        else:
            x, y = batch, None
        if not self.num_classes:
            return x, lambda xt, t: self.model(xt, t)
        if y is None:
            raise ValueError(f"this model is class-conditional (num_classes={self.num_classes}): "
                             f"batches must be (x, y) pairs")
        if drop and self.label_dropout > 0:
            y = drop_labels(y, self.label_dropout, self.num_classes)
        return x, lambda xt, t: self.model(xt, t, y)


class DDPMTask(_DenoiserTask):
    """Trains an ε-prediction denoiser with :func:`~aigc_lib.diffusion.ddpm.ddpm_loss`.

    Args:
        model: a :class:`~aigc_lib.diffusion.unet.UNet` or :class:`~aigc_lib.diffusion.mlp.MLPDenoiser`.
        schedule: the noise schedule.
        lr, weight_decay: AdamW settings.
        label_dropout: probability of the null class for a conditional model (0.1 is usual).

    Logged metric: ``loss`` (mean squared error of the noise prediction).
    """

    def __init__(self, model: nn.Module, schedule: NoiseSchedule, lr: float = 1e-3, weight_decay: float = 0.0,
                 label_dropout: float = 0.1) -> None:
        super().__init__(model, lr, weight_decay, label_dropout)
        self.schedule = check_schedule(schedule)

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> torch.Tensor:
        x, denoiser = self._denoiser(batch, drop=True)
        return ddpm_loss(denoiser, self.schedule, x)


class FlowMatchingTask(_DenoiserTask):
    """Trains a velocity model with :func:`~aigc_lib.diffusion.flow_matching.flow_matching_loss`.

    Args:
        model: a :class:`~aigc_lib.diffusion.unet.UNet` or :class:`~aigc_lib.diffusion.mlp.MLPDenoiser`.
        lr, weight_decay: AdamW settings.
        label_dropout: probability of the null class for a conditional model.
        time_scale: the network sees ``time_scale * t`` (see :mod:`~aigc_lib.diffusion.flow_matching`).
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0, label_dropout: float = 0.1,
                 time_scale: float = 1000.0) -> None:
        super().__init__(model, lr, weight_decay, label_dropout)
        self.time_scale = check_time_scale(time_scale)

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> torch.Tensor:
        x, denoiser = self._denoiser(batch, drop=True)
        return flow_matching_loss(denoiser, x, time_scale=self.time_scale)
