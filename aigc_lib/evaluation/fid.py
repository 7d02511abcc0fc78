"""The classifier FID: the Fréchet distance between Gaussians fitted to features of two sets of images.

The formula is the FID of Heusel et al. (2017); the features are the 64
features of the course's small MNIST classifier
(:class:`~aigc_lib.evaluation.mnist_classifier.MNISTClassifier`), so the numbers
compare only with each other, inside this course.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch
from torch import nn

from ..core.checks import check_int, check_tensor
from .mnist_classifier import MNISTClassifier


@torch.no_grad()
def feature_statistics(model: MNISTClassifier, images: torch.Tensor, batch_size: int = 500
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(F,)`` and covariance ``(F, F)`` (float64) of the classifier features of ``images``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be the MNIST classifier (an nn.Module), got {type(model).__name__}")
    check_tensor(images, "images", shape_hint="(N, 1, 28, 28) with values in [0, 1]")
    batch_size = check_int(batch_size, "batch_size", min=1)
    if len(images) < 2:
        raise ValueError(f"need at least 2 images for a covariance, got {len(images)}")
    model.eval()
    device = next(model.parameters()).device
    feats = torch.cat([model.features(images[i:i + batch_size].to(device)).cpu()
                       for i in range(0, len(images), batch_size)]).double().numpy()
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance squared between N(mu1, sigma1) and N(mu2, sigma2):

    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    ``scipy.linalg.sqrtm`` computes the matrix square root. When the product
    is singular (scipy warns), ``eps`` is added to both diagonals, as
    pytorch-fid does; a tiny imaginary part from rounding is dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"need means (F,) and covariances (F, F) of one size F, got {mu1.shape}, {s1.shape}, "
                         f"{mu2.shape}, {s2.shape}")
    for name, a in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} must hold finite numbers, got NaN or inf")
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            covmean = scipy.linalg.sqrtm(s1 @ s2)
            singular = not np.isfinite(covmean).all()
        except scipy.linalg.LinAlgWarning:
            singular = True
    if singular:
        offset = np.eye(s1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has a large imaginary part {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def classifier_fid(model: MNISTClassifier, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Fréchet distance between the classifier features of two image sets ``(N, 1, 28, 28)`` in [0, 1]."""
    return frechet_distance(*feature_statistics(model, images_a), *feature_statistics(model, images_b))
