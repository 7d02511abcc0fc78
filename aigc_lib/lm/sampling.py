"""Choosing the next token from a language model's logits.

A language model gives, for each sequence of a batch, one *logit* (an
unnormalised log-probability) per token of the vocabulary: a tensor
``(B, V)``. Decoding turns these into one token per sequence. The steps below
are applied in this order, as in Hugging Face ``generate``:

1. :func:`apply_repetition_penalty` (Keskar et al., 2019): make tokens that
   already appear less likely;
2. :func:`apply_temperature`: divide by ``T``; ``T < 1`` sharpens the
   distribution, ``T > 1`` flattens it;
3. :func:`top_k_filter` (Fan et al., 2018): keep the ``k`` most likely tokens;
4. :func:`top_p_filter` (nucleus sampling, Holtzman et al., 2020): keep the
   smallest set of most likely tokens whose probabilities sum to at least ``p``;
5. sample from the softmax of what is left (or take the arg-max: greedy).

Diversity metrics (distinct-n) live in :mod:`aigc_lib.lm.text_metrics`;
:func:`distinct_n` is re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.checks import check_float, check_int, check_tensor
from .text_metrics import distinct_n

__all__ = ["SamplingConfig", "apply_repetition_penalty", "apply_temperature", "top_k_filter", "top_p_filter",
           "sample_next_token", "distinct_n"]


def _check_logits(logits: torch.Tensor) -> None:
    check_tensor(logits, "logits", shape_hint="(B, V)")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, V), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.numel() == 0:
        raise ValueError(f"logits must hold at least one row and one token, got shape {tuple(logits.shape)}")


def _check_finite(logits: torch.Tensor) -> None:
    # argmax would pick a NaN as the largest value, and softmax would turn NaN or +inf into NaN:
    # a silent wrong token. -inf is allowed (a token that can never be chosen), but not in every place of a row.
    nan, pos_inf = torch.isnan(logits).any(dim=-1), torch.isposinf(logits).any(dim=-1)
    all_neg_inf = torch.isneginf(logits).all(dim=-1)
    bad = nan | pos_inf | all_neg_inf
    if bool(bad.any()):
        rows = bad.nonzero().flatten().tolist()
        first = rows[0]
        what = "NaN" if nan[first] else "+inf" if pos_inf[first] else "-inf in every place"
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        raise ValueError(f"expected finite logits (or -inf for tokens that can never be chosen, with at least one "
                         f"finite value per row), but {len(rows)} row(s) are not: {shown}; row {first} has {what}. "
                         f"The model's output is not usable: check its weights and inputs")


def _check_temperature(temperature: float) -> float:
    return check_float(temperature, "temperature", min=0.0, note=" (0 means greedy decoding)")


def _check_top_p(top_p: float) -> float:
    return check_float(top_p, "top_p", min=0.0, max=1.0, min_open=True)


def _check_top_k(top_k: int) -> int:
    return check_int(top_k, "top_k", min=1)


def _check_penalty(penalty: float) -> float:
    return check_float(penalty, "repetition_penalty", min=0.0, min_open=True, note=" (1 means no penalty)")


@dataclass
class SamplingConfig:
    """How to pick each next token.

    Attributes:
        temperature: ``> 0`` divides the logits; ``0`` means greedy decoding
            (always the most likely token). Negative values are an error.
        top_k: keep only the ``k`` most likely tokens (``None``: all).
        top_p: keep the smallest set of tokens whose probability sums to at
            least ``top_p``, in ``(0, 1]`` (``None`` or 1: all).
        repetition_penalty: ``> 1`` makes tokens already in the sequence less
            likely; ``1`` turns it off.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        _check_temperature(self.temperature)
        if self.top_k is not None:
            _check_top_k(self.top_k)
        if self.top_p is not None:
            _check_top_p(self.top_p)
        _check_penalty(self.repetition_penalty)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def apply_repetition_penalty(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """Penalise every token that occurs in ``previous`` (Keskar et al., 2019).

    A positive logit is divided by ``penalty``, a negative one multiplied by
    it, so for ``penalty > 1`` the token always becomes less likely.

    Args:
        logits: ``(B, V)``.
        previous: ``(B, t)`` token ids generated (or given) so far.
        penalty: ``> 0``; ``1`` returns the logits unchanged.

    Returns:
        A new ``(B, V)`` tensor.
    """
    _check_logits(logits)
    _check_finite(logits)
    penalty = _check_penalty(penalty)
    check_tensor(previous, "previous", shape_hint="(B, t) token ids")
    if penalty == 1.0 or previous.numel() == 0:
        return logits
    if previous.ndim != 2 or previous.shape[0] != logits.shape[0]:
        raise ValueError(f"previous must have shape (B, t) with B={logits.shape[0]}, got {tuple(previous.shape)}")
    if previous.is_floating_point() or previous.dtype == torch.bool:
        raise TypeError(f"previous must hold integer token ids, got dtype {previous.dtype}")
    lo, hi = torch.stack(torch.aminmax(previous)).tolist()
    if lo < 0 or hi >= logits.shape[1]:
        raise IndexError(f"previous holds token id {lo if lo < 0 else hi}, outside the vocabulary: expected "
                         f"0 <= id < V={logits.shape[1]} (the width of logits)")
    previous = previous.long()
    scores = logits.gather(1, previous)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.scatter(1, previous, scores)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` for ``temperature > 0``.

    ``softmax(z / T)`` tends to a one-hot vector on the arg-max as ``T -> 0``;
    :func:`sample_next_token` treats ``T = 0`` as exactly that (greedy).
    """
    _check_logits(logits)
    _check_finite(logits)
    temperature = check_float(temperature, "temperature", min=0.0, min_open=True,
                              note=" (use sample_next_token with temperature=0 for greedy decoding)")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit below the ``k``-th largest of its row to ``-inf``.

    Args:
        logits: ``(B, V)``; ``k >= V`` keeps everything.
    """
    _check_logits(logits)
    _check_finite(logits)
    k = check_int(k, "k", min=1)
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020).

    Sort the tokens from most to least likely and keep a token while the
    probability of the tokens *before* it sums to less than ``p``. The most
    likely token is always kept; ``p = 1`` keeps every token.

    Args:
        logits: ``(B, V)``.
        p: in ``(0, 1]``.
    """
    _check_logits(logits)
    _check_finite(logits)
    p = check_float(p, "p", min=0.0, max=1.0, min_open=True)
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    remove_sorted = mass_before >= p
    remove = remove_sorted.scatter(1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def sample_next_token(
    logits: torch.Tensor,
    config: SamplingConfig | None = None,
    previous: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One next token per row: ``(B, V)`` logits -> ``(B,)`` ids.

    Args:
        logits: ``(B, V)``, the model's output at the last position.
        config: the :class:`SamplingConfig` (default: plain sampling at ``T = 1``).
        previous: ``(B, t)`` ids so far; needed only for the repetition penalty.
        generator: a ``torch.Generator`` for reproducible sampling.
    """
    config = SamplingConfig() if config is None else config
    if not isinstance(config, SamplingConfig):
        raise TypeError(f"config must be a SamplingConfig or None, got {type(config).__name__}")
    _check_logits(logits)
    _check_finite(logits)
    logits = logits.float()
    if previous is not None and config.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(logits, previous, config.repetition_penalty)
    if config.greedy:
        return logits.argmax(dim=-1)
    scaled = apply_temperature(logits, config.temperature)
    if not bool(torch.isfinite(scaled[torch.isfinite(logits)]).all()):
        # A tiny temperature overflows logits / T to inf. Shifted by the row's maximum the quotients are <= 0:
        # the maximum stays 0 and the rest go to -inf, i.e. greedy decoding, the limit of T -> 0.
        scaled = apply_temperature(logits - logits.max(dim=-1, keepdim=True).values, config.temperature)
    logits = scaled
    if config.top_k is not None:
        logits = top_k_filter(logits, config.top_k)
    if config.top_p is not None:
        logits = top_p_filter(logits, config.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
