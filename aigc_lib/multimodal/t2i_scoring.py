"""Scoring text-to-image samples with the attribute checker (chapter 13).

``digit accuracy``: share of samples whose digit (read by the chapter-6 classifier inside
:class:`~aigc_lib.multimodal.checker.AttributeChecker`) is the caption's digit.
``caption adherence``: share of samples on which *every* attribute of the caption
(digit, size, thickness, position) is what the checker measures.

Intervals and KID come from :mod:`aigc_lib.evaluation` (Wilson intervals, KID with its standard error).
"""
from __future__ import annotations

import torch

from ..evaluation.intervals import wilson_interval


def proportion_line(label: str, hits: torch.Tensor, seeds: int = 1) -> str:
    """``LABEL: X (95% interval A–B; N samples, K seeds)`` for a bool tensor of hits (Wilson interval)."""
    n, k = int(hits.numel()), int(hits.sum())
    return wilson_interval(k, n, k=seeds).headline(label, digits=3)


def score_samples(checker, images: torch.Tensor, attributes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample bool hits ``(N,)``: ``digit``, ``size``, ``thickness``, ``position`` and ``all`` (adherence)."""
    return checker.agreement(images.clamp(0, 1).float().cpu(), attributes.cpu())
