"""Pieces of PPO for language models (Schulman et al., 2017; Ouyang et al., 2022).

In RLHF with PPO the *policy* ``pi_theta`` (the language model being tuned)
writes answers; a reward model scores them; a KL penalty against a frozen
*reference* ``pi_ref`` keeps the policy close to the SFT model. PPO reuses
each batch of samples for a few updates. Samples were drawn by the *old*
policy ``pi_old``, so each token's gradient is weighted by the ratio
``rho = pi_theta / pi_old``, and the *clipped surrogate objective*

    L = E[ min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) ]

stops an update from pushing ``rho`` far from 1 (``A`` is the advantage: how
much better than expected the sample was). We minimise ``-L`` per token.
"""
from __future__ import annotations

import torch

from ..core.checks import check_float, check_tensor

__all__ = ["masked_mean", "clipped_surrogate_loss", "kl_k1", "kl_k3", "kl_penalised_token_rewards"]


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is 1 (all of them, or along ``dim``)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def _check_logps(name: str, t: torch.Tensor, like: torch.Tensor | None = None) -> None:
    check_tensor(t, name, ndim=2, kind="float", shape_hint="(B, T) per-token log-probabilities")
    if like is not None and t.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(like.shape)}")


def clipped_surrogate_loss(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor,
                           clip_eps: float = 0.2, clip_eps_high: float | None = None) -> torch.Tensor:
    """Per-token loss ``-min(rho A, clip(rho, 1 - eps, 1 + eps_high) A)``, shape ``(B, T)``.

    Args:
        logps: ``(B, T)`` log-probabilities of the sampled tokens under the current policy (with gradients).
        old_logps: ``(B, T)`` the same under the policy that sampled them (no gradients).
        advantages: ``(B,)`` one per sequence (GRPO) or ``(B, T)`` per token (PPO with a value function).
        clip_eps, clip_eps_high: the clip range ``[1 - clip_eps, 1 + clip_eps_high]``
            (``clip_eps_high`` defaults to ``clip_eps``; DAPO raises it).
    """
    _check_logps("logps", logps)
    _check_logps("old_logps", old_logps, logps)
    check_tensor(advantages, "advantages", ndim=(1, 2), kind="float", shape_hint="(B,) or (B, T)")
    clip_eps = check_float(clip_eps, "clip_eps", min=0.0, min_open=True)
    clip_eps_high = clip_eps if clip_eps_high is None else check_float(clip_eps_high, "clip_eps_high", min=0.0,
                                                                       min_open=True)
    if advantages.ndim == 1:
        if advantages.shape[0] != logps.shape[0]:
            raise ValueError(f"advantages has {advantages.shape[0]} rows, logps has {logps.shape[0]}")
        advantages = advantages[:, None]
    elif advantages.shape != logps.shape:
        raise ValueError(f"per-token advantages must have the shape of logps {tuple(logps.shape)}, "
                         f"got {tuple(advantages.shape)}")
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps_high)
    return -torch.min(ratio * advantages, clipped * advantages)


def kl_k1(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token ``log pi - log pi_ref``: unbiased for ``KL(pi || pi_ref)`` on samples from ``pi``, but noisy and
    negative on some tokens (Schulman, 2020, "Approximating KL divergence")."""
    _check_logps("logps", logps)
    _check_logps("ref_logps", ref_logps, logps)
    return logps - ref_logps


def kl_k3(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token ``exp(d) - d - 1`` with ``d = log pi_ref - log pi``: the *k3* estimator of
    ``KL(pi || pi_ref)`` (Schulman, 2020), >= 0 and unbiased on samples from ``pi``. GRPO (Shao et al., 2024)
    and ``trl`` use it."""
    _check_logps("logps", logps)
    _check_logps("ref_logps", ref_logps, logps)
    d = ref_logps - logps
    return torch.exp(d) - d - 1


def kl_penalised_token_rewards(scores: torch.Tensor, logps: torch.Tensor, ref_logps: torch.Tensor,
                               mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """InstructGPT's per-token rewards ``(B, T)``: ``-kl_coef * (log pi - log pi_ref)`` at every answer token,
    plus the reward model's score ``(B,)`` at the last answer token."""
    _check_logps("logps", logps)
    _check_logps("ref_logps", ref_logps, logps)
    check_tensor(scores, "scores", ndim=1, kind="float", shape_hint="(B,) reward-model scores")
    kl_coef = check_float(kl_coef, "kl_coef", min=0.0)
    m = mask.to(logps.dtype)
    rewards = -kl_coef * (logps - ref_logps) * m
    t = torch.arange(1, m.shape[1] + 1, device=m.device)
    last = ((m > 0) * t).amax(dim=1) - 1
    if bool((last < 0).any()):
        raise ValueError("every row needs at least one answer token in mask")
    rewards[torch.arange(m.shape[0]), last] += scores
    return rewards
