"""aigc_lib: the tested helper library of the course *AIGC from Scratch*.

Plain PyTorch; importable outside the book. The most used names are
re-exported here::

    from aigc_lib import Trainer, Task, seed_everything, get_device
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .device import get_device, seed_everything
from .history import History
from .smoke import budget, is_smoke
from .task import SupervisedTask, Task
from .trainer import NonFiniteLossError, Trainer, TrainerConfig

__version__ = "0.1.0"

__all__ = [
    "load_checkpoint", "save_checkpoint", "get_device", "seed_everything", "History", "budget", "is_smoke",
    "SupervisedTask", "Task", "NonFiniteLossError", "Trainer", "TrainerConfig", "setup_notebook",
]


def setup_notebook(seed: int = 0):
    """Seed every generator, apply the plot style, and return the device to use.

    The first code cell of each chapter calls it::

        device = aigc_lib.setup_notebook(seed=0)
    """
    from .plotting import use_course_style

    seed_everything(seed)
    use_course_style()
    return get_device()
