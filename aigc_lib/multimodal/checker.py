"""An attribute checker: does a 32x32 image show what its caption says?

* **digit**: the chapter-6 MNIST classifier, on the digit cropped to its box (pixels
  above ``ink_threshold``), rescaled so that its longer side is 20 pixels and centred by
  its centre of ink on a 28x28 canvas, as MNIST itself was prepared;
* **size**: the longer side of the box: ``large`` from 16 pixels up;
* **position**: the centre of ink (first image moments), nearest of the five points;
* **thickness**: ink per stroke length on the 28x28 crop: the sum of pixel values
  divided by the pixel count of its skeleton (:func:`~aigc_lib.multimodal.strokes.skeletonize`);
  ``thick`` above :data:`THICKNESS_THRESHOLD` pixels.

Its accuracy on real captioned images (:func:`checker_ceiling`) is the best a
generator can score with it.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.checks import check_float, check_tensor
from ..evaluation.mnist_classifier import load_mnist_classifier, predict
from .captions import ATTRIBUTES, IMAGE_SIZE, POSITION_CENTRES, CaptionedMNIST
from .strokes import skeletonize

#: Boxes whose longer side has at least this many pixels are "large".
SIZE_THRESHOLD = 16
#: Stroke width (pixels on the 28x28 crop) above which a digit is "thick".
THICKNESS_THRESHOLD = 3.3


def check_canvas_images(images: torch.Tensor, name: str = "images") -> None:
    """Raise unless ``images`` is float ``(N, 1, 32, 32)`` with values in [0, 1]."""
    check_tensor(images, name, ndim=4, kind="float", shape_hint=f"(N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}) in [0, 1]")
    if tuple(images.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{name} must have shape (N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(images.shape)}")
    if images.numel() and not (-1e-3 <= float(images.min()) and float(images.max()) <= 1 + 1e-3):
        raise ValueError(f"{name} must hold values in [0, 1], got [{float(images.min()):.2f}, "
                         f"{float(images.max()):.2f}] (NaN shows as nan)")


def normalise_digits(images: torch.Tensor, ink_threshold: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop each digit to its box and centre it as MNIST does.

    Returns ``(crops, box_side)``: ``(N, 1, 28, 28)`` in [0, 1] and the longer side of each box
    ``(N,)`` in pixels (0 for an empty image).
    """
    out = torch.zeros(len(images), 1, 28, 28)
    sides = torch.zeros(len(images), dtype=torch.long)
    for i, img in enumerate(images[:, 0].detach().float().cpu()):
        on = img > ink_threshold
        if not on.any():
            continue
        rows, cols = on.any(1).nonzero(), on.any(0).nonzero()
        crop = img[int(rows.min()):int(rows.max()) + 1, int(cols.min()):int(cols.max()) + 1]
        h, w = crop.shape
        sides[i] = max(h, w)
        scale = 20 / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        crop = F.interpolate(crop[None, None], size=(nh, nw), mode="bilinear", antialias=True,
                             align_corners=False)[0, 0].clamp(0, 1)
        mass = crop.sum()
        r = float((crop.sum(1) * torch.arange(nh)).sum() / mass) if mass > 0 else nh / 2
        c = float((crop.sum(0) * torch.arange(nw)).sum() / mass) if mass > 0 else nw / 2
        top, left = min(max(round(14 - r), 0), 28 - nh), min(max(round(14 - c), 0), 28 - nw)
        out[i, 0, top:top + nh, left:left + nw] = crop
    return out, sides


def stroke_width(crops: torch.Tensor) -> torch.Tensor:
    """Ink per stroke length ``(N,)`` of normalised crops ``(N, 1, 28, 28)``: sum of values / skeleton pixels."""
    skel = torch.from_numpy(skeletonize(crops[:, 0].numpy() > 0.5)).sum((1, 2)).clamp(min=1)
    return crops.sum((1, 2, 3)) / skel


def ink_centres(images: torch.Tensor) -> torch.Tensor:
    """Centre of ink ``(N, 2)`` (row, column) of ``(N, 1, H, W)`` images; the canvas centre if empty."""
    x = images[:, 0].detach().float().cpu()
    mass = x.sum((1, 2))
    h, w = x.shape[1:]
    r = (x.sum(2) * torch.arange(h)).sum(1) / mass.clamp(min=1e-8)
    c = (x.sum(1) * torch.arange(w)).sum(1) / mass.clamp(min=1e-8)
    empty = mass <= 1e-8
    r[empty], c[empty] = (h - 1) / 2, (w - 1) / 2
    return torch.stack([r, c], 1)


class AttributeChecker:
    """Measure digit, size, thickness and position of 32x32 images (see the module notes)."""

    def __init__(self, classifier=None, ink_threshold: float = 0.3) -> None:
        self.classifier = classifier if classifier is not None else load_mnist_classifier()
        self.ink_threshold = check_float(ink_threshold, "ink_threshold", min=0.0, max=1.0, min_open=True,
                                         max_open=True)

    @torch.no_grad()
    def measure(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Attribute indices measured on ``images`` ``(N, 1, 32, 32)`` in [0, 1]: a dict of int64 ``(N,)``."""
        check_canvas_images(images)
        if len(images) == 0:
            raise ValueError("measure needs at least one image, got an empty tensor")
        crops, sides = normalise_digits(images, self.ink_threshold)
        centres = torch.tensor(POSITION_CENTRES)
        dist = torch.cdist(ink_centres(images), centres)
        return {"digit": predict(self.classifier, crops),
                "size": (sides >= SIZE_THRESHOLD).long(),
                "thickness": (stroke_width(crops) > THICKNESS_THRESHOLD).long(),
                "position": dist.argmin(1)}

    def agreement(self, images: torch.Tensor, attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-attribute match ``(N,)`` bool with the intended ``attributes`` ``(N, 4)``, plus ``"all"``.

        ``attributes`` holds digit, size, thickness, position indices (:meth:`CaptionedMNIST.attributes`).
        """
        check_tensor(attributes, "attributes", ndim=2, kind="int", shape_hint="(N, 4) attribute indices")
        if tuple(attributes.shape) != (len(images), 4):
            raise ValueError(f"attributes must have shape ({len(images)}, 4) for {len(images)} images, "
                             f"got {tuple(attributes.shape)}")
        measured = self.measure(images)
        out = {a: measured[a] == attributes[:, j].cpu() for j, a in enumerate(ATTRIBUTES)}
        out["all"] = torch.stack([out[a] for a in ATTRIBUTES], 1).all(1)
        return out


def checker_ceiling(checker: AttributeChecker, data: CaptionedMNIST) -> dict[str, float]:
    """Share of real captioned images on which the checker agrees with the caption, per attribute and ``"all"``."""
    return {k: float(v.float().mean()) for k, v in checker.agreement(data.images, data.attributes()).items()}
