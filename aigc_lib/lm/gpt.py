"""A decoder-only Transformer language model (GPT; Radford et al., 2018, 2019).

The model reads token ids ``(B, T)`` and gives, at every position, logits
``(B, T, V)`` for the next token. It is built from the course's blocks:

* token embedding + learned position embedding
  (:class:`~aigc_lib.transformer.positional.LearnedPositionalEmbedding`);
* ``n_layer`` pre-LN :class:`~aigc_lib.transformer.blocks.TransformerBlock` s called
  with causal self-attention (and a :class:`~aigc_lib.transformer.attention.KVCache` per
  layer while generating);
* a final layer norm and a linear output layer whose weight *is* the token
  embedding matrix (weight tying; Press & Wolf, 2017).

Initialisation follows GPT-2: every weight ``N(0, 0.02)``, biases zero, and
the two projections that write into the residual stream (attention output
and second feed-forward layer) scaled by ``1 / sqrt(2 * n_layer)``, so the
variance of the residual stream does not grow with depth.

:class:`LanguageModelTask` trains it with the :class:`~aigc_lib.core.trainer.Trainer`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_bool, check_float, check_int, check_tensor
from ..transformer.attention import KVCache
from ..transformer.linear import Linear
from ..transformer.positional import LearnedPositionalEmbedding
from .sampling import SamplingConfig, sample_next_token
from ..core.task import Task
from ..transformer.blocks import BlockConfig, TransformerBlock, check_token_ids

__all__ = ["GPTConfig", "GPT", "LanguageModelTask"]

#: Activations of the feed-forward network. ``"gelu_tanh"`` is the tanh
#: approximation of GELU used by GPT-2 (needed to load its weights exactly).
GPT_ACTIVATIONS = ("gelu", "gelu_tanh", "relu")


@dataclass
class GPTConfig:
    """The shape of a GPT.

    Attributes:
        vocab_size: ``V``, number of token ids.
        block_size: the context length: the longest sequence the model reads.
        n_layer: number of Transformer blocks.
        n_head: attention heads per block; must divide ``n_embd``.
        n_embd: ``C``, the width of the residual stream.
        dropout: dropout on embeddings, attention weights and sub-layer outputs.
        bias: biases in linear layers (layer norms always have them).
        activation: ``"gelu"``, ``"gelu_tanh"`` (GPT-2) or ``"relu"``.
        tie_weights: share the token embedding with the output layer.
        fast_attention: use ``F.scaled_dot_product_attention`` (flash attention on
            GPUs); ``False`` uses the readable path. Both give the same result.
        layer_norm_eps: epsilon of the layer norms.
        init_std: standard deviation of the initial weights.
        scaled_residual_init: scale the residual projections by ``1 / sqrt(2 * n_layer)``.
    """

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu"
    tie_weights: bool = True
    fast_attention: bool = True
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    scaled_residual_init: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, check_int(getattr(self, name), name, min=1))
        for name in ("bias", "tie_weights", "fast_attention", "scaled_residual_init"):
            check_bool(getattr(self, name), name)
        check_float(self.layer_norm_eps, "layer_norm_eps", min=0.0, min_open=True)
        check_float(self.init_std, "init_std", min=0.0)
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: "
                             f"each head needs n_embd / n_head channels")
        if self.activation not in GPT_ACTIVATIONS:
            raise ValueError(f"activation must be one of {GPT_ACTIVATIONS}, got {self.activation!r}")
        check_float(self.dropout, "dropout", min=0.0, max=1.0, max_open=True)

    def block_config(self) -> BlockConfig:
        return BlockConfig(
            d_model=self.n_embd, n_heads=self.n_head, d_ff=4 * self.n_embd, dropout=self.dropout,
            norm_first=True, activation="relu" if self.activation == "relu" else "gelu", bias=self.bias,
            fast_attention=self.fast_attention, layer_norm_eps=self.layer_norm_eps,
        )

    def num_flops_per_token(self, with_attention: bool = True) -> int:
        """Training FLOPs per token: ``6 N`` for the matrices plus ``12 L T C`` for attention (PaLM appendix B)."""
        c, n_layer = self.n_embd, self.n_layer
        n_matrix = n_layer * 12 * c * c + self.vocab_size * c  # blocks + output layer
        attn = 12 * n_layer * self.block_size * c if with_attention else 0
        return 6 * n_matrix + attn


class GPT(nn.Module):
    """Decoder-only Transformer: ids ``(B, T)`` -> next-token logits ``(B, T, V)``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        self.token_embedding = nn.Embedding(c.vocab_size, c.n_embd)
        self.position_embedding = LearnedPositionalEmbedding(c.n_embd, c.block_size)
        self.dropout = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(c.block_config()) for _ in range(c.n_layer))
        if c.activation == "gelu_tanh":
            for block in self.blocks:
                block.ff.activation = nn.GELU(approximate="tanh")
        self.final_norm = nn.LayerNorm(c.n_embd, eps=c.layer_norm_eps)
        self.lm_head = Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.token_embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 initialisation (see the module docstring)."""
        c = self.config
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=c.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=c.init_std)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if c.scaled_residual_init:
            std = c.init_std / math.sqrt(2 * c.n_layer)
            for block in self.blocks:
                nn.init.normal_(block.self_attn.out_proj.weight, std=std)
                nn.init.normal_(block.ff.linear2.weight, std=std)

    def num_parameters(self, exclude_embeddings: bool = True) -> int:
        """Number of parameters (tied weights counted once), by default without the position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.position_embedding.embedding.weight.numel()
        return n

    def _check_ids(self, idx: torch.Tensor, past: int) -> None:
        # nn.Embedding takes int64 or int32 indices only (int16/uint8 would fail inside it).
        check_tensor(idx, "idx", shape_hint="(B, T) token ids")
        if idx.ndim != 2 or idx.dtype not in (torch.long, torch.int32):
            raise ValueError(f"token ids must be an integer tensor (B, T) of dtype torch.long or torch.int32, "
                             f"got shape {tuple(idx.shape)} and dtype {idx.dtype}")
        t = idx.shape[1]
        if idx.shape[0] == 0 or t == 0:
            raise ValueError(f"idx must hold at least one sequence of at least one token (B, T), got shape "
                             f"{tuple(idx.shape)}")
        if past + t > self.config.block_size:
            raise ValueError(
                f"sequence of length {past + t} is longer than the context block_size={self.config.block_size}"
                + (f" ({past} cached + {t} new tokens)" if past else "")
                + "; crop it to the last block_size tokens")
        check_token_ids(idx, self.config.vocab_size)

    def forward(self, idx: torch.Tensor, caches: list[KVCache] | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits of the next token at every position.

        Args:
            idx: token ids ``(B, T)``.
            caches: one :class:`~aigc_lib.transformer.attention.KVCache` per layer; then ``idx``
                holds only the *new* tokens, placed after the cached ones.
            last_only: compute the logits of the last position only (generation
                needs no others), which skips most of the output layer's work.

        Returns:
            ``(B, T, V)`` logits, or ``(B, 1, V)`` with ``last_only``.
        """
        if caches is not None and (not isinstance(caches, (list, tuple))
                                   or not all(isinstance(c, KVCache) for c in caches)):
            raise TypeError(f"caches must be None or a list of KVCache, one per layer, got {type(caches).__name__} "
                            f"(for a loss on targets use GPT.loss(idx, targets))")
        past = len(caches[0]) if caches else 0
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"need one KVCache per layer ({len(self.blocks)}), got {len(caches)}")
        self._check_ids(idx, past)
        x = self.dropout(self.position_embedding(self.token_embedding(idx), start=past))
        # One new query after the cached keys may attend to all of them: no mask needed.
        causal = not (past > 0 and idx.shape[1] == 1)
        for i, block in enumerate(self.blocks):
            x = block(x, is_causal=causal, cache=None if caches is None else caches[i])
        if last_only:
            x = x[:, -1:]
        return self.lm_head(self.final_norm(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of predicting ``targets (B, T)`` from ``idx (B, T)`` (in nats per token)."""
        check_tensor(idx, "idx", shape_hint="(B, T) token ids")
        check_tensor(targets, "targets", kind="int", shape_hint="(B, T) token ids")
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx (B, T) = {tuple(idx.shape)}, "
                             f"got {tuple(targets.shape)}")
        logits = self(idx)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())

    def new_caches(self, capacity: int | None = None) -> list[KVCache]:
        """Empty KV caches, one per layer (``capacity``: see :class:`~aigc_lib.transformer.attention.KVCache`)."""
        return [KVCache(capacity) for _ in self.blocks]

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        sampling: SamplingConfig | None = None,
    ) -> torch.Tensor:
        """Continue each prompt by ``max_new_tokens`` tokens.

        Args:
            idx: prompts ``(B, T0)``, ``1 <= T0 <= block_size`` (a longer prompt
                raises ``ValueError``; crop it yourself, e.g. ``idx[:, -block_size:]``).
            max_new_tokens: tokens to add.
            temperature, top_k, top_p, repetition_penalty: see
                :class:`~aigc_lib.lm.sampling.SamplingConfig`; ``temperature=0`` is greedy.
            use_cache: keep each layer's keys and values (a KV cache) so that each
                step processes one token instead of the whole sequence. It gives the
                same tokens as ``use_cache=False``.
            generator: for reproducible sampling.
            sampling: a ready :class:`~aigc_lib.lm.sampling.SamplingConfig` (overrides the four arguments above).

        Once a sequence reaches ``block_size`` tokens the model sees only its last
        ``block_size`` tokens (a sliding window). With the cache this means
        re-reading that window at each further step, exactly as without the cache.

        Returns:
            ``(B, T0 + max_new_tokens)`` token ids, prompts included.
        """
        cfg = sampling if sampling is not None else SamplingConfig(temperature, top_k, top_p, repetition_penalty)
        if not isinstance(cfg, SamplingConfig):
            raise TypeError(f"sampling must be a SamplingConfig or None, got {type(cfg).__name__}")
        max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=0)
        check_bool(use_cache, "use_cache")
        check_tensor(idx, "idx", shape_hint="(B, T0) token ids")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"prompt must be (B, T0) with T0 >= 1, got shape {tuple(idx.shape)}")
        if idx.shape[1] > self.config.block_size:
            raise ValueError(f"prompt of length {idx.shape[1]} is longer than the context "
                             f"block_size={self.config.block_size}; crop it, e.g. idx[:, -block_size:]")
        self._check_ids(idx, 0)          # also when max_new_tokens == 0, which runs no forward pass
        was_training = self.training
        self.eval()
        bs = self.config.block_size
        # Preallocated caches: no sequence ever holds more than this many positions.
        capacity = min(bs, idx.shape[1] + max_new_tokens)
        caches: list[KVCache] | None = None
        try:
            for _ in range(max_new_tokens):
                if not use_cache:
                    logits = self(idx[:, -bs:], last_only=True)
                elif caches is None or len(caches[0]) >= bs:
                    caches = self.new_caches(capacity)  # (re)fill the cache from the window
                    logits = self(idx[:, -bs:], caches, last_only=True)
                else:
                    logits = self(idx[:, -1:], caches)  # only the newest token
                nxt = sample_next_token(logits[:, -1], cfg, previous=idx, generator=generator)
                idx = torch.cat([idx, nxt[:, None].to(idx.dtype)], dim=1)
        finally:
            self.train(was_training)
        return idx

    def next_log_probs_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``prefixes (N, t) -> (N, V)`` next-token log-probabilities, for
        :func:`aigc_lib.transformer.beam_search.beam_search` (prefixes are cropped to ``block_size``)."""

        @torch.no_grad()
        def next_log_probs(prefixes: torch.Tensor) -> torch.Tensor:
            was_training = self.training
            self.eval()
            try:
                logits = self(prefixes[:, -self.config.block_size:], last_only=True)[:, -1]
            finally:
                self.train(was_training)
            return torch.log_softmax(logits.float(), dim=-1)

        return next_log_probs

    @torch.no_grad()
    def sequence_log_prob(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        """Total log-probability ``(B,)`` of tokens ``idx[:, start:]`` given the tokens before them.

        ``idx`` is ``(B, T)`` with ``1 <= start < T <= block_size``.
        """
        check_tensor(idx, "idx", shape_hint="(B, T) token ids")
        start = check_int(start, "start")
        if idx.ndim != 2:
            raise ValueError(f"token ids must be an integer tensor (B, T), got shape {tuple(idx.shape)}; "
                             f"for one sequence use idx[None]")
        if not 1 <= start < idx.shape[1]:
            raise ValueError(f"start must be in [1, T={idx.shape[1]}), got {start}")
        # The model reads idx[:, :-1]; the tokens scored are idx[:, 1:], so check those too.
        self._check_ids(idx[:, 1:], 0)
        was_training = self.training
        self.eval()
        try:
            logp = torch.log_softmax(self(idx[:, :-1]).float(), dim=-1)
        finally:
            self.train(was_training)
        token_lp = logp.gather(-1, idx[:, 1:, None]).squeeze(-1)   # (B, T-1): log p(idx[t] | idx[:t])
        return token_lp[:, start - 1:].sum(dim=1)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices (dim >= 2: linear weights, embeddings), none on biases and layer norms."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class LanguageModelTask(Task):
    """Trains a :class:`GPT` on next-token prediction with AdamW.

    Batches are ``(x, y)`` pairs of ``(B, T)`` ids where ``y`` is ``x`` shifted
    by one (as :class:`aigc_lib.data.RandomWindows` yields them). The loss is
    the mean cross-entropy in nats per token; ``exp(loss)`` is the perplexity.

    Args:
        model: the GPT.
        lr: peak learning rate (use with the Trainer's ``lr_schedule="cosine"``).
        weight_decay: AdamW weight decay on matrices only.
        betas: AdamW betas; ``beta2 = 0.99`` or ``0.95`` suits short runs better than 0.999.
        fused: use the fused AdamW kernel (one kernel for all parameters; CPU and CUDA),
            else the ``foreach`` implementation.
    """

    def __init__(self, model: GPT, lr: float = 1e-3, weight_decay: float = 0.1,
                 betas: tuple[float, float] = (0.9, 0.99), fused: bool = True) -> None:
        super().__init__()
        if not isinstance(model, GPT):
            raise TypeError(f"model must be a GPT, got {type(model).__name__}")
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        betas = (check_float(betas[0], "betas[0]", min=0.0, max=1.0, max_open=True),
                 check_float(betas[1], "betas[1]", min=0.0, max=1.0, max_open=True))
        check_bool(fused, "fused")
        self.model = model
        self.lr, self.weight_decay, self.betas, self.fused = lr, weight_decay, betas, fused

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = _param_groups(self.model, self.weight_decay)
        kwargs = {"fused": True} if self.fused else {"foreach": True}
        return torch.optim.AdamW(groups, lr=self.lr, betas=self.betas, **kwargs)

    def training_loss(self, batch, optimizer_name: str = "main") -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"LanguageModelTask expects batches (x, y) of (B, T) token ids (as RandomWindows "
                            f"yields them), got {type(batch).__name__}")
        x, y = batch
        return self.model.loss(x, y)
