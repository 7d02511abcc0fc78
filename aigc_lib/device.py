"""Choosing a device and making runs reproducible."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the fastest available device: CUDA, then Apple MPS, then CPU.

    Args:
        prefer: force a device ("cuda", "mps" or "cpu"). ``None`` picks
            automatically. The environment variable ``AIGC_DEVICE`` overrides
            the automatic choice too.

    Note:
        Apple's MPS backend is known to differ from CPU and CUDA in a few
        places: it has no float64, some operations fall back to the CPU (set
        ``PYTORCH_ENABLE_MPS_FALLBACK=1``), and results are not bit-for-bit
        reproducible even with a fixed seed. Expect losses that match the
        committed outputs only approximately.
    """
    choice = prefer or os.environ.get("AIGC_DEVICE")
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but torch.cuda.is_available() is False")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was requested but torch.backends.mps.is_available() is False")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and all GPUs).

    Returns a ``torch.Generator`` seeded with the same value, for code that
    prefers an explicit generator over the global one.
    """
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
