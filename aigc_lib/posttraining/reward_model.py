"""A Bradley–Terry reward model on a GPT's trunk (Ouyang et al., 2022).

The reward model reads a prompt and an answer and gives one number, the
*reward* ``r``. It is the GPT without its output layer (the *trunk*: embeddings,
blocks, final layer norm) plus a linear *scalar head* on the hidden state of
the last real token.

The Bradley–Terry model (Bradley & Terry, 1952) says a labeller prefers the
chosen answer with probability ``sigma(r_chosen - r_rejected)``; training
maximises the likelihood of the labels, i.e. minimises

    loss = -log sigma(r_chosen - r_rejected)

averaged over pairs. *Pair accuracy* is the fraction of pairs with
``r_chosen > r_rejected``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_float, check_tensor
from ..lm.gpt import GPT
from ..core.task import Task
from .logprobs import check_completion_batch

__all__ = ["gpt_hidden_states", "lengths_from_mask", "RewardModel", "bradley_terry_loss", "pair_accuracy", "RewardModelTask"]


def gpt_hidden_states(gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The trunk of a :class:`~aigc_lib.lm.gpt.GPT`: ids ``(B, T)`` -> hidden states ``(B, T, C)`` after the final norm."""
    gpt._check_ids(idx, 0)
    x = gpt.dropout(gpt.position_embedding(gpt.token_embedding(idx), start=0))
    for block in gpt.blocks:
        x = block(x, is_causal=True)
    return gpt.final_norm(x)


class RewardModel(nn.Module):
    """Scalar reward ``(B,)`` of right-padded sequences ``(B, T)``.

    Args:
        gpt: the GPT whose trunk is used; it is deep-copied (the reward model
            never changes the language model), and its output layer is not used.
    """

    def __init__(self, gpt: GPT) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"gpt must be an aigc_lib GPT, got {type(gpt).__name__}")
        self.trunk = copy.deepcopy(gpt)
        self.head = nn.Linear(gpt.config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=gpt.config.init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Rewards ``(B,)``: the head on the hidden state at position ``lengths - 1`` (the last real token).

        Args:
            input_ids: ``(B, T)`` right-padded token ids.
            lengths: ``(B,)`` number of real (non-padding) tokens per row, ``1 <= lengths <= T``.
        """
        check_tensor(input_ids, "input_ids", ndim=2, kind="int", shape_hint="(B, T) token ids")
        check_tensor(lengths, "lengths", ndim=1, kind="int", shape_hint="(B,) real tokens per row")
        if lengths.shape[0] != input_ids.shape[0]:
            raise ValueError(f"lengths must have one entry per row ({input_ids.shape[0]}), got {lengths.shape[0]}")
        if bool((lengths < 1).any()) or bool((lengths > input_ids.shape[1]).any()):
            raise ValueError(f"lengths must be in [1, T={input_ids.shape[1]}], got {lengths.tolist()}")
        h = gpt_hidden_states(self.trunk, input_ids)                         # (B, T, C)
        last = h[torch.arange(h.shape[0], device=h.device), lengths.long() - 1]   # (B, C)
        return self.head(last).squeeze(-1).float()


def lengths_from_mask(completion_mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` index of the last completion token + 1, from a right-padded ``(B, T)`` completion mask."""
    t = torch.arange(1, completion_mask.shape[1] + 1, device=completion_mask.device)
    return (completion_mask.long() * t).amax(dim=1)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log sigma(r_chosen - r_rejected)`` over pairs (a scalar)."""
    check_tensor(r_chosen, "r_chosen", ndim=1, kind="float", shape_hint="(N,) rewards")
    check_tensor(r_rejected, "r_rejected", ndim=1, kind="float", shape_hint="(N,) rewards")
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen {tuple(r_chosen.shape)} and r_rejected {tuple(r_rejected.shape)} differ in shape")
    if r_chosen.numel() == 0:
        raise ValueError("no pairs: r_chosen is empty")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def pair_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Fraction of pairs with ``r_chosen > r_rejected`` (a tie counts as wrong)."""
    return (r_chosen > r_rejected).float().mean()


class RewardModelTask(Task):
    """Trains a :class:`RewardModel` with the Bradley–Terry loss (AdamW).

    Batches are ``(chosen_ids, chosen_mask, rejected_ids, rejected_mask)``
    as :func:`aigc_lib.posttraining.preferences.encode_pairs` makes them
    (``TensorBatches`` of those four tensors).
    """

    def __init__(self, reward_model: RewardModel, lr: float = 3e-4, weight_decay: float = 0.0) -> None:
        super().__init__()
        if not isinstance(reward_model, RewardModel):
            raise TypeError(f"reward_model must be a RewardModel, got {type(reward_model).__name__}")
        self.reward_model = reward_model
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.reward_model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    def rewards(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 4:
            raise TypeError("RewardModelTask expects batches (chosen_ids, chosen_mask, rejected_ids, rejected_mask), "
                            f"got {type(batch).__name__}")
        c_ids, c_mask, r_ids, r_mask = batch
        check_completion_batch(c_ids, c_mask, "chosen_ids")
        check_completion_batch(r_ids, r_mask, "rejected_ids")
        return (self.reward_model(c_ids, lengths_from_mask(c_mask)),
                self.reward_model(r_ids, lengths_from_mask(r_mask)))

    def training_loss(self, batch, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        rc, rr = self.rewards(batch)
        return {"loss": bradley_terry_loss(rc, rr), "accuracy": pair_accuracy(rc.detach(), rr.detach())}

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, torch.Tensor]:
        rc, rr = self.rewards(batch)
        return {"loss": bradley_terry_loss(rc, rr), "accuracy": pair_accuracy(rc, rr)}
