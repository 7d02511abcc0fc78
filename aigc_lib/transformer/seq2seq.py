"""An encoder–decoder Transformer (Vaswani et al., 2017) and its task for the Trainer.

* :class:`Seq2SeqConfig` and :class:`Seq2SeqTransformer`: token embeddings, sinusoidal or
  learned positions, a :class:`~aigc_lib.transformer.blocks.TransformerEncoder` and a
  :class:`~aigc_lib.transformer.blocks.TransformerDecoder`, and an output layer.
* :class:`Seq2SeqTask`: teacher-forced cross-entropy for :class:`aigc_lib.Trainer`.
* :func:`trim_padding`: cut the padding off decoded token ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_bool, check_float, check_int, check_tensor
from .attention import KVCache, padding_mask
from .linear import Linear
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from ..core.task import Task
from .blocks import BlockConfig, TransformerDecoder, TransformerEncoder, check_token_ids


@dataclass
class Seq2SeqConfig:
    """An encoder–decoder Transformer.

    Attributes:
        src_vocab, tgt_vocab: vocabulary sizes.
        d_model, n_heads, d_ff, dropout, norm_first, activation: as in :class:`BlockConfig`.
        n_encoder_layers, n_decoder_layers: stack depths.
        max_src_len, max_tgt_len: positional table sizes.
        positional: ``"sinusoidal"``, ``"learned"`` or ``"rope"`` (rotary in self-attention).
        pad_id: padding token, ignored by masks and the loss.
        tie_output: share the target embedding matrix with the output layer.
    """

    src_vocab: int
    tgt_vocab: int
    d_model: int = 128
    n_heads: int = 4
    d_ff: int | None = None
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "relu"
    max_src_len: int = 64
    max_tgt_len: int = 64
    positional: str = "sinusoidal"
    pad_id: int = 0
    tie_output: bool = True

    def __post_init__(self) -> None:
        if self.positional not in {"sinusoidal", "learned", "rope"}:
            raise ValueError(f"positional must be 'sinusoidal', 'learned' or 'rope', got {self.positional!r}")
        for name in ("src_vocab", "tgt_vocab", "max_src_len", "max_tgt_len", "d_model", "n_heads",
                     "n_encoder_layers", "n_decoder_layers"):
            setattr(self, name, check_int(getattr(self, name), name, min=1))
        self.d_ff = check_int(self.d_ff, "d_ff", min=1, allow_none=True)
        self.pad_id = check_int(self.pad_id, "pad_id")
        check_float(self.dropout, "dropout", min=0.0, max=1.0, max_open=True)
        check_bool(self.norm_first, "norm_first")
        check_bool(self.tie_output, "tie_output")
        if not 0 <= self.pad_id < min(self.src_vocab, self.tgt_vocab):
            raise ValueError(f"pad_id must be a token of both vocabularies: expected 0 <= pad_id < "
                             f"min(src_vocab, tgt_vocab) = {min(self.src_vocab, self.tgt_vocab)}, got {self.pad_id}")

    def block(self, max_len: int) -> BlockConfig:
        return BlockConfig(self.d_model, self.n_heads, self.d_ff, self.dropout, self.norm_first, self.activation,
                           rope=self.positional == "rope", max_len=max_len)


class Seq2SeqTransformer(nn.Module):
    """Encoder–decoder Transformer: source tokens ``(B, S)`` and target prefix ``(B, T)`` -> logits ``(B, T, V)``."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"config must be a Seq2SeqConfig, got {type(config).__name__}")
        c = self.config = config
        self.src_embed = nn.Embedding(c.src_vocab, c.d_model)
        self.tgt_embed = nn.Embedding(c.tgt_vocab, c.d_model)
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, std=c.d_model ** -0.5)
        if c.positional == "sinusoidal":
            self.src_pos = SinusoidalPositionalEncoding(c.d_model, c.max_src_len)
            self.tgt_pos = SinusoidalPositionalEncoding(c.d_model, c.max_tgt_len)
        elif c.positional == "learned":
            self.src_pos = LearnedPositionalEmbedding(c.d_model, c.max_src_len)
            self.tgt_pos = LearnedPositionalEmbedding(c.d_model, c.max_tgt_len)
        else:
            self.src_pos = self.tgt_pos = None
        self.encoder = TransformerEncoder(c.block(c.max_src_len), c.n_encoder_layers)
        self.decoder = TransformerDecoder(c.block(c.max_tgt_len), c.n_decoder_layers)
        self.dropout = nn.Dropout(c.dropout)
        self.output = Linear(c.d_model, c.tgt_vocab, bias=False)
        if c.tie_output:
            self.output.weight = self.tgt_embed.weight

    def _embed(self, tokens: torch.Tensor, embed: nn.Embedding, pos: nn.Module | None, max_len: int,
               start: int = 0, side: str = "src") -> torch.Tensor:
        check_tensor(tokens, f"{side} tokens", shape_hint="(B, T) token ids")
        if tokens.ndim != 2:
            raise ValueError(f"{side} tokens must be (B, T) integers, got shape {tuple(tokens.shape)}")
        if tokens.dtype not in (torch.long, torch.int32):   # what nn.Embedding accepts
            raise TypeError(f"{side} token ids must have dtype torch.long or torch.int32, got {tokens.dtype}")
        check_token_ids(tokens, embed.num_embeddings, f"{side}_vocab", what=f"{side} token")
        if pos is None and start + tokens.shape[1] > max_len:
            raise IndexError(f"sequence of length {tokens.shape[1]} (from position {start}) is longer than "
                             f"max_len={max_len}")
        x = embed(tokens) * math.sqrt(self.config.d_model)
        if pos is not None:
            x = pos(x, start=start)
        return self.dropout(x)

    def encode(self, src: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``src (B, S)`` -> ``(memory (B, S, C), src_mask (B, 1, S))``."""
        check_tensor(src, "src", kind="int", shape_hint="(B, S) token ids")
        if src.ndim != 2:
            raise ValueError(f"source tokens must be (B, T) integers, got shape {tuple(src.shape)}")
        src_mask = padding_mask(src, pad_id=self.config.pad_id)
        x = self._embed(src, self.src_embed, self.src_pos, self.config.max_src_len, side="src")
        return self.encoder(x, mask=src_mask, need_weights=need_weights), src_mask

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor,
               caches: list[KVCache] | None = None, need_weights: bool = False) -> torch.Tensor:
        """Target prefix ``(B, T)`` -> logits ``(B, T, V)``; with ``caches``, ``tgt`` holds only the new tokens."""
        start = 0 if not caches else len(caches[0])
        x = self._embed(tgt, self.tgt_embed, self.tgt_pos, self.config.max_tgt_len, start=start,
                        side="tgt")
        return self.output(self.decoder(x, memory, src_mask, caches=caches, need_weights=need_weights))

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        if isinstance(src, torch.Tensor) and isinstance(tgt, torch.Tensor) and src.ndim == 2 and tgt.ndim == 2 and (
                src.shape[0] != tgt.shape[0] or src.shape[0] == 0):
            raise ValueError(f"src (B, S) and tgt (B, T) must hold the same number B >= 1 of sentences, got "
                             f"shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory, src_mask = self.encode(src)
        return self.decode(tgt, memory, src_mask)

    def next_log_probs_fn(self, src: torch.Tensor):
        """A function ``prefixes (N, t) -> log-probs (N, V)`` of the next target token given ``src``.

        ``src`` is ``(S,)`` (one sentence: every prefix continues it, as in beam
        search) or ``(N, S)`` (one sentence per prefix, as in batched greedy decoding).
        The encoder runs once.
        """
        check_tensor(src, "src", ndim=(1, 2), kind="int", shape_hint="(S,) or (N, S) token ids")
        one = src.ndim == 1
        memory, src_mask = self.encode(src[None] if one else src)

        def next_log_probs(prefixes: torch.Tensor) -> torch.Tensor:
            n = prefixes.shape[0]
            mem, m = (memory.expand(n, -1, -1), src_mask.expand(n, -1, -1)) if one else (memory, src_mask)
            return torch.log_softmax(self.decode(prefixes, mem, m)[:, -1].float(), dim=-1)

        return next_log_probs


def trim_padding(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Drop the trailing columns of ``tokens (B, T)`` that are padding in every row (saves compute)."""
    check_tensor(tokens, "tokens", ndim=2, kind="int", shape_hint="(B, T)")
    pad_id = check_int(pad_id, "pad_id")
    real = (tokens != pad_id).any(dim=0).nonzero()
    keep = int(real.max()) + 1 if real.numel() else 1
    return tokens[:, :keep]


class Seq2SeqTask(Task):
    """Trains a :class:`Seq2SeqTransformer` with cross-entropy (teacher forcing).

    Batches are ``(src (B, S), tgt (B, T+1))`` where ``tgt`` starts with BOS
    and ends with EOS then padding. The decoder reads ``tgt[:, :-1]`` and
    predicts ``tgt[:, 1:]``; padding is ignored, and columns that are padding
    in the whole batch are dropped first (:func:`trim_padding`).

    Args:
        model: the model.
        lr: peak learning rate of AdamW (use with ``aigc_lib.core.schedule.inverse_sqrt``).
        label_smoothing: as in Vaswani et al. (2017), who used 0.1.
        weight_decay: AdamW weight decay.
    """

    def __init__(self, model: Seq2SeqTransformer, lr: float = 1e-3, label_smoothing: float = 0.0,
                 weight_decay: float = 0.01) -> None:
        super().__init__()
        if not isinstance(model, Seq2SeqTransformer):
            raise TypeError(f"model must be a Seq2SeqTransformer, got {type(model).__name__}")
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        label_smoothing = check_float(label_smoothing, "label_smoothing", min=0.0, max=1.0)
        weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.model, self.lr = model, lr
        self.label_smoothing, self.weight_decay = label_smoothing, weight_decay

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, betas=(0.9, 0.98),
                                 weight_decay=self.weight_decay)

    def _logits_and_targets(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"Seq2SeqTask expects batches (src (B, S), tgt (B, T+1)), got {type(batch).__name__}")
        pad = self.model.config.pad_id
        src, tgt = (trim_padding(t, pad) for t in batch)
        logits = self.model(src, tgt[:, :-1])
        return logits, tgt[:, 1:]

    def training_loss(self, batch, optimizer_name: str = "main") -> torch.Tensor:
        logits, target = self._logits_and_targets(batch)
        return F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=self.model.config.pad_id,
                               label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        """Loss (without label smoothing), token accuracy and teacher-forced sequence accuracy."""
        logits, target = self._logits_and_targets(batch)
        pad = self.model.config.pad_id
        loss = F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=pad)
        real = target != pad
        correct = (logits.argmax(-1) == target) | ~real
        return {"loss": float(loss),
                "token_acc": float(correct[real].float().mean()),
                "seq_acc_teacher_forced": float(correct.all(dim=1).float().mean())}
