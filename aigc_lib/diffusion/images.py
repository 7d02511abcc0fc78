"""Pixel ranges: the data loaders give images in [0, 1]; diffusion models work in [-1, 1]."""
from __future__ import annotations

import torch


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1] -> [-1, 1]``: ``2 x - 1`` (noise N(0, I) then has the data's scale)."""
    return images * 2 - 1


def to_image_range(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1] -> [0, 1]``, clamped (what :func:`aigc_lib.evaluation.fid.classifier_fid` expects)."""
    return ((x + 1) / 2).clamp(0, 1)
