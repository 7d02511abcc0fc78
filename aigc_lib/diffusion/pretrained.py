"""The course's class-conditional MNIST diffusion model and its shipped weights.

The model is a small :class:`~aigc_lib.diffusion.unet.UNet` (:func:`mnist_unet_config`)
trained as a DDPM (ε-prediction, cosine schedule with 1,000 steps) on the
4,000 training digits of the offline MNIST subset, with the labels dropped to
the null class 20 % of the time, so that one network gives unconditional
samples (label ``None``/10), conditional ones, and classifier-free guidance.

Its weights (the EMA of the training run) ship as
``aigc_lib/data/files/mnist_ddpm_unet.pt`` and are checked against
:data:`WEIGHTS_SHA256` when loaded. They were made with
``python scripts/train_diffusion_mnist.py`` (seeded; see its docstring for
the command and the time it took).

Sampling advice (measured on the shipped weights, see ``scripts/check_diffusion_targets.py``):
use ``clip_x0=1.0``; ancestral DDPM sampling and DDIM with ``eta=1`` give clean digits,
while deterministic DDIM (``eta=0``) still drifts (grey backgrounds) with this small,
briefly trained model (6,500 steps of batch 64); label accuracy reaches 0.99 at guidance scale 3.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.download import verify
from .schedules import NoiseSchedule
from .tasks import DDPMTask
from .unet import UNet, UNetConfig

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "files" / "mnist_ddpm_unet.pt"
#: sha256 of the shipped weights; :func:`load_mnist_diffusion` refuses any other file.
WEIGHTS_SHA256 = "ddd23afffa194e175355332e19ed38606505f186ee17357a5f42401fb402c694"
#: how the shipped weights were trained (shown in chapter 9's table of generators).
TRAINING_RECORD = {"steps": 6500, "batch_size": 64, "device": "cpu",
                   "note": "one thread of the shared 2-core course machine: 5,000 steps in 2,620 s, "
                           "then resumed to 6,500 steps (time of the last 1,500 not recorded)"}
#: probability of the null class during training.
LABEL_DROPOUT = 0.2


def mnist_unet_config() -> UNetConfig:
    """The U-Net of the shipped model: 28x28 -> 2x2 patches -> 14x14 (16 ch) -> 7x7 (32 ch, attention), 10 classes."""
    return UNetConfig(in_channels=1, image_size=28, base_channels=16, channel_mults=(1, 2), num_res_blocks=1,
                      attention_levels=(1,), num_heads=4, num_classes=10, patch_size=2, groups=8)


def mnist_schedule() -> NoiseSchedule:
    """The cosine schedule with 1,000 steps used for the shipped model."""
    return NoiseSchedule.cosine(1000)


def make_mnist_ddpm_task(lr: float = 2e-3, label_dropout: float = LABEL_DROPOUT) -> DDPMTask:
    """A fresh :class:`DDPMTask` with the shipped model's network, schedule, label dropout and learning rate."""
    return DDPMTask(UNet(mnist_unet_config()), mnist_schedule(), lr=lr, label_dropout=label_dropout)


def load_mnist_diffusion(path: str | Path | None = None, sha256: str | None = WEIGHTS_SHA256,
                         device: torch.device | str = "cpu") -> UNet:
    """Load the shipped MNIST U-Net (or ``path``) in evaluation mode after checking its sha256.

    Raises:
        aigc_lib.data.ChecksumError: the file is not the expected one.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    if sha256:
        verify(path, sha256, "sha256")
    model = UNet(mnist_unet_config())
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()
