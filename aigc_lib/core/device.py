"""Choosing a device and making runs reproducible."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from .checks import check_int


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
    if prefer is not None:
        return _parse_device(prefer, "device")
    env = os.environ.get("AIGC_DEVICE")
    if env is not None and env.strip():
        return _parse_device(env.strip(), "environment variable AIGC_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _parse_device(choice: object, name: str) -> torch.device:
    """``choice`` as a usable ``torch.device``; errors name ``name`` (the argument or the variable)."""
    expected = "'cpu', 'cuda', 'cuda:N' or 'mps'"
    if isinstance(choice, torch.device):
        device = choice
    elif isinstance(choice, str) and choice:
        try:
            device = torch.device(choice)
        except RuntimeError:
            raise ValueError(f"{name} must be {expected}, got {choice!r}") from None
    else:
        raise TypeError(f"{name} must be {expected} (a string or torch.device) or None, got {choice!r}")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name} must be {expected}, got {choice!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{name} asks for {str(device)!r}, but torch.cuda.is_available() is False: "
                               f"expected {expected} with a device this machine has")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name} asks for {str(device)!r}, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s): expected cuda:0..cuda:"
                             f"{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{name} asks for 'mps', but torch.backends.mps.is_available() is False: "
                           f"expected {expected} with a device this machine has")
    return device


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and all GPUs).

    Returns a ``torch.Generator`` seeded with the same value, for code that
    prefers an explicit generator over the global one.
    """
    seed = check_int(seed, "seed", min=0, max=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
