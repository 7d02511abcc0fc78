"""A small U-Net denoiser for images such as 28x28 MNIST digits (Ronneberger et al., 2015; Ho et al., 2020).

Layout, for ``channel_mults=(1, 2, 2)`` and 28x28 inputs::

    conv_in -> [res blocks @28] -> down -> [res blocks @14] -> down -> [res blocks + attention @7]
            -> middle (res block, attention, res block)
            -> [res blocks + attention @7] -> up -> [res blocks @14] -> up -> [res blocks @28] -> conv_out

Each level of the upward path takes the outputs of its twin on the way down
(the skip connections). Every residual block gets the time embedding (and the
class embedding of a conditional model) added after its first convolution.
Self-attention at the low resolutions uses :class:`aigc_lib.transformer.attention.MultiHeadAttention`
over the ``H*W`` positions.

A class-conditional U-Net (``num_classes = C > 0``) has ``C + 1`` class
embeddings: labels ``0 .. C-1`` and the *null class* ``C`` used by
classifier-free guidance (:mod:`aigc_lib.diffusion.guidance`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..transformer.attention import MultiHeadAttention
from ..core.checks import check_float
from .embeddings import TimeEmbedding, check_class_labels, check_input_dtype, check_time


@dataclass
class UNetConfig:
    """Sizes of a :class:`UNet`.

    Attributes:
        in_channels: image channels (1 for MNIST); the output has as many.
        image_size: height = width of the inputs; it must halve ``len(channel_mults) - 1`` times.
        base_channels: channels of the first level; level ``i`` has ``base_channels * channel_mults[i]``.
        channel_mults: one multiplier per resolution level.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_levels: indices of the levels with self-attention after each residual block
            (the middle block always has attention when ``attention_levels`` is not empty).
        num_heads: attention heads.
        num_classes: 0 for an unconditional model; ``C > 0`` adds ``C + 1`` class embeddings (the last is the null class).
        dropout: dropout inside the residual blocks.
        groups: groups of the GroupNorm layers (must divide every level's channels).
        patch_size: fold ``p x p`` pixel patches into channels before the first convolution
            (``pixel_unshuffle``) and unfold them after the last one. ``2`` runs the whole
            network at half the resolution (14x14 for MNIST): about 4x cheaper.
    """

    in_channels: int = 1
    image_size: int = 28
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = (2,)
    num_heads: int = 4
    num_classes: int = 0
    dropout: float = 0.0
    groups: int = 8
    patch_size: int = 1

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "base_channels", "num_res_blocks", "num_heads", "groups",
                     "patch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0 (0: unconditional), got {self.num_classes!r}")
        if not isinstance(self.channel_mults, (tuple, list)) or any(
                isinstance(m, bool) or not isinstance(m, int) for m in self.channel_mults):
            raise TypeError(f"channel_mults must be a tuple of positive ints, one per level, got {self.channel_mults!r}")
        if not isinstance(self.attention_levels, (tuple, list)) or any(
                isinstance(i, bool) or not isinstance(i, int) for i in self.attention_levels):
            raise TypeError(f"attention_levels must be a tuple of level indices (ints), got {self.attention_levels!r}")
        if not self.channel_mults or any(m < 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults must be positive ints, one per level, got {self.channel_mults}")
        levels = len(self.channel_mults)
        if any(not 0 <= i < levels for i in self.attention_levels):
            raise ValueError(f"attention_levels must be level indices in 0..{levels - 1}, got {self.attention_levels}")
        factor = self.size_factor
        if self.image_size % factor:
            raise ValueError(f"image_size {self.image_size} cannot be halved {levels - 1} times "
                             f"(len(channel_mults) - 1) after patches of {self.patch_size}; it must be "
                             f"divisible by {factor}")
        for m in self.channel_mults:
            c = self.base_channels * m
            if c % self.groups:
                raise ValueError(f"groups={self.groups} must divide every level's channels, got {c}")
            if self.attention_levels and c % self.num_heads:
                raise ValueError(f"num_heads={self.num_heads} must divide every level's channels, got {c}")
        check_float(self.dropout, "dropout", min=0.0, max=1.0, max_open=True)

    @property
    def size_factor(self) -> int:
        """Height and width must be divisible by this: ``patch_size * 2 ** (len(channel_mults) - 1)``."""
        return self.patch_size * 2 ** (len(self.channel_mults) - 1)

    @property
    def emb_dim(self) -> int:
        """Width of the time (and class) embedding: ``4 * base_channels``."""
        return 4 * self.base_channels


class ResBlock(nn.Module):
    """``(B, C_in, H, W), emb (B, E) -> (B, C_out, H, W)``: GroupNorm, SiLU, conv, + emb, GroupNorm, SiLU, dropout, conv, + skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)   # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over the ``H*W`` pixels: ``(B, C, H, W) -> (B, C, H, W)`` with a residual connection."""

    def __init__(self, channels: int, num_heads: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = MultiHeadAttention(channels, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)          # (B, H*W, C)
        out, _ = self.attn(seq)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """Predicts noise (or velocity) for images: ``forward(x (B, C, H, W), t (B,), y (B,) or None) -> (B, C, H, W)``.

    Example::

        unet = UNet(UNetConfig(base_channels=32, num_classes=10))
        eps_hat = unet(x_t, t, y)       # y = 10 (the null class) or None: unconditional
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        self.num_classes = cfg.num_classes
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        E = cfg.emb_dim
        self.time_emb = TimeEmbedding(cfg.base_channels, E)
        self.class_emb = nn.Embedding(cfg.num_classes + 1, E) if cfg.num_classes else None
        folded = cfg.in_channels * cfg.patch_size ** 2
        self.conv_in = nn.Conv2d(folded, chans[0], 3, padding=1)

        def res(a: int, b: int) -> ResBlock:
            return ResBlock(a, b, E, cfg.groups, cfg.dropout)

        def attn(c: int) -> AttentionBlock:
            return AttentionBlock(c, cfg.num_heads, cfg.groups)

        self.down = nn.ModuleList()
        skips = [chans[0]]
        c = chans[0]
        for i, c_out in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                self.down.append(nn.ModuleList([res(c, c_out)] + ([attn(c_out)] if i in cfg.attention_levels else [])))
                c = c_out
                skips.append(c)
            if i < len(chans) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        self.mid = nn.ModuleList([res(c, c)] + ([attn(c)] if cfg.attention_levels else []) + [res(c, c)])
        self.up = nn.ModuleList()
        for i, c_out in reversed(list(enumerate(chans))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(nn.ModuleList([res(c + skips.pop(), c_out)]
                                             + ([attn(c_out)] if i in cfg.attention_levels else [])))
                c = c_out
            if i > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(c, c, 3, padding=1)]))
        self.norm_out = nn.GroupNorm(cfg.groups, c)
        self.conv_out = nn.Conv2d(c, folded, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError(f"UNet expects images (B, C, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if x.shape[1] != cfg.in_channels:
            raise ValueError(f"UNet was built for in_channels={cfg.in_channels}, got {x.shape[1]} channels "
                             f"(input shape {tuple(x.shape)})")
        if not x.is_floating_point():
            raise TypeError(f"UNet expects floating-point images, got {x.dtype}")
        check_input_dtype(x, self, "UNet")
        factor = cfg.size_factor
        h, w = x.shape[-2:]
        if h % factor or w % factor:
            raise ValueError(f"image size {h}x{w} cannot be halved {len(cfg.channel_mults) - 1} times by this "
                             f"U-Net (patch_size={cfg.patch_size}): height and width must be divisible by {factor}")

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | int,
                y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Args: ``x`` ``(B, C, H, W)``; ``t`` ``(B,)`` or one number (DDPM step or ``1000 * t`` of a flow);
        ``y`` ``(B,)`` labels in ``0 .. num_classes`` (``num_classes`` or ``None``: the null class).
        Returns ``(B, C, H, W)``."""
        self._check_input(x)
        t = check_time(t, x.shape[0], x.device)
        emb = self.time_emb(t)
        labels = check_class_labels(y, self.num_classes, x.shape[0], x.device)
        if self.class_emb is not None:
            emb = emb + self.class_emb(labels)
        p = self.config.patch_size
        h = self.conv_in(F.pixel_unshuffle(x, p) if p > 1 else x)
        hs = [h]
        for block in self.down:
            for layer in block:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for block in self.up:
            if isinstance(block[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            for layer in block:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return F.pixel_shuffle(out, p) if p > 1 else out
