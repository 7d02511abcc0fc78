"""BLEU (Papineni et al., 2002): n-gram overlap between outputs and references, for a whole corpus.

For n = 1..4, the *clipped precision* p_n is the number of output n-grams that
also occur in a reference (each counted at most as often as in the
reference) divided by the number of output n-grams, both summed over the
corpus. With ``c`` the total output length and ``r`` the total reference
length (for several references: the closest one per sentence),

    BLEU = BP * exp(mean_n log p_n),    BP = 1 if c >= r else exp(1 - r / c),

reported in 0..100. ``smooth="exp"`` replaces a zero precision by
``1 / (2^k * total_n)`` (k = 1, 2, ... for each zero), like sacrebleu's default.
The numbers equal ``sacrebleu.corpus_bleu`` on the same tokens.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Sequence

from ..core.checks import check_choice, check_int

Tokens = Sequence[str]


def ngrams(tokens: Tokens, n: int) -> Counter:
    """Counts of the n-grams (as tuples) of ``tokens``."""
    n = check_int(n, "n", min=1)
    if isinstance(tokens, str):
        raise TypeError(f"tokens must be a list of tokens, e.g. ['the', 'cat'], got the string {tokens[:40]!r}")
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu_stats(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]],
                      max_n: int = 4) -> tuple[list[int], list[int], int, int]:
    """Sufficient statistics: ``(matches per n, totals per n, output length, reference length)``.

    Args:
        hypotheses: one token list per sentence.
        references: for each sentence, a list of reference token lists.
    """
    max_n = check_int(max_n, "max_n", min=1)
    for name, seq in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise TypeError(f"{name} must be a list with one entry per sentence, got {type(seq).__name__}")
    if len(hypotheses) == 0:
        raise ValueError("hypotheses must not be empty: expected at least one sentence (BLEU of an empty "
                         "corpus is undefined)")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} reference lists")
    correct, total = [0] * max_n, [0] * max_n
    sys_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        if isinstance(hyp, str):
            raise TypeError(f"each hypothesis must be a token list, e.g. ['the', 'cat'], got the string {hyp!r}; "
                            f"tokenize it first (or use corpus_bleu on strings)")
        if isinstance(refs, str) or not refs or isinstance(refs[0], str):
            raise TypeError(f"each entry of references must be a non-empty list of token lists, "
                            f"e.g. [['the', 'cat']], got {refs!r}")
        sys_len += len(hyp)
        ref_len += min((len(r) for r in refs), key=lambda r: (abs(r - len(hyp)), r))
        for n in range(1, max_n + 1):
            h = ngrams(hyp, n)
            best = Counter()
            for r in refs:
                best |= ngrams(r, n)              # max count over references
            total[n - 1] += sum(h.values())
            correct[n - 1] += sum(min(c, best[g]) for g, c in h.items())
    return correct, total, sys_len, ref_len


def bleu_from_stats(correct: list[int], total: list[int], sys_len: int, ref_len: int,
                    smooth: str = "exp") -> float:
    """BLEU in 0..100 from :func:`corpus_bleu_stats`."""
    check_choice(smooth, "smooth", ("exp", "none"))
    if not isinstance(correct, (list, tuple)) or not isinstance(total, (list, tuple)) or len(correct) != len(total) \
            or not correct:
        raise ValueError(f"correct and total must be lists of equal, non-zero length (one count per n-gram order), "
                         f"got {correct!r} and {total!r}")
    for name, v in (("sys_len", sys_len), ("ref_len", ref_len)):
        check_int(v, name, min=0)
    for c, t in zip(correct, total):
        check_int(c, "correct[n]", min=0)
        check_int(t, "total[n]", min=0)
        if c > t:
            raise ValueError(f"correct must not exceed total for any n-gram order, got correct={correct}, "
                             f"total={total}")
    if not any(correct):
        return 0.0
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    log_p, zeros = [], 0
    for c, t in zip(correct, total):
        if t == 0:                     # outputs too short to have any n-gram of this order
            return 0.0
        if c == 0:
            if smooth == "none":
                return 0.0
            zeros += 1
            log_p.append(math.log(1.0 / (2 ** zeros * t)))
        else:
            log_p.append(math.log(c / t))
    return 100.0 * bp * math.exp(sum(log_p) / len(log_p))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
                tokenize: Callable[[str], Tokens] = str.split, max_n: int = 4, smooth: str = "exp") -> float:
    """Corpus BLEU (0..100) of strings.

    Args:
        hypotheses: the model's outputs.
        references: one reference string per output, or a list of references per output.
        tokenize: string -> tokens; ``str.split`` (words) or ``list`` (characters).
        max_n: the longest n-gram.
        smooth: ``"exp"`` (sacrebleu's default) or ``"none"``.
    """
    for name, seq in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(seq, str):
            raise TypeError(f"{name} must be a list of strings, one per sentence, got a single string {seq[:40]!r}; "
                            f"wrap one sentence in a list")
    if not callable(tokenize):
        raise TypeError(f"tokenize must be a function str -> tokens (e.g. str.split), got {type(tokenize).__name__}")
    hypotheses = list(hypotheses)
    if not hypotheses:
        raise ValueError("hypotheses must not be empty: expected at least one sentence (BLEU of an empty "
                         "corpus is undefined)")
    bad = next((h for h in hypotheses if not isinstance(h, str)), None)
    if bad is not None:
        raise TypeError(f"corpus_bleu takes hypotheses as strings, got {type(bad).__name__} {bad!r}; "
                        f"use corpus_bleu_stats and bleu_from_stats for token lists")
    refs = []
    for r in references:
        if not isinstance(r, (str, list, tuple)):
            raise TypeError(f"each entry of references must be a string or a non-empty list of strings, got {r!r}")
        refs.append([r] if isinstance(r, str) else list(r))
    for rs in refs:
        if not rs or not all(isinstance(r, str) for r in rs):
            raise TypeError(f"each entry of references must be a string or a non-empty list of strings, got {rs!r}")
    stats = corpus_bleu_stats([tokenize(h) for h in hypotheses], [[tokenize(r) for r in rs] for rs in refs], max_n)
    return bleu_from_stats(*stats, smooth=smooth)
