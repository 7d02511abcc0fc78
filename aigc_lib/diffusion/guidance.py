"""Classifier-free guidance (Ho & Salimans, 2022).

One network learns both a conditional prediction ``eps(x, t, y)`` and an
unconditional one ``eps(x, t, null)``: during training each label is replaced
by a *null class* with probability ``p`` (:func:`drop_labels`). At sampling
time the two predictions are combined as

    eps_guided = eps_u + w (eps_c - eps_u)

(:func:`guided_prediction`). ``w = 0`` is the unconditional model, ``w = 1``
the conditional one, and ``w > 1`` pushes samples towards what makes the label
likely: clearer digits, less variety. The same formula works for velocities of
a flow model.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..core.checks import check_callable, check_float, check_generator, check_int


def _check_labels(y: torch.Tensor, num_classes: int, name: str = "y", allow_null: bool = True) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.dtype == torch.bool or y.is_floating_point():
        kind = y.dtype if isinstance(y, torch.Tensor) else type(y).__name__
        raise TypeError(f"{name} must be an integer tensor of class labels, got {kind}")
    top = num_classes if allow_null else num_classes - 1
    if y.numel() and (int(y.min()) < 0 or int(y.max()) > top):
        raise ValueError(f"{name} must be in 0..{top}" + (f" ({num_classes} = the null class)" if allow_null else "")
                         + f", got values in {int(y.min())}..{int(y.max())}")
    return y


def check_guidance_scale(scale: float, name: str = "guidance scale") -> float:
    """Return ``scale`` as a float after checking that it is a finite number >= 0."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (0: unconditional, 1: conditional), got {scale!r}")
    return float(scale)


def drop_labels(y: torch.Tensor, p: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels ``(B,)`` with each one replaced by ``null_label`` with probability ``p`` (for CFG training)."""
    p = check_float(p, "p", min=0.0, max=1.0, note=" (the label dropout probability)")
    null_label = check_int(null_label, "null_label", min=1, note=" (the null class = the number of classes)")
    check_generator(generator)
    _check_labels(y, null_label)
    if y.ndim != 1:
        raise ValueError(f"y must be labels (B,), got shape {tuple(y.shape)}")
    gen_device = generator.device if generator is not None else y.device
    drop = (torch.rand(y.shape, generator=generator, device=gen_device) < p).to(y.device)
    return torch.where(drop, torch.full_like(y, null_label), y)


def guided_prediction(pred_cond: torch.Tensor, pred_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """``pred_uncond + scale * (pred_cond - pred_uncond)``, shapes equal."""
    scale = check_guidance_scale(scale, "guidance scale (scale)")
    for name, p in (("pred_cond", pred_cond), ("pred_uncond", pred_uncond)):
        if not isinstance(p, torch.Tensor) or not p.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got "
                            f"{p.dtype if isinstance(p, torch.Tensor) else type(p).__name__}")
        if not bool(torch.isfinite(p).all()):
            raise ValueError(f"{name} holds NaN or infinite values: expected a finite prediction")
    if pred_cond.shape != pred_uncond.shape:
        raise ValueError(f"conditional and unconditional predictions differ in shape: {tuple(pred_cond.shape)} "
                         f"vs {tuple(pred_uncond.shape)}")
    return pred_uncond + scale * (pred_cond - pred_uncond)


def classifier_free_guidance(model: Callable[..., torch.Tensor], y: torch.Tensor, scale: float,
                             null_label: int | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A denoiser ``(x, t) -> guided prediction`` for a class-conditional ``model(x, t, y)``.

    Both predictions come from one forward pass on a doubled batch ``[x, x]`` with
    labels ``[y, null]``. Pass the result to any sampler, e.g.
    ``ddim_sample(classifier_free_guidance(unet, labels, 3.0), schedule, (len(labels), 1, 28, 28))``.

    Args:
        model: a conditional network with a null class (``model.num_classes`` classes,
            null label ``model.num_classes``), e.g. a :class:`~aigc_lib.diffusion.unet.UNet`.
        y: labels ``(B,)`` in ``0 .. num_classes - 1``.
        scale: the guidance scale ``w >= 0``.
        null_label: defaults to ``model.num_classes``.
    """
    scale = check_guidance_scale(scale, "guidance scale (scale)")
    check_callable(model, "model", "a class-conditional network model(x, t, y)")
    if null_label is None:
        null_label = getattr(model, "num_classes", 0)
        if not null_label:
            raise ValueError("classifier-free guidance needs a class-conditional model (num_classes > 0) "
                             "or an explicit null_label")
    _check_labels(y, null_label, allow_null=False)
    null = torch.full_like(y, null_label)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"got {x.shape[0]} samples but {y.shape[0]} labels")
        both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]).to(x.device))
        cond, uncond = both.chunk(2)
        return guided_prediction(cond, uncond, scale)

    return guided
