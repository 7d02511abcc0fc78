"""Direct Preference Optimization (DPO; Rafailov et al., 2023).

RLHF maximises a reward minus a KL penalty that keeps the policy ``pi`` near
a frozen reference ``pi_ref`` (the SFT model)::

    max_pi  E[r(x, y)] - beta * KL(pi(.|x) || pi_ref(.|x))

whose optimum is ``pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x)``. Solved
for the reward, ``r(x, y) = beta log(pi*(y|x) / pi_ref(y|x)) + beta log Z(x)``;
put into the Bradley–Terry likelihood, ``Z`` cancels and the loss on a pair is

    loss = -log sigma(beta * [(log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))])

``beta * (log pi - log pi_ref)`` is the *implicit reward* of an answer. When
``pi = pi_ref`` every log ratio is 0 and the loss is ``log 2 = 0.693``.

This is ``trl``'s ``DPOTrainer`` with ``loss_type="sigmoid"`` and
``f_divergence_type="reverse_kl"`` (its defaults), log-probabilities summed
over the answer tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_float, check_tensor
from ..core.task import Task
from .logprobs import check_completion_batch, per_token_log_probs

__all__ = ["check_beta", "check_frozen_reference", "dpo_loss", "DPOTask"]


def check_beta(beta: float) -> float:
    """``beta`` must be a finite number > 0 (it sets the strength of the KL penalty)."""
    return check_float(beta, "beta", min=0.0, min_open=True,
                       note=" (the KL penalty strength; beta <= 0 removes or inverts the pull to the reference)")


def check_frozen_reference(policy: nn.Module, reference: nn.Module) -> None:
    """Raise unless ``reference`` is a separate, frozen model with the policy's vocabulary.

    Frozen means every parameter has ``requires_grad == False`` (call
    ``reference.requires_grad_(False)``); separate means it shares no
    parameter tensor with the policy (a shared tensor would move with it).
    """
    if not isinstance(reference, nn.Module) or not isinstance(policy, nn.Module):
        raise TypeError(f"policy and reference must be nn.Modules, got {type(policy).__name__} and "
                        f"{type(reference).__name__}")
    if reference is policy:
        raise ValueError("reference is the policy itself: pass a frozen copy (copy.deepcopy(policy).requires_grad_(False))")
    trainable = [n for n, p in reference.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(f"the reference model must be frozen, but {len(trainable)} of its parameters require grad "
                         f"(e.g. {trainable[0]!r}); call reference.requires_grad_(False)")
    shared = {id(p) for p in policy.parameters()} & {id(p) for p in reference.parameters()}
    if shared:
        raise ValueError(f"the reference shares {len(shared)} parameter tensor(s) with the policy; pass a copy")
    pv = getattr(getattr(policy, "config", None), "vocab_size", None)
    rv = getattr(getattr(reference, "config", None), "vocab_size", None)
    if pv is not None and rv is not None and pv != rv:
        raise ValueError(f"policy and reference use different tokenizers: vocab_size {pv} vs {rv}")


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss of ``N`` pairs from sequence log-probabilities (each ``(N,)``).

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each ``(N,)``: per-pair
        losses (take ``.mean()``), and the implicit rewards
        ``beta * (log pi - log pi_ref)`` (detached) of the two answers.
    """
    beta = check_beta(beta)
    names = ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps")
    tensors = (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    for name, t in zip(names, tensors):
        check_tensor(t, name, ndim=1, kind="float", shape_hint="(N,) sequence log-probabilities")
        if t.shape != policy_chosen_logps.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(policy_chosen_logps.shape)}")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


class DPOTask(Task):
    """Trains a policy GPT with the DPO loss against a frozen reference.

    Args:
        policy: the model being tuned (e.g. the SFT model).
        reference: a frozen copy of the starting policy
            (``copy.deepcopy(policy).requires_grad_(False)``); it is kept in eval mode.
        beta: the KL penalty strength, > 0 (0.1 is common).
        lr: AdamW learning rate.

    Batches are ``(chosen_ids, chosen_mask, rejected_ids, rejected_mask)``
    from :func:`aigc_lib.posttraining.preferences.encode_pairs`. The logged
    metrics are the loss, the reward accuracy (implicit reward of the chosen
    answer above the rejected one) and the mean reward margin.
    """

    def __init__(self, policy: nn.Module, reference: nn.Module, beta: float = 0.1, lr: float = 1e-4,
                 weight_decay: float = 0.0) -> None:
        super().__init__()
        self.beta = check_beta(beta)
        check_frozen_reference(policy, reference)
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.policy = policy
        self.reference = reference.eval()

    def train(self, mode: bool = True) -> "DPOTask":
        super().train(mode)
        self.reference.eval()            # the reference never uses dropout
        return self

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.policy.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    def _logps(self, batch) -> tuple[torch.Tensor, ...]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 4:
            raise TypeError("DPOTask expects batches (chosen_ids, chosen_mask, rejected_ids, rejected_mask), "
                            f"got {type(batch).__name__}")
        c_ids, c_mask, r_ids, r_mask = batch
        check_completion_batch(c_ids, c_mask, "chosen_ids")
        check_completion_batch(r_ids, r_mask, "rejected_ids")
        if c_ids.shape != r_ids.shape:
            raise ValueError(f"chosen_ids {tuple(c_ids.shape)} and rejected_ids {tuple(r_ids.shape)} must have one "
                             f"shape (pad them together, as encode_pairs does)")
        ids, mask = torch.cat([c_ids, r_ids]), torch.cat([c_mask, r_mask])     # one forward pass for both
        if any(p.requires_grad for p in self.reference.parameters()):
            raise ValueError("the reference model must stay frozen, but some of its parameters now require grad")
        pol = per_token_log_probs(self.policy, ids, mask).sum(dim=1)
        with torch.no_grad():
            ref = per_token_log_probs(self.reference, ids, mask).sum(dim=1)
        n = c_ids.shape[0]
        return pol[:n], pol[n:], ref[:n], ref[n:]

    def training_loss(self, batch, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        losses, rc, rr = dpo_loss(*self._logps(batch), beta=self.beta)
        return {"loss": losses.mean(), "reward_accuracy": (rc > rr).float().mean(), "reward_margin": (rc - rr).mean()}

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, torch.Tensor]:
        return self.training_loss(batch)
