"""Transformer blocks, the encoder, the decoder and an encoder–decoder model (Vaswani et al., 2017).

* :class:`FeedForward`: the position-wise two-layer network.
* :class:`TransformerBlock`: attention + feed-forward, each inside a residual
  connection with layer normalisation (Ba et al., 2016), either **post-LN**
  (the original paper: normalise after adding the residual) or **pre-LN**
  (Xiong et al., 2020: normalise the input of each sub-layer; trains more
  stably without a long warm-up). With ``cross_attention=False`` it is an
  encoder block or, called with ``is_causal=True`` and a
  :class:`~aigc_lib.transformer.attention.KVCache`, a GPT block. With
  ``cross_attention=True`` it is a decoder block.
* :class:`TransformerEncoder` (bidirectional: **not causal**, every token sees
  every other real token) and :class:`TransformerDecoder` (causal
  self-attention plus cross-attention to the encoder's output).
* :class:`Seq2SeqTransformer` and :class:`Seq2SeqTask` for the Trainer.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..core.checks import check_bool, check_float, check_int, check_tensor
from .attention import KVCache, MultiHeadAttention
from .linear import Linear


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


@dataclass
class BlockConfig:
    """Settings of one Transformer block.

    Attributes:
        d_model: ``C``, the width of the residual stream.
        n_heads: attention heads; must divide ``d_model``.
        d_ff: hidden width of the feed-forward network (default ``4 * d_model``).
        dropout: dropout on attention weights and on each sub-layer's output.
        norm_first: True = pre-LN (Xiong et al., 2020), False = post-LN (Vaswani et al., 2017).
        activation: ``"relu"`` (the original paper) or ``"gelu"`` (GPT).
        bias: biases in the linear layers.
        cross_attention: add cross-attention to an encoder's output (decoder block).
        rope: rotary position embeddings in self-attention (Su et al., 2021).
        max_len: rotary table length when ``rope=True``.
        fast_attention: use ``F.scaled_dot_product_attention`` when weights are not needed.
        layer_norm_eps: epsilon of the layer norms.
    """

    d_model: int = 128
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.0
    norm_first: bool = True
    activation: str = "relu"
    bias: bool = True
    cross_attention: bool = False
    rope: bool = False
    max_len: int = 2048
    fast_attention: bool = True
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        self.d_model = check_int(self.d_model, "d_model", min=1)
        self.n_heads = check_int(self.n_heads, "n_heads", min=1)
        self.d_ff = check_int(self.d_ff, "d_ff", min=1, allow_none=True)
        check_float(self.dropout, "dropout", min=0.0, max=1.0, max_open=True)
        self.max_len = check_int(self.max_len, "max_len", min=1)
        check_float(self.layer_norm_eps, "layer_norm_eps", min=0.0, min_open=True)
        for name in ("norm_first", "bias", "cross_attention", "rope", "fast_attention"):
            check_bool(getattr(self, name), name)
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model


class FeedForward(nn.Module):
    """``Linear(C, d_ff) -> activation -> dropout -> Linear(d_ff, C)``, applied to each position: ``(B, T, C) -> (B, T, C)``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu",
                 bias: bool = True) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.linear1 = Linear(d_model, d_ff, bias=bias)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerBlock(nn.Module):
    """One block: self-attention, optional cross-attention, feed-forward; residuals and layer norms.

    Post-LN: ``x = LN(x + sublayer(x))``. Pre-LN: ``x = x + sublayer(LN(x))``.

    When called with ``need_weights=True`` the block keeps the attention
    weights of that call in ``self.self_attn_weights`` and
    ``self.cross_attn_weights`` (``(B, H, T_q, T_k)``), for plots.
    """

    def __init__(self, config: BlockConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.self_attn = MultiHeadAttention(c.d_model, c.n_heads, c.dropout, c.bias, rope=c.rope,
                                            max_len=c.max_len, fast=c.fast_attention)
        self.norm1 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        if c.cross_attention:
            self.cross_attn = MultiHeadAttention(c.d_model, c.n_heads, c.dropout, c.bias, cross=True,
                                                 fast=c.fast_attention)
            self.norm_cross = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.ff = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation, c.bias)
        self.norm2 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)
        self.self_attn_weights: torch.Tensor | None = None
        self.cross_attn_weights: torch.Tensor | None = None

    def _residual(self, x: torch.Tensor, norm: nn.LayerNorm, sublayer) -> torch.Tensor:
        if self.config.norm_first:
            return x + self.dropout(sublayer(norm(x)))
        return norm(x + self.dropout(sublayer(x)))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor:
        """``(B, T, C) -> (B, T, C)``.

        Args:
            x: the residual stream ``(B, T, C)``.
            mask: self-attention mask (True = may attend), e.g. a padding mask ``(B, 1, T)``.
            is_causal: causal self-attention (decoder, GPT).
            memory: the encoder output ``(B, S, C)`` (decoder blocks only).
            memory_mask: which memory positions may be attended, e.g. ``(B, 1, S)``.
            cache: a :class:`~aigc_lib.transformer.attention.KVCache` for the self-attention.
            need_weights: keep the attention weights in ``self_attn_weights`` / ``cross_attn_weights``.
        """
        has_cross = self.config.cross_attention
        if has_cross and memory is None:
            raise ValueError("a decoder block (cross_attention=True) needs memory (B, S, C)")
        if not has_cross and memory is not None:
            raise ValueError("this block has no cross-attention; build it with cross_attention=True")

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            out, w = self.self_attn(h, mask=mask, is_causal=is_causal, need_weights=need_weights, cache=cache)
            self.self_attn_weights = w
            return out

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            out, w = self.cross_attn(h, context=memory, mask=memory_mask, need_weights=need_weights)
            self.cross_attn_weights = w
            return out

        x = self._residual(x, self.norm1, self_attention)
        if has_cross:
            x = self._residual(x, self.norm_cross, cross_attention)
        return self._residual(x, self.norm2, self.ff)


class TransformerEncoder(nn.Module):
    """A stack of blocks with **bidirectional** (not causal) self-attention: ``(B, S, C) -> (B, S, C)``.

    Each source token may attend to every real (non-padding) source token,
    earlier or later. A pre-LN stack ends with a final layer norm.
    """

    def __init__(self, config: BlockConfig, n_layers: int) -> None:
        super().__init__()
        if not isinstance(config, BlockConfig):
            raise TypeError(f"config must be a BlockConfig, got {type(config).__name__}")
        n_layers = check_int(n_layers, "n_layers", min=1)
        if config.cross_attention:
            raise ValueError("encoder blocks have no cross-attention; use cross_attention=False")
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask=mask, need_weights=need_weights)
        return self.final_norm(x)


class TransformerDecoder(nn.Module):
    """A stack of blocks with causal self-attention and cross-attention to ``memory``: ``(B, T, C) -> (B, T, C)``."""

    def __init__(self, config: BlockConfig, n_layers: int) -> None:
        super().__init__()
        if not isinstance(config, BlockConfig):
            raise TypeError(f"config must be a BlockConfig, got {type(config).__name__}")
        n_layers = check_int(n_layers, "n_layers", min=1)
        config = replace(config, cross_attention=True)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, caches: list[KVCache] | None = None,
                need_weights: bool = False) -> torch.Tensor:
        if caches is not None and len(caches) != len(self.layers):
            raise ValueError(f"need one KVCache per layer ({len(self.layers)}), got {len(caches)}")
        for i, layer in enumerate(self.layers):
            x = layer(x, mask=mask, is_causal=True, memory=memory, memory_mask=memory_mask,
                      cache=None if caches is None else caches[i], need_weights=need_weights)
        return self.final_norm(x)


def check_token_ids(tokens: torch.Tensor, vocab_size: int, vocab_name: str = "vocab_size",
                    what: str = "token") -> None:
    """Raise ``IndexError`` if an id of ``tokens`` is outside ``0 .. vocab_size - 1``.

    One device sync (skipped under ``torch.compile``); the message names the
    offending id and the vocabulary, e.g. ``token id 70 is outside the vocabulary:
    expected 0 <= id < vocab_size=65``.
    """
    check_tensor(tokens, "tokens", kind="int", shape_hint="of token ids")
    vocab_size = check_int(vocab_size, vocab_name, min=1)
    if tokens.numel() == 0 or torch.compiler.is_compiling():
        return
    lo, hi = torch.stack(torch.aminmax(tokens)).tolist()
    if lo < 0 or hi >= vocab_size:
        raise IndexError(f"{what} id {lo if lo < 0 else hi} is outside the vocabulary: expected "
                         f"0 <= id < {vocab_name}={vocab_size}")
