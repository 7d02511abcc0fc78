"""Classifier features of image sets, with the reference splits' features computed once and cached.

Every distance in this package (FID, FID∞, KID) compares two sets of features, ``(N, F)`` float64 arrays
of the course classifier's 64 ReLU features (:meth:`MNISTClassifier.features`). Generated images are
turned into features once (:func:`classifier_features`); a reference split of real digits (``"test"`` or
``"train"``) is turned into features once per process (:func:`reference_features`) and then reused by every
row of a chapter's table.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.checks import check_int, check_tensor
from .mnist_classifier import MNISTClassifier, load_mnist_classifier

__all__ = ["classifier_features", "reference_features", "clear_reference_cache"]

_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


@torch.no_grad()
def classifier_features(model: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """``(N, 1, 28, 28)`` images in [0, 1] -> ``(N, F)`` float64 features of ``model``."""
    check_tensor(images, "images", shape_hint="(N, 1, 28, 28) with values in [0, 1]")
    batch_size = check_int(batch_size, "batch_size", min=1)
    if len(images) == 0:
        raise ValueError("classifier_features needs at least one image, got an empty tensor")
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.features(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)]).double().numpy()


def reference_features(split: str = "test", model: MNISTClassifier | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, F)`` and labels ``(N,)`` of every digit of a split of the offline MNIST subset.

    Computed with the shipped classifier (or ``model``) on the first call for a split and cached for the
    process: a chapter that scores ten generators against the test digits runs the classifier over them
    once. The arrays are read-only so that no caller can change the cache.
    """
    from ..data import load_mnist

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    key = (split, id(model) if model is not None else "shipped")
    if key not in _CACHE:
        data = load_mnist(split)
        feats = classifier_features(model if model is not None else load_mnist_classifier(device="cpu"), data.images)
        labels = data.labels.numpy().copy()
        feats.setflags(write=False)
        labels.setflags(write=False)
        _CACHE[key] = (feats, labels)
    return _CACHE[key]


def clear_reference_cache() -> None:
    """Forget the cached reference features (e.g. after loading other classifier weights)."""
    _CACHE.clear()
