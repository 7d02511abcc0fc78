"""A U-Net that reads a caption: chapter 8's U-Net with cross-attention to text (Rombach et al., 2022).

:class:`TextUNet` *is* :class:`aigc_lib.diffusion.unet.UNet` (same residual
blocks, same down/up paths, same skip connections) with one change: each of
its self-attention blocks is followed by a cross-attention to the caption's
token states (:class:`~aigc_lib.multimodal.cross_attention.TextAttentionBlock`).
The time embedding is unchanged; the caption enters only through
cross-attention, as in Stable Diffusion.

:class:`CaptionEncoder` turns caption token ids ``(B, T)`` into token states
``(B, T, D)``: a token embedding, learned positions and chapter 3's
:class:`~aigc_lib.transformer.TransformerEncoder` (bidirectional, padding masked).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.checks import check_int, check_tensor
from ..diffusion.unet import AttentionBlock, UNet, UNetConfig
from ..transformer.positional import LearnedPositionalEmbedding
from ..transformer.blocks import BlockConfig, TransformerEncoder, check_token_ids
from .cross_attention import CaptionContext, TextAttentionBlock, caption_mask


@dataclass
class CaptionEncoderConfig:
    """Sizes of a :class:`CaptionEncoder`.

    Attributes:
        vocab_size: number of caption token ids (the pad id included).
        max_len: the longest caption, in tokens.
        pad_id: the padding token (masked out of every attention).
        d_model, n_layers, n_heads: width, depth and heads of the encoder.
    """

    vocab_size: int = 64
    max_len: int = 16
    pad_id: int = 0
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "d_model", "n_layers", "n_heads"):
            check_int(getattr(self, name), name, min=1)
        check_int(self.pad_id, "pad_id", min=0, max=self.vocab_size - 1)
        BlockConfig(d_model=self.d_model, n_heads=self.n_heads)   # checks that the heads divide the width


class CaptionEncoder(nn.Module):
    """Caption ids ``(B, T)``, ``T <= max_len`` -> token states ``(B, T, d_model)`` and mask ``(B, 1, T)``."""

    def __init__(self, config: CaptionEncoderConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.positions = LearnedPositionalEmbedding(c.d_model, c.max_len)
        self.encoder = TransformerEncoder(BlockConfig(d_model=c.d_model, n_heads=c.n_heads, activation="gelu"),
                                          c.n_layers)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        check_tensor(tokens, "caption tokens", ndim=2, kind="int", shape_hint="(B, T)")
        if tokens.shape[1] > c.max_len:
            raise ValueError(f"captions of {tokens.shape[1]} tokens are longer than the text context "
                             f"max_len={c.max_len}")
        check_token_ids(tokens, c.vocab_size)
        mask = caption_mask(tokens, c.pad_id)
        states = self.encoder(self.positions(self.embedding(tokens)), mask=mask)
        return states, mask


@dataclass
class TextUNetConfig(UNetConfig):
    """:class:`~aigc_lib.diffusion.unet.UNetConfig` plus ``context_dim``, the width of the caption states.

    ``num_classes`` must stay 0 (the caption replaces the class label) and
    ``attention_levels`` must not be empty (cross-attention sits beside each self-attention).
    """

    context_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.context_dim, "context_dim", min=1)
        if self.num_classes:
            raise ValueError(f"a TextUNet is conditioned on captions, not classes: num_classes must be 0, "
                             f"got {self.num_classes}")
        if not self.attention_levels:
            raise ValueError("a TextUNet needs at least one attention level (cross-attention sits there), got ()")


class TextUNet(UNet):
    """``forward(x (B, C, H, W), t (B,), context (B, T, D), mask (B, 1, T) or None) -> (B, C, H, W)``.

    Example::

        encoder = CaptionEncoder(CaptionEncoderConfig(vocab_size=40, d_model=64))
        unet = TextUNet(TextUNetConfig(in_channels=4, image_size=8, channel_mults=(1, 2),
                                       attention_levels=(0, 1), context_dim=64))
        states, mask = encoder(tokens)
        v = unet(z_t, 1000 * t, states, mask)
    """

    def __init__(self, config: TextUNetConfig | None = None) -> None:
        config = config or TextUNetConfig()
        if not isinstance(config, TextUNetConfig):
            raise TypeError(f"config must be a TextUNetConfig, got {type(config).__name__}")
        super().__init__(config)
        self.caption = CaptionContext()
        for blocks in (self.down, self.up, [self.mid]):
            for block in blocks:
                for i, layer in enumerate(block):
                    if isinstance(layer, AttentionBlock):
                        block[i] = self._with_text(layer)

    def _with_text(self, block: AttentionBlock) -> TextAttentionBlock:
        cfg = self.config
        text_block = TextAttentionBlock(block.norm.num_channels, cfg.context_dim, cfg.num_heads, cfg.groups,
                                        self.caption)
        text_block.self_attn = block          # keep the U-Net's own self-attention
        return text_block

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | int, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args: ``x`` ``(B, C, H, W)``; ``t`` ``(B,)`` or one number; ``context`` ``(B, T, context_dim)``
        caption states; ``mask`` ``(B, 1, T)`` bool, True at real tokens (``None``: all real)."""
        if context is None:
            raise ValueError(f"TextUNet needs the caption states context (B, T, {self.config.context_dim}); "
                             f"for the null caption pass an all-False mask")
        check_tensor(context, "context", ndim=3, kind="float", shape_hint=f"(B, T, {self.config.context_dim})")
        if isinstance(x, torch.Tensor) and context.shape[0] != x.shape[0]:
            raise ValueError(f"got {x.shape[0]} images but {context.shape[0]} captions")
        if mask is not None:
            check_tensor(mask, "mask", ndim=3, kind="bool", shape_hint="(B, 1, T), True = real token")
            if mask.shape != (context.shape[0], 1, context.shape[1]):
                raise ValueError(f"mask must be ({context.shape[0]}, 1, {context.shape[1]}), got {tuple(mask.shape)}")
        self.caption.states, self.caption.mask = context, mask
        try:
            return super().forward(x, t)
        finally:
            self.caption.states = self.caption.mask = None
