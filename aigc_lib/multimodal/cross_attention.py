"""Cross-attention from image positions to caption tokens (Rombach et al., 2022, section 3.3).

A U-Net block sees an image ``h`` ``(B, C, H, W)``. To make it follow a
caption, each of the ``H*W`` positions becomes a *query* and the caption's
token states ``(B, T, D)`` (from a text encoder) become *keys* and *values*::

    q = norm(h) as (B, H*W, C) @ W_q      k = ctx @ W_c @ W_k      v = ctx @ W_c @ W_v
    h <- h + out_proj(softmax(q k^T / sqrt(d)) v)  reshaped back to (B, C, H, W)

``W_c`` (``context_proj``) maps the text width ``D`` to the image width ``C``;
the attention is chapter 2's :class:`~aigc_lib.attention.MultiHeadAttention`
with ``cross=True``. Padding tokens of short captions are hidden by a key
padding mask (:func:`caption_mask`), so the output does not depend on what
the padding holds. A caption that is *all* padding (the null caption of
classifier-free guidance) masks every key: chapter 2's attention then gives
all-zero weights, and the block adds nothing (the output projection's bias is
dropped too), so the image passes unchanged.

:class:`TextAttentionBlock` puts the U-Net's self-attention
(:class:`~aigc_lib.diffusion.unet.AttentionBlock`) and this cross-attention
one after the other, as Stable Diffusion's transformer blocks do.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.checks import check_int, check_tensor
from ..transformer.attention import MultiHeadAttention
from ..diffusion.unet import AttentionBlock


def caption_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Key padding mask ``(B, 1, T)``, True at real tokens, from caption ids ``(B, T)``."""
    check_tensor(tokens, "tokens", ndim=2, kind="int", shape_hint="(B, T) caption token ids")
    return (tokens != check_int(pad_id, "pad_id", min=0))[:, None, :]


class CrossAttention(nn.Module):
    """Image positions attend to caption tokens: ``h (B, C, H, W), ctx (B, T, D), mask (B, 1, T) -> (B, C, H, W)``.

    Args:
        channels: ``C``, the image width (queries).
        context_dim: ``D``, the width of the caption's token states.
        num_heads: heads; must divide ``channels``.
        groups: GroupNorm groups of the query normalisation.
    """

    def __init__(self, channels: int, context_dim: int, num_heads: int, groups: int) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", min=1)
        self.context_dim = check_int(context_dim, "context_dim", min=1)
        self.norm = nn.GroupNorm(check_int(groups, "groups", min=1), channels)
        self.context_proj = nn.Linear(context_dim, channels)
        self.attn = MultiHeadAttention(channels, num_heads, cross=True)
        nn.init.zeros_(self.attn.out_proj.weight)     # starts as the identity, like the U-Net's blocks
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, h: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None,
                need_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Returns ``h + attention`` ``(B, C, H, W)`` (and the weights ``(B, heads, H*W, T)`` if asked)."""
        check_tensor(h, "h", ndim=4, kind="float", shape_hint="(B, C, H, W)")
        check_tensor(context, "context", ndim=3, kind="float", shape_hint=f"(B, T, {self.context_dim})")
        b, c, hh, ww = h.shape
        if context.shape[0] != b or context.shape[2] != self.context_dim:
            raise ValueError(f"context must be ({b}, T, {self.context_dim}) for images of batch {b}, "
                             f"got {tuple(context.shape)}")
        queries = self.norm(h).flatten(2).transpose(1, 2)                  # (B, H*W, C)
        out, weights = self.attn(queries, context=self.context_proj(context), mask=mask,
                                 need_weights=need_weights)
        if mask is not None:        # a caption without real tokens adds nothing (not even out_proj's bias)
            out = out * mask.any(dim=-1, keepdim=True).to(out.dtype)
        h = h + out.transpose(1, 2).reshape(b, c, hh, ww)
        return (h, weights) if need_weights else h


class TextAttentionBlock(nn.Module):
    """Self-attention over the pixels, then cross-attention to the caption: ``(B, C, H, W) -> (B, C, H, W)``.

    The U-Net of :mod:`aigc_lib.diffusion.unet` calls its attention blocks with the
    image only, ``block(h)``. :class:`~aigc_lib.multimodal.text_unet.TextUNet` hands
    the caption to every block through :attr:`context` (a shared
    :class:`CaptionContext`) for the length of one forward pass.
    """

    def __init__(self, channels: int, context_dim: int, num_heads: int, groups: int,
                 context: "CaptionContext") -> None:
        super().__init__()
        self.self_attn = AttentionBlock(channels, num_heads, groups)
        self.cross_attn = CrossAttention(channels, context_dim, num_heads, groups)
        self.context = context

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        states, mask = self.context.get()
        return self.cross_attn(self.self_attn(h), states, mask)


class CaptionContext:
    """Holds the caption's token states ``(B, T, D)`` and mask ``(B, 1, T)`` during one U-Net forward pass."""

    def __init__(self) -> None:
        self.states: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None

    def get(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.states is None:
            raise RuntimeError("a text attention block was called outside TextUNet.forward: no caption is set")
        return self.states, self.mask
