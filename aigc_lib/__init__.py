"""aigc_lib: the tested helper library of the course *AIGC from Scratch*.

Plain PyTorch; importable outside the book. The most used names are
re-exported here::

    from aigc_lib import Trainer, Task, seed_everything, get_device

The library is grouped by the book's parts, one sub-package per part:
:mod:`aigc_lib.core` (the Trainer and what it needs; chapter 1),
:mod:`aigc_lib.transformer` (chapters 2-3), :mod:`aigc_lib.lm` (chapters 4-5),
:mod:`aigc_lib.gan` (chapter 6), :mod:`aigc_lib.vae` (chapter 7),
:mod:`aigc_lib.diffusion` (chapters 8-9), :mod:`aigc_lib.evaluation` (the MNIST
classifier and FID, chapters 6-9), :mod:`aigc_lib.generators` (the course's
trained generators) and :mod:`aigc_lib.data` (data sets).
"""
from .core.checkpoint import load_checkpoint, save_checkpoint
from .core.device import get_device, seed_everything
from .core.history import History
from .core.smoke import budget, is_smoke
from .core.task import SupervisedTask, Task
from .core.trainer import Trainer
from .core.trainer_config import NonFiniteLossError, TrainerConfig

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
    from .core.plotting import use_course_style

    seed_everything(seed)
    use_course_style()
    return get_device()
