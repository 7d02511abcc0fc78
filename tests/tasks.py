"""Tiny tasks shared by the Trainer tests, and the interrupt-then-resume run they compare."""
import pytest
import torch
from torch import nn

from aigc_lib import Task, Trainer
from aigc_lib.data import TensorBatches


class RegressionTask(Task):
    """A small MLP with dropout, trained with AdamW on MSE: exercises RNG, optimiser state, schedules."""

    def __init__(self, d_in: int = 4, hidden: int = 16, lr: float = 1e-2, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.lr = lr

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=0.01)

    def training_loss(self, batch, optimizer_name="main"):
        x, y = batch
        return nn.functional.mse_loss(self.net(x).squeeze(-1), y)


def regression_data(n: int = 256, d_in: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g)
    w = torch.randn(d_in, generator=g)
    y = x @ w + 0.1 * torch.randn(n, generator=g)
    return x, y


class InterruptedTask(RegressionTask):
    """Raises KeyboardInterrupt (as Ctrl-C would) on its n-th loss computation."""

    resume_may_differ = frozenset({"calls", "interrupt_at_call"})   # test machinery, not settings

    def config_signature(self):
        # The run is resumed with a plain RegressionTask: the interruption is not part of the task.
        return {**super().config_signature(), "class": "RegressionTask"}

    def __init__(self, interrupt_at_call: int):
        super().__init__()
        self.calls, self.interrupt_at_call = 0, interrupt_at_call

    def training_loss(self, batch, optimizer_name="main"):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        return super().training_loss(batch)


def full_and_resumed_runs(cfg: dict, checkpoint_dir, interrupt_at_call: int, resume_seed: int,
                          after_interrupt=None):
    """Train once without a break, and once interrupted at ``interrupt_at_call`` then resumed.

    The resumed run is a new process in all but name: new task object, new data stream, the RNG
    reseeded with ``resume_seed``. ``after_interrupt(checkpoint_dir)`` may inspect the checkpoint left
    by the interruption. Returns ``(full_trainer, full_task, resumed_trainer, resumed_task)``.
    """
    x, y = regression_data()
    torch.manual_seed(1)
    full_task = RegressionTask()
    full = Trainer(**cfg)
    full.fit(full_task, TensorBatches(x, y, batch_size=16, seed=3))

    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(**cfg, checkpoint_dir=checkpoint_dir, checkpoint_every=5).fit(
            InterruptedTask(interrupt_at_call), TensorBatches(x, y, batch_size=16, seed=3))
    if after_interrupt is not None:
        after_interrupt(checkpoint_dir)

    torch.manual_seed(resume_seed)
    resumed_task = RegressionTask()
    resumed = Trainer(**cfg, checkpoint_dir=checkpoint_dir, checkpoint_every=5)
    resumed.fit(resumed_task, TensorBatches(x, y, batch_size=16, seed=3))
    return full, full_task, resumed, resumed_task
