"""Group Relative Policy Optimization (GRPO; Shao et al., 2024).

GRPO drops PPO's value network. For each prompt it samples a *group* of
``G`` answers, scores each with a reward (here a *verifiable* one: is the
arithmetic right?), and uses the reward's standing within its group as the
advantage of every token of that answer::

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + 1e-4)

The per-token loss is PPO's clipped surrogate plus ``beta`` times the k3
estimate of ``KL(pi || pi_ref)`` (see :mod:`.ppo`), averaged over the tokens
of each answer, then over answers (``trl``'s ``loss_type="grpo"``; ``"bnpo"``
averages over all tokens of the batch; ``"dr_grpo"`` divides by a constant).

A group whose rewards are all equal (all right or all wrong) has zero
advantage: it teaches nothing. :func:`group_advantages` reports which groups
are *flat*; when most are, the reward curve stays flat.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..core.checks import check_bool, check_choice, check_float, check_int, check_tensor
from ..core.task import Task
from .dpo import check_frozen_reference
from .logprobs import per_token_log_probs
from .ppo import clipped_surrogate_loss, kl_k3, masked_mean

__all__ = ["LOSS_TYPES", "PromptBatches", "group_advantages", "grpo_loss", "arithmetic_reward", "completion_mask_until_eos",
           "sample_group", "GRPOTask"]

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo")


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-normalised advantages.

    Args:
        rewards: ``(N, G)``: ``N`` groups (prompts) of ``G`` answers each.
        scale: divide by the group's standard deviation (Bessel-corrected, as ``trl``) plus ``eps``;
            ``False`` only subtracts the mean (Dr. GRPO; Liu et al., 2025).

    Returns:
        ``(advantages (N, G), flat (N,) bool)``: ``flat`` marks groups whose rewards are all
        equal, whose advantages are therefore all zero.
    """
    check_tensor(rewards, "rewards", ndim=2, kind="float", shape_hint="(N groups, G answers)")
    if rewards.shape[0] == 0 or rewards.shape[1] == 0:
        raise ValueError(f"every group needs at least one answer, and there must be at least one group; "
                         f"got rewards of shape {tuple(rewards.shape)}")
    if scale and rewards.shape[1] < 2:
        raise ValueError("a group of 1 answer has no standard deviation: use groups of G >= 2 (or scale=False)")
    if not bool(torch.isfinite(rewards).all()):
        raise ValueError("rewards must be finite numbers (got NaN or inf)")
    eps = check_float(eps, "eps", min=0.0, min_open=True)
    mean = rewards.mean(dim=1, keepdim=True)
    adv = rewards - mean
    flat = (rewards == rewards[:, :1]).all(dim=1)
    if scale:
        adv = adv / (rewards.std(dim=1, keepdim=True) + eps)
    return adv, flat


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
              ref_logps: torch.Tensor | None = None, beta: float = 0.0, clip_eps: float = 0.2,
              clip_eps_high: float | None = None, loss_type: str = "grpo",
              max_completion_length: int | None = None,
              kl_ratio_correction: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRPO loss of ``B`` answers.

    Args:
        logps, old_logps: ``(B, T)`` per-token log-probabilities of the answers under the current
            policy and under the policy that sampled them.
        advantages: ``(B,)``, e.g. ``group_advantages(...)[0].flatten()``.
        mask: ``(B, T)`` 1 on answer tokens.
        ref_logps: ``(B, T)`` under the frozen reference; needed when ``beta > 0``.
        beta: weight of the k3 KL term (0 turns it off, as ``trl``'s default does).
        loss_type: ``"grpo"`` (mean over each answer's tokens, then over answers),
            ``"bnpo"`` (mean over all answer tokens), ``"dr_grpo"`` (sum / (B * max_completion_length)).
        kl_ratio_correction: multiply each token's KL term by the ratio ``pi / pi_old``, so that it
            estimates the KL of the current policy when the samples came from the old one (``trl``'s
            ``use_bias_correction_kl=True``, its default in 1.16). With one update per batch of samples
            the ratio is 1 and this changes nothing.

    Returns:
        ``(loss, per_token_loss (B, T))``.
    """
    check_choice(loss_type, "loss_type", LOSS_TYPES)
    beta = check_float(beta, "beta", min=0.0)
    check_bool(kl_ratio_correction, "kl_ratio_correction")
    check_tensor(mask, "mask", ndim=2, shape_hint="(B, T) of 0/1")
    if mask.shape != logps.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {tuple(logps.shape)}")
    per_token = clipped_surrogate_loss(logps, old_logps, advantages, clip_eps, clip_eps_high)
    if beta > 0:
        if ref_logps is None:
            raise ValueError("beta > 0 needs ref_logps (the reference model's per-token log-probabilities)")
        kl = kl_k3(logps, ref_logps)
        if kl_ratio_correction:
            kl = kl * torch.exp(logps - old_logps)
        per_token = per_token + beta * kl
    m = mask.to(per_token.dtype)
    if loss_type == "grpo":
        loss = ((per_token * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * m).sum() / m.sum().clamp(min=1.0)
    else:
        if max_completion_length is None:
            raise ValueError("loss_type='dr_grpo' needs max_completion_length")
        max_completion_length = check_int(max_completion_length, "max_completion_length", min=1)
        loss = (per_token * m).sum() / (per_token.shape[0] * max_completion_length)
    return loss, per_token


def arithmetic_reward(completion: str, answer: int | str, partial: float = 0.0) -> float:
    """A verifiable reward: 1.0 if the completion (stripped) is exactly the answer, else partial credit.

    ``partial`` (in ``[0, 1)``) gives a wrong answer ``partial`` times the fraction of the answer's characters
    that the completion has in the same place, counted from the right (units under units, tens under tens),
    so that a nearly right number scores above a far one. ``partial=0`` is the plain 0/1 reward.
    """
    if not isinstance(completion, str):
        raise TypeError(f"completion must be a string, got {type(completion).__name__}")
    partial = check_float(partial, "partial", min=0.0, max=1.0, max_open=True)
    got, want = completion.strip(), str(answer).strip()
    if got == want:
        return 1.0
    if partial == 0.0 or not got:
        return 0.0
    same = sum(a == b for a, b in zip(reversed(got), reversed(want)))
    return partial * same / max(len(got), len(want))


def completion_mask_until_eos(completion_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """``(B, T)`` long mask: 1 up to and including each row's first ``eos_id``, 0 after it."""
    check_tensor(completion_ids, "completion_ids", ndim=2, kind="int", shape_hint="(B, T) token ids")
    eos_id = check_int(eos_id, "eos_id", min=0)
    is_eos = (completion_ids == eos_id).long()
    after_eos = (is_eos.cumsum(dim=1) - is_eos) > 0            # strictly after the first EOS
    return (~after_eos).long()


@torch.no_grad()
def sample_group(model: nn.Module, prompt_ids: torch.Tensor, group_size: int, max_new_tokens: int,
                 eos_id: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``group_size`` answers to one prompt.

    Args:
        model: a GPT with ``generate``.
        prompt_ids: ``(Tp,)`` token ids.

    Returns:
        ``(completion_ids, completion_mask)``, each ``(group_size, max_new_tokens)``; the mask
        covers each answer up to and including its first ``eos_id``.
    """
    check_tensor(prompt_ids, "prompt_ids", ndim=1, kind="int", shape_hint="(Tp,) token ids of one prompt")
    group_size = check_int(group_size, "group_size", min=1)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=1)
    out = model.generate(prompt_ids[None].repeat(group_size, 1), max_new_tokens, temperature=temperature,
                         top_k=top_k, generator=generator)
    completion = out[:, prompt_ids.shape[0]:]
    return completion, completion_mask_until_eos(completion, eos_id)


class PromptBatches:
    """Endless shuffled batches of ``(prompt_ids, target)`` pairs for :class:`GRPOTask`, checkpointable.

    Args:
        items: ``(prompt_ids (Tp,) long tensor, target)`` pairs; the targets are anything the reward reads.
        batch_size: prompts per batch (each gets a group of answers).
        seed: seed of the shuffles (epoch ``e`` uses ``seed + e``).
    """

    endless = True

    def __init__(self, items: Sequence[tuple[torch.Tensor, Any]], batch_size: int, seed: int = 0) -> None:
        self.items = list(items)
        if not self.items:
            raise ValueError("items is empty: expected (prompt_ids, target) pairs")
        for i, item in enumerate(self.items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"items must be (prompt_ids, target) pairs, got {item!r:.60} at position {i}")
            check_tensor(item[0], f"items[{i}] prompt_ids", ndim=1, kind="int", shape_hint="(Tp,) token ids")
        self.batch_size = check_int(batch_size, "batch_size", min=1, max=len(self.items))
        self.seed = check_int(seed, "seed", min=0)
        self.epoch, self.index = 0, 0

    def __len__(self) -> int:
        return len(self.items) // self.batch_size

    def __iter__(self):
        while True:
            order = torch.randperm(len(self.items), generator=torch.Generator().manual_seed(self.seed + self.epoch))
            while self.index < len(self):
                i = self.index
                self.index += 1
                yield [self.items[j] for j in order[i * self.batch_size:(i + 1) * self.batch_size].tolist()]
            self.epoch, self.index = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = check_int(state["epoch"], "state['epoch']", min=0)
        self.index = check_int(state["index"], "state['index']", min=0)


class GRPOTask(Task):
    """Trains a policy GPT with GRPO and a verifiable reward.

    Each training step samples a group of answers per prompt with the current
    policy (the global random generator, so a resumed run samples the same),
    scores them with ``reward_fn``, and takes one gradient step on
    :func:`grpo_loss`. With one update per batch of samples the old policy
    is the current one, so the ratio is 1 at the update (as in ``trl`` with
    ``num_iterations=1``); the clipping acts only when samples are reused.

    Args:
        policy: the model being tuned.
        reference: a frozen copy of the starting policy, or ``None`` when ``beta == 0``.
        reward_fn: ``(answer_ids: list[int] without the EOS, target) -> float``.
        eos_id: the end-of-answer token.
        group_size: ``G`` answers per prompt (>= 2).
        max_new_tokens: the longest answer.
        beta: weight of the KL term; clip_eps: the clip range; temperature: of sampling.

    Batches are lists of ``(prompt_ids (Tp,), target)`` pairs. Logged metrics:
    ``reward`` (mean), ``flat_groups`` (fraction of groups with equal rewards),
    ``answer_length`` (mean tokens, EOS included) and ``kl`` (mean k3 per token).
    """

    def __init__(self, policy: nn.Module, reference: nn.Module | None, reward_fn: Callable[[list[int], Any], float],
                 eos_id: int, group_size: int = 8, max_new_tokens: int = 8, beta: float = 0.04,
                 clip_eps: float = 0.2, temperature: float = 1.0, lr: float = 1e-5,
                 loss_type: str = "grpo") -> None:
        super().__init__()
        self.beta = check_float(beta, "beta", min=0.0)
        if reference is None and self.beta > 0:
            raise ValueError("beta > 0 needs a frozen reference model")
        if reference is not None:
            check_frozen_reference(policy, reference)
        if not callable(reward_fn):
            raise TypeError(f"reward_fn must be a function (answer_ids, target) -> float, got {type(reward_fn).__name__}")
        self.policy, self.reference, self.reward_fn = policy, reference, reward_fn
        self.eos_id = check_int(eos_id, "eos_id", min=0)
        self.group_size = check_int(group_size, "group_size", min=2)
        self.max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=1)
        self.clip_eps = check_float(clip_eps, "clip_eps", min=0.0, min_open=True)
        self.temperature = check_float(temperature, "temperature", min=0.0, min_open=True)
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.loss_type = check_choice(loss_type, "loss_type", LOSS_TYPES)
        if self.reference is not None:
            self.reference.eval()

    def train(self, mode: bool = True) -> "GRPOTask":
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()
        return self

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.policy.parameters() if p.requires_grad], lr=self.lr,
                                 weight_decay=0.0)

    def _rollout(self, batch: Sequence[tuple[torch.Tensor, Any]]):
        if not isinstance(batch, (list, tuple)) or not batch:
            raise TypeError(f"GRPOTask expects a non-empty list of (prompt_ids, target) pairs, got {batch!r:.80}")
        ids, masks, rewards = [], [], []
        for item in batch:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise TypeError(f"each batch item must be a (prompt_ids, target) pair, got {item!r:.80}")
            prompt, target = item
            completion, cmask = sample_group(self.policy, prompt, self.group_size, self.max_new_tokens,
                                             self.eos_id, temperature=self.temperature)
            r = []
            for row, m in zip(completion.tolist(), cmask.tolist()):
                answer = [t for t, keep in zip(row, m) if keep and t != self.eos_id]
                r.append(float(self.reward_fn(answer, target)))
            full = torch.cat([prompt[None].repeat(self.group_size, 1), completion], dim=1)
            fmask = torch.cat([torch.zeros(self.group_size, prompt.shape[0], dtype=torch.long,
                                           device=cmask.device), cmask], dim=1)
            ids.append(full)
            masks.append(fmask)
            rewards.append(r)
        return ids, masks, torch.tensor(rewards, dtype=torch.float32)

    def training_loss(self, batch, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        ids, masks, rewards = self._rollout(batch)
        adv, flat = group_advantages(rewards)
        tc = self.max_new_tokens
        logps = torch.cat([per_token_log_probs(self.policy, i, m, self.temperature)[:, -tc:]
                           for i, m in zip(ids, masks)])
        mask = torch.cat([m[:, -tc:] for m in masks])
        ref = None
        if self.reference is not None and self.beta > 0:
            with torch.no_grad():
                ref = torch.cat([per_token_log_probs(self.reference, i, m, self.temperature)[:, -tc:]
                                 for i, m in zip(ids, masks)])
        loss, _ = grpo_loss(logps, logps.detach(), adv.flatten().to(logps.device), mask, ref_logps=ref,
                            beta=self.beta, clip_eps=self.clip_eps, loss_type=self.loss_type,
                            max_completion_length=tc)
        out = {"loss": loss, "reward": rewards.mean(), "flat_groups": flat.float().mean(),
               "answer_length": mask.float().sum(1).mean()}
        if ref is not None:
            out["kl"] = masked_mean(kl_k3(logps.detach(), ref), mask)
        return out
