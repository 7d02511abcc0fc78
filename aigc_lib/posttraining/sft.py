"""Supervised fine-tuning (SFT) on chat-formatted examples, with loss masking.

SFT trains a pretrained language model on conversations written in the chat
format (:mod:`~aigc_lib.posttraining.chat`), with the same next-token
cross-entropy as pretraining. The one change is *which* predictions count:

* ``loss_on="answer"`` (masked SFT, as in InstructGPT and Llama 2): only the
  tokens of the assistant's reply (its text and its ``<|end|>``) enter the
  loss. The model learns to answer, not to write prompts.
* ``loss_on="sequence"``: every real token (prompt and answer; never padding)
  enters the loss, like pretraining on the formatted text.

:class:`SFTBatches` yields ``(x, y, answer_mask, token_mask)``, each ``(B, T)``;
:func:`masked_cross_entropy` is the mean of the per-token cross-entropy over
the positions where the mask is ``True``; :class:`SFTTask` trains a GPT with it
through the course :class:`~aigc_lib.core.trainer.Trainer`.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from ..core.checks import check_bool, check_choice, check_float, check_int, check_tensor
from ..lm.gpt import GPT, _param_groups
from ..core.task import Task
from .chat import END, ChatTemplate, ChatTokenizer, encode_conversation
from .tasks import Example

__all__ = ["encode_example", "SFTBatches", "masked_cross_entropy", "SFTTask"]


def encode_example(example: Example, tokenizer: ChatTokenizer,
                   template: ChatTemplate = ChatTemplate()) -> tuple[list[int], list[bool]]:
    """Ids and loss mask of one example as a two-turn conversation (see :func:`~.chat.encode_conversation`)."""
    if not isinstance(example, Example):
        raise TypeError(f"example must be a tasks.Example, got {type(example).__name__}")
    return encode_conversation([{"role": "user", "content": example.prompt},
                                {"role": "assistant", "content": example.answer}], tokenizer, template)


class SFTBatches:
    """Random batches of chat-formatted examples, padded to the longest in each batch.

    Batch ``k`` depends only on ``(seed, k)`` (so a run resumes exactly). Each batch is
    ``(x, y, answer_mask, token_mask)``: ``x = ids[:, :-1]``, ``y = ids[:, 1:]`` (the next
    token), ``answer_mask`` is ``True`` where ``y`` is a token of the answer, and
    ``token_mask`` where ``y`` is a real token (not padding). All are ``(B, T)`` with
    ``T + 1`` the longest example of the batch.

    Args:
        examples: the training examples.
        tokenizer: a :class:`~.chat.ChatTokenizer`.
        batch_size: examples per batch.
        block_size: the model's context; a longer example is an error.
        template: the chat template.
        seed: seed of the sampling.
        num_batches: ``None`` for an endless stream (training), else a fixed set (evaluation).
    """

    def __init__(self, examples: Sequence[Example], tokenizer: ChatTokenizer, batch_size: int, block_size: int,
                 template: ChatTemplate = ChatTemplate(), seed: int = 0, num_batches: int | None = None) -> None:
        if not isinstance(tokenizer, ChatTokenizer):
            raise TypeError(f"tokenizer must be a ChatTokenizer, got {type(tokenizer).__name__}")
        if not isinstance(examples, (list, tuple)) or not examples:
            raise ValueError("examples must be a non-empty list of tasks.Example")
        self.batch_size = check_int(batch_size, "batch_size", min=1)
        block_size = check_int(block_size, "block_size", min=2)
        self.seed = check_int(seed, "seed", min=0)
        self.num_batches = check_int(num_batches, "num_batches", min=1, allow_none=True)
        self.pad_id = tokenizer.token_id(END) if END in tokenizer.special_ids else 0
        encoded = [encode_example(e, tokenizer, template) for e in examples]
        longest = max(len(ids) for ids, _ in encoded)
        if longest - 1 > block_size:
            raise ValueError(f"the longest example has {longest} tokens; the model reads at most block_size + 1 = "
                             f"{block_size + 1} (inputs and shifted targets); shorten the examples")
        self.ids = torch.full((len(encoded), longest), self.pad_id, dtype=torch.long)
        self.answer = torch.zeros(len(encoded), longest, dtype=torch.bool)
        self.real = torch.zeros(len(encoded), longest, dtype=torch.bool)
        self.lengths = torch.tensor([len(ids) for ids, _ in encoded])
        for i, (ids, mask) in enumerate(encoded):
            self.ids[i, :len(ids)] = torch.tensor(ids)
            self.answer[i, :len(ids)] = torch.tensor(mask)
            self.real[i, :len(ids)] = True
        self.counter = 0
        self.rank, self.world_size = 0, 1

    def __len__(self) -> int:
        return len(self.ids) if self.num_batches is None else self.num_batches

    @property
    def endless(self) -> bool:
        return self.num_batches is None

    def shard(self, rank: int, world_size: int) -> None:
        if self.batch_size % world_size:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by world_size={world_size}")
        self.rank, self.world_size = rank, world_size

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch number ``k``: ``(x, y, answer_mask, token_mask)``."""
        k = check_int(k, "k", min=0)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        rows = torch.randint(len(self.ids), (self.batch_size,), generator=g)[self.rank::self.world_size]
        t = int(self.lengths[rows].max())
        ids, answer, real = self.ids[rows, :t], self.answer[rows, :t], self.real[rows, :t]
        return ids[:, :-1], ids[:, 1:], answer[:, 1:], real[:, 1:]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.num_batches is not None:
            for k in range(self.num_batches):
                yield self.batch(k)
            return
        while True:
            k = self.counter
            self.counter += 1
            yield self.batch(k)

    def state_dict(self) -> dict[str, int]:
        return {"counter": self.counter}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.counter = check_int(state["counter"], "state['counter']", min=0)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions where ``mask`` is ``True``.

    Args:
        logits: ``(B, T, V)``.
        targets: ``(B, T)`` token ids.
        mask: ``(B, T)`` bool; at least one ``True``.

    Returns:
        a scalar: ``sum(mask * CE) / sum(mask)`` in nats per counted token.
    """
    check_tensor(logits, "logits", ndim=3, kind="float", shape_hint="(B, T, V)")
    check_tensor(targets, "targets", ndim=2, kind="int", shape_hint="(B, T)")
    check_tensor(mask, "mask", ndim=2, kind="bool", shape_hint="(B, T)")
    if targets.shape != logits.shape[:2] or mask.shape != targets.shape:
        raise ValueError(f"logits (B, T, V), targets (B, T) and mask (B, T) must agree, got "
                         f"{tuple(logits.shape)}, {tuple(targets.shape)} and {tuple(mask.shape)}")
    n = mask.sum()
    if int(n) == 0:
        raise ValueError("mask selects no token: there is nothing to learn from in this batch "
                         "(are the answers empty, or was the mask shifted away?)")
    ce = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")
    return (ce * mask.flatten()).sum() / n


class SFTTask(Task):
    """Supervised fine-tuning of a :class:`~aigc_lib.lm.gpt.GPT` with AdamW.

    Batches are :class:`SFTBatches`' ``(x, y, answer_mask, token_mask)``. Only
    parameters with ``requires_grad`` are optimised (so a LoRA-wrapped model
    trains only its adapters).

    Args:
        model: the GPT.
        loss_on: ``"answer"`` (masked SFT) or ``"sequence"`` (every real token).
        lr, weight_decay, betas: AdamW settings (weight decay on matrices only).
    """

    def __init__(self, model: GPT, loss_on: str = "answer", lr: float = 1e-3, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.99)) -> None:
        super().__init__()
        if not isinstance(model, GPT):
            raise TypeError(f"model must be a GPT, got {type(model).__name__}")
        self.loss_on = check_choice(loss_on, "loss_on", ("answer", "sequence"))
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.betas = (check_float(betas[0], "betas[0]", min=0.0, max=1.0, max_open=True),
                      check_float(betas[1], "betas[1]", min=0.0, max=1.0, max_open=True))
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("the model has no trainable parameter (every requires_grad is False)")
        self.model = model

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(_param_groups(self.model, self.weight_decay), lr=self.lr, betas=self.betas)

    def training_loss(self, batch, optimizer_name: str = "main") -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 4:
            raise TypeError("SFTTask expects batches (x, y, answer_mask, token_mask) as SFTBatches yields them, "
                            f"got {type(batch).__name__}")
        x, y, answer_mask, token_mask = batch
        mask = answer_mask if self.loss_on == "answer" else token_mask
        return masked_cross_entropy(self.model(x), y, mask)

    def validation_metrics(self, batch) -> dict[str, torch.Tensor]:
        x, y, answer_mask, token_mask = batch
        logits = self.model(x)
        return {"loss": masked_cross_entropy(logits, y, answer_mask if self.loss_on == "answer" else token_mask),
                "answer_loss": masked_cross_entropy(logits, y, answer_mask)}
