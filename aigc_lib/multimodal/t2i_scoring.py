"""Scoring text-to-image samples with the attribute checker (chapter 13).

``digit accuracy``: share of samples whose digit (read by the chapter-6 classifier inside
:class:`~aigc_lib.multimodal.checker.AttributeChecker`) is the caption's digit.
``caption adherence``: share of samples on which *every* attribute of the caption
(digit, size, thickness, position) is what the checker measures.

Intervals are Wilson score intervals of a proportion (:func:`wilson_interval`; the
course's evaluation helpers have the same function).
"""
from __future__ import annotations

import math

import torch

from .._checks import check_int


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval ``(low, high)`` of a proportion ``successes / trials``."""
    trials = check_int(trials, "trials", min=1)
    successes = check_int(successes, "successes", min=0, max=trials)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_line(label: str, hits: torch.Tensor, seeds: int = 1) -> str:
    """``LABEL: X (95% interval A–B; N samples, K seeds)`` for a bool tensor of hits."""
    n, k = int(hits.numel()), int(hits.sum())
    lo, hi = wilson_interval(k, n)
    return f"{label}: {k / n:.3f} (95% interval {lo:.3f}–{hi:.3f}; {n:,} samples, {seeds} seed{'s' if seeds > 1 else ''})"


def score_samples(checker, images: torch.Tensor, attributes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample bool hits ``(N,)``: ``digit``, ``size``, ``thickness``, ``position`` and ``all`` (adherence)."""
    return checker.agreement(images.clamp(0, 1).float().cpu(), attributes.cpu())


@torch.no_grad()
def classifier_features(classifier, crops: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Chapter 6's classifier features ``(N, F)`` (float64) of MNIST-style crops ``(N, 1, 28, 28)`` in [0, 1]."""
    classifier.eval()
    return torch.cat([classifier.features(crops[i:i + batch_size]) for i in range(0, len(crops), batch_size)]).double()


def kernel_inception_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel ``(x.y / F + 1)^3`` (Binkowski et al., 2018)."""
    f = feats_a.shape[1]
    k_aa, k_bb, k_ab = ((x @ y.T / f + 1) ** 3 for x, y in ((feats_a, feats_a), (feats_b, feats_b), (feats_a, feats_b)))
    m, n = len(feats_a), len(feats_b)
    term_a = (k_aa.sum() - k_aa.diagonal().sum()) / (m * (m - 1))
    term_b = (k_bb.sum() - k_bb.diagonal().sum()) / (n * (n - 1))
    return float(term_a + term_b - 2 * k_ab.mean())


def kid_interval(feats_a: torch.Tensor, feats_b: torch.Tensor, n_boot: int = 200,
                 seed: int = 0) -> tuple[float, float, float]:
    """KID and a 95 % percentile-bootstrap interval (both sets resampled with replacement; duplicates
    are dropped from each resample so the unbiased estimate stays unbiased): ``(kid, low, high)``."""
    n_boot = check_int(n_boot, "n_boot", min=10)
    g = torch.Generator().manual_seed(seed)
    boots = []
    for _ in range(n_boot):
        ia = torch.randint(len(feats_a), (len(feats_a),), generator=g).unique()
        ib = torch.randint(len(feats_b), (len(feats_b),), generator=g).unique()
        boots.append(kernel_inception_distance(feats_a[ia], feats_b[ib]))
    lo, hi = torch.tensor(boots).quantile(torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return kernel_inception_distance(feats_a, feats_b), lo, hi
