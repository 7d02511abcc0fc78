"""Answering prompts with a chat model and scoring the answers by exact match.

* :func:`generate_answers`: one answer per prompt, generated after the chat
  format's generation prompt and stopped at ``<|end|>`` (greedy by default).
  Prompts of the same length are batched together (the GPT has no padding
  mask), with a KV cache.
* :func:`exact_match`: answer every example and check it
  (:meth:`~aigc_lib.posttraining.tasks.Example.check`).
* :func:`seed_bootstrap_interval`: a 95 % interval for an exact-match rate
  pooled over several training seeds: a percentile bootstrap that resamples
  the seeds, then the prompts within each seed, so it counts both sources of
  variation.
* :func:`headline`: ``"LABEL: X (95% interval A–B; N prompts, K seeds)"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..core.checks import check_int
from ..lm.gpt import GPT
from ..lm.sampling import SamplingConfig, sample_next_token
from .chat import END, ChatTemplate, ChatTokenizer, encode_prompt
from .tasks import Example

__all__ = ["generate_answers", "ExactMatch", "exact_match", "seed_bootstrap_interval", "headline"]


@torch.no_grad()
def generate_answers(model: GPT, tokenizer: ChatTokenizer, prompts: Sequence[str],
                     template: ChatTemplate = ChatTemplate(), max_new_tokens: int = 24,
                     sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> list[str]:
    """The model's answer to each prompt (text up to, not including, the first ``<|end|>``).

    Args:
        model: a GPT whose vocabulary is ``tokenizer``'s.
        prompts: user texts.
        max_new_tokens: at most this many tokens per answer (also capped by the context).
        sampling: a :class:`~aigc_lib.lm.sampling.SamplingConfig`; default greedy (temperature 0).
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, ChatTokenizer):
        raise TypeError(f"tokenizer must be a ChatTokenizer, got {type(tokenizer).__name__}")
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"the model has {model.config.vocab_size} token ids but the tokenizer "
                         f"{tokenizer.vocab_size}: they do not belong together")
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
        raise TypeError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=1)
    sampling = SamplingConfig(temperature=0.0) if sampling is None else sampling
    device = next(model.parameters()).device if device is None else torch.device(device)
    end = tokenizer.token_id(END)
    encoded = [encode_prompt(p, tokenizer, template) for p in prompts]
    bs = model.config.block_size
    for p, ids in zip(prompts, encoded):
        if len(ids) >= bs:
            raise ValueError(f"prompt {p[:40]!r} has {len(ids)} tokens with the chat format; the context holds "
                             f"{bs}, leaving no room for an answer")
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    answers: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        for length, rows in by_length.items():
            idx = torch.tensor([encoded[i] for i in rows], device=device)
            n_new = min(max_new_tokens, bs - length)
            caches = model.new_caches(length + n_new)
            logits = model(idx, caches, last_only=True)[:, -1]
            out = []
            done = torch.zeros(len(rows), dtype=torch.bool, device=device)
            for _ in range(n_new):
                nxt = sample_next_token(logits, sampling, previous=idx, generator=generator)
                out.append(nxt)
                done |= nxt == end
                if bool(done.all()) or len(out) == n_new:
                    break
                idx = torch.cat([idx, nxt[:, None]], dim=1)
                logits = model(nxt[:, None], caches)[:, -1]
            new = torch.stack(out, dim=1).tolist()
            for r, toks in zip(rows, new):
                if end in toks:
                    toks = toks[:toks.index(end)]
                answers[r] = tokenizer.decode(toks)
    finally:
        model.train(was_training)
    return answers


@dataclass
class ExactMatch:
    """Per-example results of :func:`exact_match`."""

    examples: list[Example]
    outputs: list[str]
    correct: list[bool]

    @property
    def score(self) -> float:
        """Fraction of examples answered exactly right."""
        return sum(self.correct) / len(self.correct)

    def by_task(self) -> dict[str, float]:
        """Exact match per task."""
        out: dict[str, list[bool]] = {}
        for e, c in zip(self.examples, self.correct):
            out.setdefault(e.task, []).append(c)
        return {k: sum(v) / len(v) for k, v in out.items()}


def exact_match(model: GPT, tokenizer: ChatTokenizer, examples: Sequence[Example],
                template: ChatTemplate = ChatTemplate(), max_new_tokens: int = 24) -> ExactMatch:
    """Answer every example greedily and check it."""
    if not isinstance(examples, (list, tuple)) or not examples:
        raise ValueError("examples must be a non-empty list of tasks.Example")
    outputs = generate_answers(model, tokenizer, [e.prompt for e in examples], template, max_new_tokens)
    return ExactMatch(list(examples), outputs, [e.check(o) for e, o in zip(examples, outputs)])


def seed_bootstrap_interval(correct_per_seed: Sequence[Sequence[bool]], n_boot: int = 4000,
                            seed: int = 0) -> tuple[float, float, float]:
    """Pooled exact match and its 95 % percentile-bootstrap interval over seeds and prompts.

    Each bootstrap replicate draws ``K`` seeds with replacement, then, for each drawn
    seed, its ``N`` prompts with replacement, and takes the mean of all. With one seed
    this is the ordinary bootstrap over prompts (it then ignores training variation).

    Args:
        correct_per_seed: ``K`` lists of ``N`` booleans (one list per training seed).

    Returns:
        ``(mean, low, high)``.
    """
    if isinstance(correct_per_seed, torch.Tensor):
        correct_per_seed = correct_per_seed.tolist()
    if not isinstance(correct_per_seed, (list, tuple)) or not correct_per_seed or not all(
            isinstance(r, (list, tuple)) and r for r in correct_per_seed):
        raise ValueError("correct_per_seed must be a non-empty list of non-empty lists of booleans (one per seed)")
    n_boot = check_int(n_boot, "n_boot", min=100)
    x = torch.tensor([[float(bool(v)) for v in r] for r in correct_per_seed])   # (K, N); ragged lists fail here
    k, n = x.shape
    g = torch.Generator().manual_seed(seed)
    seeds = torch.randint(k, (n_boot, k), generator=g)                      # (n_boot, K)
    prompts = torch.randint(n, (n_boot, k, n), generator=g)                  # (n_boot, K, N)
    reps = x[seeds[..., None], prompts].mean(dim=(1, 2))
    lo, hi = torch.quantile(reps, torch.tensor([0.025, 0.975])).tolist()
    return float(x.mean()), lo, hi


def headline(label: str, correct_per_seed: Sequence[Sequence[bool]], digits: int = 2) -> str:
    """``"LABEL: X (95% interval A–B; N prompts, K seeds)"`` from :func:`seed_bootstrap_interval`."""
    mean, lo, hi = seed_bootstrap_interval(correct_per_seed)
    k, n = len(correct_per_seed), len(correct_per_seed[0])
    return f"{label}: {mean:.{digits}f} (95% interval {lo:.{digits}f}–{hi:.{digits}f}; {n} prompts, " \
           f"{k} seed{'s' if k != 1 else ''})"
