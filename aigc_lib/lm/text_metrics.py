"""Diversity of generated token sequences: distinct-n, per sample and pooled.

**Distinct-n** (Li et al., 2016) is the number of different n-grams divided by
the number of n-grams. It can be computed in two ways, and they answer
different questions:

* :func:`distinct_n` (per sample, then averaged): how much does *each* text
  repeat itself? A text that loops scores low; a text without a repeated
  n-gram scores 1. This is what "repetitive text" means for one reader.
* :func:`distinct_n_pooled` (one count over all samples): how different are the
  samples *from each other* as well? Li et al. pool over the responses to many
  different inputs. Pooled over ``S`` samples of *one* prompt, ``S`` identical
  texts score at most ``1 / S``, however varied each text is: a deterministic
  decoder (greedy, beam search) is capped there. Use it only to measure
  across-sample diversity, and name it so.

Neither sees meaning: a text of random characters scores 1, and a good poem with
a refrain scores lower than nonsense.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

from ..core.checks import check_int

__all__ = ["ngrams", "distinct_n_per_sample", "distinct_n", "distinct_n_pooled"]


def _as_sequences(sequences: Iterable[Sequence[int]] | torch.Tensor) -> list[list[int]]:
    if isinstance(sequences, (str, bytes)):
        raise TypeError(f"sequences must be a list of token sequences, e.g. [[1, 2, 3]], "
                        f"got a {type(sequences).__name__}")
    if isinstance(sequences, torch.Tensor) and sequences.ndim != 2:
        raise ValueError(f"sequences must be a list of token sequences or a (B, T) tensor, "
                         f"got a tensor of shape {tuple(sequences.shape)}; wrap one sequence in a list")
    if isinstance(sequences, torch.Tensor) and (sequences.is_floating_point() or sequences.is_complex()
                                                or sequences.dtype == torch.bool):
        raise TypeError(f"sequences must hold integer token ids, got a tensor of dtype {sequences.dtype}")
    if not hasattr(sequences, "__iter__"):
        raise TypeError(f"sequences must be a list of token sequences, e.g. [[1, 2, 3]], got "
                        f"{type(sequences).__name__}")
    out = []
    for seq in sequences:
        seq = seq.tolist() if isinstance(seq, torch.Tensor) else seq
        if isinstance(seq, int):
            raise TypeError(f"sequences must be a list of token sequences, e.g. [[1, 2, 3]], got an element "
                            f"{seq!r}; wrap one sequence in a list: distinct_n([seq], n)")
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
            raise TypeError(f"sequences must hold sequences of integer token ids, got an element {seq!r} "
                            f"({type(seq).__name__}); encode texts with a tokenizer first")
        seq = list(seq)
        bad = [t for t in seq if isinstance(t, bool) or not isinstance(t, int)]
        if bad:
            raise TypeError(f"sequences must hold integer token ids, got {bad[0]!r} ({type(bad[0]).__name__})")
        out.append(seq)
    if not out:
        raise ValueError("sequences must hold at least one sequence, got none")
    return out


def ngrams(seq: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """All ``len(seq) - n + 1`` n-grams of one sequence, in order (none if it is shorter than ``n``)."""
    n = check_int(n, "n", min=1)
    seq = list(seq)
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def distinct_n_per_sample(sequences: Iterable[Sequence[int]] | torch.Tensor, n: int) -> list[float]:
    """Distinct-n of each sequence on its own: ``len(set(ngrams)) / len(ngrams)``.

    Args:
        sequences: a list of token sequences, or a ``(B, T)`` tensor (one row per sample).
        n: the n-gram length, ``>= 1``.

    Returns:
        One value in ``(0, 1]`` per sequence that has at least one n-gram;
        sequences shorter than ``n`` are left out.
    """
    n = check_int(n, "n", min=1)
    values = []
    for seq in _as_sequences(sequences):
        grams = ngrams(seq, n)
        if grams:
            values.append(len(set(grams)) / len(grams))
    return values


def distinct_n(sequences: Iterable[Sequence[int]] | torch.Tensor, n: int) -> float:
    """Mean per-sample distinct-n: how much each text repeats itself (1: no n-gram repeats).

    The mean of :func:`distinct_n_per_sample`; 0 if no sequence has an n-gram.
    It does not depend on how many samples there are, nor on whether they
    differ from each other (see :func:`distinct_n_pooled` for that).
    """
    values = distinct_n_per_sample(sequences, n)
    return sum(values) / len(values) if values else 0.0


def distinct_n_pooled(sequences: Iterable[Sequence[int]] | torch.Tensor, n: int) -> float:
    """Pooled distinct-n: distinct n-grams over *all* sequences / all their n-grams.

    This is Li et al.'s corpus-level count. Over samples of one prompt it
    mixes two things: repetition inside each text and overlap between texts
    (``S`` identical samples give at most ``1 / S``). Sequences shorter than
    ``n`` contribute nothing; 0 if no sequence has an n-gram.
    """
    n = check_int(n, "n", min=1)
    seen: set[tuple[int, ...]] = set()
    total = 0
    for seq in _as_sequences(sequences):
        grams = ngrams(seq, n)
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0
