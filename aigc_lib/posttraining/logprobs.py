"""Log-probabilities of completions under a causal language model.

A *completion* is the part of a sequence the model is judged on (an answer
after its prompt). Sequences are stored right-padded in one ``(B, T)`` tensor
``input_ids`` with a ``(B, T)`` ``completion_mask`` that is 1 on completion
tokens and 0 on prompt and padding tokens. Right padding never changes the
earlier positions of a causal model, so no attention mask is needed.

The model predicts token ``t`` from tokens ``< t``, so the per-token values
have ``T - 1`` columns: column ``t - 1`` is ``log p(input_ids[:, t] | input_ids[:, :t])``
and is kept where ``completion_mask[:, t] == 1`` (the "shifted" mask
``completion_mask[:, 1:]``, as ``trl`` writes it).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..core.checks import check_float, check_tensor

__all__ = ["check_completion_batch", "per_token_log_probs", "sequence_log_probs", "mean_token_log_probs"]

LogitsModel = Callable[[torch.Tensor], torch.Tensor] | nn.Module


def check_completion_batch(input_ids: torch.Tensor, completion_mask: torch.Tensor,
                           name: str = "input_ids") -> None:
    """Check shapes and dtypes of ``input_ids (B, T)`` and its ``completion_mask (B, T)``.

    The first token can never be a completion token (nothing predicts it), and
    each row needs at least one completion token.
    """
    check_tensor(input_ids, name, ndim=2, kind="int", shape_hint="(B, T) token ids")
    check_tensor(completion_mask, "completion_mask", ndim=2, shape_hint="(B, T) of 0/1")
    if completion_mask.shape != input_ids.shape:
        raise ValueError(f"completion_mask must have the shape of {name} {tuple(input_ids.shape)}, "
                         f"got {tuple(completion_mask.shape)}")
    if input_ids.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 tokens per row (a prompt token and a completion token), "
                         f"got shape {tuple(input_ids.shape)}")
    m = completion_mask
    if m.dtype != torch.bool and not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("completion_mask must hold only 0 and 1")
    if bool(m[:, 0].bool().any()):
        raise ValueError("completion_mask[:, 0] must be 0: the first token has no context that predicts it "
                         "(put at least one prompt token before the completion)")
    if not bool(m.bool().any(dim=1).all()):
        raise ValueError("every row needs at least one completion token (completion_mask is all 0 in a row)")


def per_token_log_probs(model: LogitsModel, input_ids: torch.Tensor, completion_mask: torch.Tensor,
                        temperature: float = 1.0) -> torch.Tensor:
    """``(B, T - 1)`` log-probabilities of each completion token, 0 elsewhere.

    Args:
        model: maps ids ``(B, T)`` to logits ``(B, T, V)`` (a :class:`~aigc_lib.lm.gpt.GPT`).
        input_ids: ``(B, T)`` prompt + completion + right padding.
        completion_mask: ``(B, T)``, 1 on completion tokens.
        temperature: the logits are divided by it first (GRPO scores samples drawn
            at a temperature this way; ``trl`` does the same).

    Gradients flow to the model unless you call it under ``torch.no_grad()``.
    """
    check_completion_batch(input_ids, completion_mask)
    temperature = check_float(temperature, "temperature", min=0.0, min_open=True)
    logits = model(input_ids[:, :-1]).float()
    if logits.ndim != 3 or logits.shape[:2] != input_ids[:, :-1].shape:
        raise ValueError(f"model must return logits (B, T, V); got shape {tuple(logits.shape)} for ids "
                         f"{tuple(input_ids[:, :-1].shape)}")
    logp = torch.log_softmax(logits / temperature, dim=-1)
    token_lp = logp.gather(-1, input_ids[:, 1:, None].long()).squeeze(-1)      # (B, T-1)
    return token_lp * completion_mask[:, 1:].to(token_lp.dtype)


def sequence_log_probs(model: LogitsModel, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` total log-probability ``log pi(completion | prompt)`` of each row's completion."""
    return per_token_log_probs(model, input_ids, completion_mask).sum(dim=1)


def mean_token_log_probs(model: LogitsModel, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mean log-probability per completion token (length-normalised)."""
    lp = per_token_log_probs(model, input_ids, completion_mask)
    return lp.sum(dim=1) / completion_mask[:, 1:].sum(dim=1).to(lp.dtype)
