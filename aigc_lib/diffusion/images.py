"""Pixel ranges: the data loaders give images in [0, 1]; diffusion models work in [-1, 1]."""
from __future__ import annotations

import torch

from ..core.checks import check_tensor


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1] -> [-1, 1]``: ``2 x - 1`` (noise N(0, I) then has the data's scale)."""
    check_tensor(images, "images", kind="float", shape_hint="of grey values in [0, 1]")
    if images.numel() == 0:
        raise ValueError("images must not be empty, got an empty tensor")
    if not bool(((images >= 0) & (images <= 1)).all()):
        bad = "NaN" if bool(images.isnan().any()) else f"values in {float(images.min()):g}..{float(images.max()):g}"
        raise ValueError(f"images must hold grey values in [0, 1], got {bad}")
    return images * 2 - 1


def to_image_range(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1] -> [0, 1]``, clamped (what :func:`aigc_lib.evaluation.fid.classifier_fid` expects)."""
    check_tensor(x, "x", kind="float", shape_hint="of samples in [-1, 1]")
    if x.numel() == 0:
        raise ValueError("x must not be empty, got an empty tensor")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"x holds {'NaN' if bool(x.isnan().any()) else 'an infinite value'}: the samples are "
                         f"not usable (did the model or the sampler diverge?)")
    return ((x + 1) / 2).clamp(0, 1)
