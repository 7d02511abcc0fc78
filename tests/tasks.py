"""Tiny tasks shared by the Trainer tests."""
import torch
from torch import nn

from aigc_lib import Task


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
