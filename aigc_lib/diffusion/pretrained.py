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

Sampling advice: use ``clip_x0=1.0``. Measured at the end of the training run (1,000 samples,
classifier FID against the 1,000 test digits of the offline subset): ancestral DDPM-1000,
unconditional, 99.1; guided DDIM-50 (``eta=1``) label accuracy 0.910 at guidance scale 1 and
1.000 at scale 3. Chapters 8 and 9 print the numbers of their own runs.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..core.checks import check_device, check_sha256
from ..data.download import verify
from .schedules import NoiseSchedule
from .tasks import DDPMTask
from .unet import UNet, UNetConfig

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "files" / "mnist_ddpm_unet.pt"
#: sha256 of the shipped weights; :func:`load_mnist_diffusion` refuses any other file.
WEIGHTS_SHA256 = "113ec1d3cc88fdd0c1c7b6dae438c11631e2daec63e4473c1598485845fc9146"
#: how the shipped weights were trained (shown in chapter 9's table of generators).
TRAINING_RECORD = {"steps": 8250, "batch_size": 1024, "device": "cuda", "train_seconds": 328.0,
                   "note": "one NVIDIA H200 (bf16 autocast), the GPU to itself: 8,250 steps in 328 s "
                           "(2026-11-29; lr 2e-3, EMA 0.999, label dropout 0.2)"}
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

    The checksum is never optional: ``sha256=None`` or ``""`` is an error. For
    weights you trained yourself, pass ``sha256=aigc_lib.data.file_hash(path)``.

    Raises:
        aigc_lib.data.ChecksumError: the file is not the expected one.
    """
    if path is not None and (not isinstance(path, (str, os.PathLike)) or str(path) == ""):
        raise TypeError(f"path must be a weights file (str or Path) or None (the shipped weights), got {path!r}")
    path = Path(path) if path is not None else WEIGHTS_PATH
    sha256 = check_sha256(sha256)
    device = check_device(device)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    verify(path, sha256, "sha256")
    model = UNet(mnist_unet_config())
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 - not a state dict of this U-Net
        raise ValueError(f"{path} is not the weights of chapter 8's MNIST U-Net (mnist_unet_config()): "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    return model.to(device).eval()
