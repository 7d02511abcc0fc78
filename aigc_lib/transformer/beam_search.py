"""Decoding a sequence model: greedy decoding and beam search.

Both work with any model through one function::

    next_log_probs(prefixes: LongTensor (N, t)) -> log-probabilities (N, V)

which returns, for each of ``N`` prefixes, the log-probabilities of the next
token. A seq2seq model closes over its encoded source
(:meth:`aigc_lib.transformer.seq2seq.Seq2SeqTransformer.next_log_probs_fn`); a
decoder-only GPT just runs on the prefixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..core.checks import check_bool, check_float, check_int

NextLogProbs = Callable[[torch.Tensor], torch.Tensor]


def length_penalty(length: int, alpha: float) -> float:
    """The length normaliser of Wu et al. (2016): ``((5 + length) / 6) ** alpha``.

    A hypothesis is ranked by ``log p(y) / length_penalty(len(y), alpha)``;
    ``alpha = 0`` ranks by plain log-probability (which favours short outputs),
    larger ``alpha`` favours longer ones.
    """
    length = check_int(length, "length", min=0)
    alpha = check_float(alpha, "alpha", min=0.0, note=" (0: plain log-probability; Wu et al. use 0.6-1)")
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class Hypothesis:
    """One decoded sequence.

    Attributes:
        tokens: the generated tokens (without the prompt), ending with EOS if one was produced.
        log_prob: total log-probability of ``tokens`` given the prompt.
        score: ``log_prob / length_penalty(len(tokens), alpha)``, used for ranking.
    """

    tokens: list[int]
    log_prob: float
    score: float


def _check_log_probs(out: torch.Tensor, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"next_log_probs must return a tensor (N={n}, V) of log-probabilities, "
                        f"got {type(out).__name__}")
    if not out.is_floating_point():
        raise TypeError(f"next_log_probs must return floating-point log-probabilities, got dtype {out.dtype}")
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(f"next_log_probs must return (N={n}, V) log-probabilities, got shape {tuple(out.shape)}")
    return out


def _check_callable(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"next_log_probs must be a function prefixes (N, t) -> log-probabilities (N, V), "
                        f"got {type(fn).__name__}")


def _check_eos(eos_id: int | None, vocab: int) -> None:
    if eos_id is not None and not 0 <= eos_id < vocab:
        raise IndexError(f"eos_id {eos_id} is outside the vocabulary: expected 0 <= eos_id < {vocab} "
                         f"(the width of next_log_probs' output)")


def _check_token_dtype(prompt: torch.Tensor) -> None:
    if prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool:
        raise TypeError(f"prompt must hold integer token ids, got dtype {prompt.dtype}")
    if prompt.numel() and int(prompt.min()) < 0:
        raise ValueError(f"prompt must hold token ids >= 0, got {int(prompt.min())}")


def _as_prompt(prompt: torch.Tensor | list[int]) -> torch.Tensor:
    if not isinstance(prompt, (torch.Tensor, list, tuple)):
        raise TypeError(f"prompt must be a 1-D sequence of token ids (a list or tensor), got {type(prompt).__name__}")
    try:
        prompt = torch.as_tensor(prompt)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"prompt must be a 1-D sequence of integer token ids, got {prompt!r}") from None
    if prompt.ndim != 1 or prompt.numel() == 0:
        raise ValueError(f"prompt must be a non-empty 1-D sequence of token ids, got shape {tuple(prompt.shape)}")
    _check_token_dtype(prompt)
    return prompt.long()


@torch.no_grad()
def greedy_decode(next_log_probs: NextLogProbs, prompt: torch.Tensor, max_new_tokens: int,
                  eos_id: int | None = None, pad_id: int | None = None) -> torch.Tensor:
    """Append the most likely token, ``max_new_tokens`` times, to each of ``N`` prompts.

    Args:
        next_log_probs: ``(N, t) -> (N, V)``; row ``i`` continues prompt ``i``.
        prompt: ``(N, t0)`` (or ``(t0,)`` for one prompt).
        max_new_tokens: at most this many tokens are generated.
        eos_id: a row stops after producing it; decoding stops when every row has.
        pad_id: fills a row after its EOS (default: ``eos_id``).

    Returns:
        ``(N, t0 + n_new)`` tokens, prompt included.
    """
    _check_callable(next_log_probs)
    if not isinstance(prompt, torch.Tensor):
        raise TypeError(f"prompt must be a tensor of token ids (N, t0) or (t0,), got {type(prompt).__name__}")
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=0)
    eos_id = check_int(eos_id, "eos_id", min=0, allow_none=True)
    pad_id = check_int(pad_id, "pad_id", min=0, allow_none=True)
    single = prompt.ndim == 1
    seq = prompt[None] if single else prompt
    if seq.ndim != 2 or seq.shape[1] == 0:
        raise ValueError(f"prompt must be (N, t0) or (t0,) with t0 >= 1, got shape {tuple(prompt.shape)}")
    _check_token_dtype(seq)
    if seq.shape[0] == 0:
        raise ValueError(f"prompt must hold at least one row of tokens, got shape {tuple(prompt.shape)}")
    seq = seq.long()
    fill = eos_id if pad_id is None else pad_id
    done = torch.zeros(seq.shape[0], dtype=torch.bool, device=seq.device)
    for _ in range(max_new_tokens):
        out = _check_log_probs(next_log_probs(seq), seq.shape[0])
        _check_eos(eos_id, out.shape[1])
        if bool(torch.isnan(out).any()):     # argmax would pick the NaN: a silent wrong token
            raise ValueError("next_log_probs returned NaN log-probabilities: expected finite numbers (or -inf); "
                             "the model's output is not usable")
        _check_some_token_possible(out, done)
        nxt = out.argmax(dim=-1)
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
            done = done | (nxt == eos_id)
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        if eos_id is not None and bool(done.all()):
            break
    return seq[0] if single else seq


def _check_some_token_possible(logp: torch.Tensor, done: torch.Tensor | None = None) -> None:
    """Raise if a (live) row gives -inf to every token: no continuation is possible, and picking one is wrong."""
    dead = torch.isneginf(logp).all(dim=-1)
    if done is not None:
        dead = dead & ~done.to(dead.device)
    if bool(dead.any()):
        row = int(dead.nonzero()[0, 0])
        raise ValueError(f"next_log_probs returned -inf in every place of row {row}: no next token is possible "
                         f"(expected at least one finite log-probability per row)")


@torch.no_grad()
def beam_search(next_log_probs: NextLogProbs, prompt: torch.Tensor | list[int], beam_width: int,
                max_new_tokens: int, eos_id: int | None = None, alpha: float = 0.0,
                early_stopping: bool = True) -> list[Hypothesis]:
    """Beam search: keep the ``beam_width`` most likely unfinished prefixes at each step.

    At each step every live prefix is extended by every token, and the
    candidates are sorted by total log-probability. Candidates that end with
    ``eos_id`` and rank among the first ``beam_width`` become finished
    hypotheses; the best ``beam_width`` other candidates stay alive. The search
    ends after ``max_new_tokens`` steps (live prefixes then count as finished),
    when nothing is alive, or, with ``early_stopping``, once ``beam_width``
    hypotheses have finished. Finished hypotheses are ranked by
    ``log_prob / length_penalty(length, alpha)``.

    With ``beam_width = 1`` and ``early_stopping`` this is greedy decoding. With a beam
    wide enough to hold every prefix, and ``early_stopping=False``, it is exact
    search over all sequences of at most ``max_new_tokens`` tokens.

    Args:
        next_log_probs: ``prefixes (N, t) -> (N, V)`` log-probabilities; all rows continue the same prompt.
        prompt: ``(t0,)`` tokens to start from (e.g. ``[BOS]``).
        beam_width: live prefixes kept per step.
        max_new_tokens: the longest output.
        eos_id: end-of-sequence token (``None``: every output has ``max_new_tokens`` tokens).
        alpha: length-penalty exponent.
        early_stopping: stop once ``beam_width`` hypotheses are finished.

    Returns:
        Finished hypotheses, best first.
    """
    _check_callable(next_log_probs)
    beam_width = check_int(beam_width, "beam_width", min=1)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=1)
    eos_id = check_int(eos_id, "eos_id", min=0, allow_none=True)
    alpha = check_float(alpha, "alpha", min=0.0, note=" (0: plain log-probability; Wu et al. use 0.6-1)")
    check_bool(early_stopping, "early_stopping")
    prompt = _as_prompt(prompt)
    device, prompt = prompt.device, prompt.cpu()
    alive = prompt[None]                                    # (n_alive, t)
    alive_lp = torch.zeros(1, dtype=torch.float64)
    finished: list[Hypothesis] = []
    t0 = prompt.numel()

    def finish(tokens: torch.Tensor, lp: float) -> None:
        gen = tokens[t0:].tolist()
        finished.append(Hypothesis(gen, lp, lp / length_penalty(len(gen), alpha)))

    for step in range(max_new_tokens):
        logp = _check_log_probs(next_log_probs(alive.to(device)), alive.shape[0]).double().cpu()
        vocab = logp.shape[1]
        _check_eos(eos_id, vocab)
        if bool(logp.isnan().any()):
            raise ValueError("next_log_probs returned NaN log-probabilities")
        _check_some_token_possible(logp)
        if bool((logp > 1e-6).any()):
            raise ValueError(f"next_log_probs must return log-probabilities (<= 0, e.g. from log_softmax), "
                             f"got a largest value of {float(logp.max()):.4g}: are these logits or probabilities?")
        cand = (alive_lp[:, None] + logp).flatten()                  # (n_alive * V,)
        order = torch.argsort(cand, descending=True, stable=True)
        keep_rows, keep_tokens, keep_lp = [], [], []
        for rank, idx in enumerate(order.tolist()):
            if len(keep_rows) == beam_width:
                break
            if cand[idx] == float("-inf"):
                break
            row, tok = divmod(idx, vocab)
            if eos_id is not None and tok == eos_id:
                if rank < beam_width:
                    finish(torch.cat([alive[row], torch.tensor([tok])]), float(cand[idx]))
                continue
            keep_rows.append(row)
            keep_tokens.append(tok)
            keep_lp.append(float(cand[idx]))
        if not keep_rows:
            break
        alive = torch.cat([alive[keep_rows], torch.tensor(keep_tokens)[:, None]], dim=1)
        alive_lp = torch.tensor(keep_lp, dtype=torch.float64)
        if step == max_new_tokens - 1:        # the last step: live prefixes are finished too
            for tokens, lp in zip(alive, alive_lp.tolist()):
                finish(tokens, lp)
            break
        if early_stopping and len(finished) >= beam_width:
            break
    return sorted(finished, key=lambda h: h.score, reverse=True)
