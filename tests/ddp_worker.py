"""Run by test_trainer.py under torchrun: train with DDP on CPU (gloo) and save each rank's weights."""
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from aigc_lib import Trainer
from aigc_lib.data import TensorBatches
from tests.tasks import RegressionTask, regression_data


def make_task_and_data():
    torch.manual_seed(0)
    x, y = regression_data(n=128)
    return RegressionTask(dropout=0.0), TensorBatches(x, y, batch_size=16, seed=0)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    task, data = make_task_and_data()
    trainer = Trainer(max_steps=10, progress=False, live_plot=False)
    trainer.fit(task, data)
    assert dist.is_initialized() and dist.get_world_size() == 2, "the Trainer should have joined the process group"
    assert isinstance(trainer.dist.world_size, int) and trainer.dist.world_size == 2
    torch.save(task.state_dict(), out / f"rank{dist.get_rank()}.pt")
    dist.destroy_process_group()
