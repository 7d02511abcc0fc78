"""Stroke tools shared by the caption renderer and the attribute checker.

* :func:`skeletonize`: the thinning of Zhang and Suen (1984), vectorised over a batch
  of binary images: it peels boundary pixels until every stroke is one pixel wide.
* :func:`render_strokes`: draws a skeleton again with a chosen pen radius (anti-aliased),
  so that "thin" and "thick" are a known transform, not a guess.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _neighbours(img: np.ndarray) -> list[np.ndarray]:
    """The eight neighbours P2..P9 (north, then clockwise) of every pixel of ``(N, H, W)``."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    return [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
            p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]


def skeletonize(binary: np.ndarray, max_iterations: int = 100) -> np.ndarray:
    """One-pixel-wide skeletons of binary images ``(N, H, W)`` (Zhang and Suen thinning).

    Returns a bool array of the same shape.
    """
    img = np.asarray(binary).astype(np.uint8).copy()
    if img.ndim != 3:
        raise ValueError(f"skeletonize expects binary images (N, H, W), got shape {img.shape}")
    for _ in range(max_iterations):
        changed = False
        for step in (0, 1):
            n = _neighbours(img)
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            b = sum(x.astype(np.int16) for x in n)
            seq = n + [p2]
            a = sum(((seq[i] == 0) & (seq[i + 1] == 1)).astype(np.int16) for i in range(8))
            if step == 0:
                c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                c = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            break
    return img.astype(bool)


def render_strokes(skeleton: np.ndarray, radius: float) -> np.ndarray:
    """Draw each skeleton ``(H, W)`` bool with a round pen of ``radius`` pixels: float ``(H, W)`` in [0, 1].

    A pixel's value is ``clip(radius + 0.5 - d, 0, 1)``, ``d`` its distance to the nearest skeleton
    pixel, so the stroke is about ``2 * radius + 1`` pixels wide with soft edges.
    """
    if not skeleton.any():
        return np.zeros(skeleton.shape, dtype=np.float32)
    d = ndimage.distance_transform_edt(~skeleton)
    return np.clip(radius + 0.5 - d, 0.0, 1.0).astype(np.float32)
