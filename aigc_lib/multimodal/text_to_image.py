"""Stable Diffusion in miniature (Rombach et al., 2022): flow matching in a spatial latent, guided by a caption.

Three parts, as in Stable Diffusion:

1. a frozen autoencoder (:class:`~aigc_lib.multimodal.latent_autoencoder.ConvAutoencoder`):
   digit ``(B, 1, 28, 28)`` <-> latent ``(B, 4, 7, 7)``, trained first;
2. a text encoder (:class:`~aigc_lib.multimodal.text_unet.CaptionEncoder`): caption
   ids ``(B, T)`` -> token states ``(B, T, D)``. Stable Diffusion uses a frozen,
   pretrained CLIP text encoder; ours is small and learns together with the U-Net;
3. a :class:`~aigc_lib.multimodal.text_unet.TextUNet` that predicts the flow-matching
   velocity of chapter 9 (:func:`~aigc_lib.diffusion.flow_matching.flow_matching_loss`)
   on the scaled latents, attending to the caption through cross-attention.

**Classifier-free guidance on the caption** (Ho & Salimans, 2022). During training
each caption is replaced by the *null caption* (all padding) with probability
``caption_dropout``. All its keys are masked, so cross-attention adds nothing: the
network learns the unconditional velocity ``v_u``. Sampling combines
``v = v_u + w (v_c - v_u)`` (:func:`aigc_lib.diffusion.guidance.guided_prediction`),
``w >= 0``; ``w = 1`` is the plain conditional model.

Latents are multiplied by ``latent_scale = 1 / std(z)`` (one number, fitted on the
training images, as chapter 9 and Rombach et al. do) so that they have unit
variance like the noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, check_tensor
from ..diffusion.flow_matching import flow_matching_loss, flow_sample
from ..diffusion.guidance import check_guidance_scale, guided_prediction
from ..core.task import Task
from .latent_autoencoder import ConvAutoencoder, ConvAutoencoderConfig
from .text_unet import CaptionEncoder, CaptionEncoderConfig, TextUNet, TextUNetConfig


@dataclass
class TextToImageConfig:
    """Sizes of a :class:`TextToImage` model.

    Attributes:
        image_size: height = width of the images (divisible by 4).
        ae_hidden, latent_channels: the autoencoder (latent ``(latent_channels, S/4, S/4)``).
        vocab_size, max_caption_len, pad_id: the caption tokens.
        text_dim, text_layers, text_heads: the caption encoder.
        base_channels, channel_mults, num_res_blocks, attention_levels, num_heads, groups: the U-Net
            on the latent (see :class:`~aigc_lib.diffusion.unet.UNetConfig`); the latent's side
            ``S/4`` must halve ``len(channel_mults) - 1`` times.
        time_scale: the U-Net sees ``time_scale * t`` for the flow time ``t`` in [0, 1].
    """

    image_size: int = 28
    ae_hidden: int = 32
    latent_channels: int = 4
    vocab_size: int = 64
    max_caption_len: int = 16
    pad_id: int = 0
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1,)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (0,)
    num_heads: int = 4
    groups: int = 8
    time_scale: float = 1000.0

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        check_float(self.time_scale, "time_scale", min=0.0, min_open=True)
        self.autoencoder_config()
        self.text_config()
        self.unet_config()

    def autoencoder_config(self) -> ConvAutoencoderConfig:
        return ConvAutoencoderConfig(image_channels=1, image_size=self.image_size, hidden=self.ae_hidden,
                                     latent_channels=self.latent_channels)

    def text_config(self) -> CaptionEncoderConfig:
        return CaptionEncoderConfig(vocab_size=self.vocab_size, max_len=self.max_caption_len, pad_id=self.pad_id,
                                    d_model=self.text_dim, n_layers=self.text_layers, n_heads=self.text_heads)

    def unet_config(self) -> TextUNetConfig:
        return TextUNetConfig(in_channels=self.latent_channels, image_size=self.image_size // 4,
                              base_channels=self.base_channels, channel_mults=self.channel_mults,
                              num_res_blocks=self.num_res_blocks, attention_levels=self.attention_levels,
                              num_heads=self.num_heads, groups=self.groups, context_dim=self.text_dim)


class TextToImage(nn.Module):
    """Autoencoder + caption encoder + text U-Net + latent scale: ``encode``, ``decode``, ``velocity``, ``sample``.

    Example::

        model = TextToImage(TextToImageConfig(vocab_size=len(vocab)))
        # 1. Trainer(...).fit(AutoencoderTask(model.autoencoder), TensorBatches(images, batch_size=128))
        model.fit_latent_scale(images)
        z = model.encode(images)                               # once: the autoencoder is frozen now
        # 2. Trainer(...).fit(TextToImageTask(model), TensorBatches(z, tokens, batch_size=128))
        digits = model.sample(tokens[:16], guidance_scale=3.0)   # (16, 1, 28, 28) in [0, 1]
    """

    def __init__(self, config: TextToImageConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TextToImageConfig()
        self.autoencoder = ConvAutoencoder(cfg.autoencoder_config())
        self.text_encoder = CaptionEncoder(cfg.text_config())
        self.unet = TextUNet(cfg.unet_config())
        self.latent_shape = cfg.autoencoder_config().latent_shape
        #: multiply the autoencoder's latents by this (0 until :meth:`fit_latent_scale`); saved in the state dict.
        self.register_buffer("latent_scale", torch.zeros(()))

    def _scale(self) -> float:
        if not float(self.latent_scale) > 0:
            raise RuntimeError("the latent scale is not set: train the autoencoder, then call "
                               "fit_latent_scale(train_images) (or load a state dict that holds it)")
        return float(self.latent_scale)

    @torch.no_grad()
    def _raw_latents(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        self.autoencoder.check_images(images)
        was = self.autoencoder.training
        self.autoencoder.eval()
        try:
            return torch.cat([self.autoencoder.encode(images[i:i + batch_size])
                              for i in range(0, len(images), batch_size)])
        finally:
            self.autoencoder.train(was)

    def fit_latent_scale(self, images: torch.Tensor) -> float:
        """Set ``latent_scale = 1 / std`` of the latents of ``images`` ``(N >= 2, 1, S, S)`` and return it."""
        if len(images) < 2:
            raise ValueError(f"need at least 2 images to measure a spread, got {len(images)}")
        std = float(self._raw_latents(images).std())
        if not std > 0:
            raise ValueError(f"every image has the same latent (std {std}): train the autoencoder first")
        self.latent_scale.fill_(1.0 / std)
        return 1.0 / std

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 1, S, S)`` in [0, 1] -> scaled latents ``(B, c, S/4, S/4)`` (no gradient)."""
        return self._raw_latents(images) * self._scale()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images ``(B, 1, S, S)`` in [0, 1]."""
        return torch.sigmoid(self.autoencoder.decode(z / self._scale()))

    def null_tokens(self, batch: int, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The null caption: ``(batch, length)`` pad ids (every key masked: no text)."""
        return torch.full((batch, length), self.config.pad_id, dtype=torch.long, device=device)

    def velocity(self, z: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The U-Net's velocity ``(B, c, h, w)`` for latents ``z``, network times ``t`` ``(B,)`` and captions ``(B, T)``."""
        states, mask = self.text_encoder(tokens)
        return self.unet(z, t, states, mask)

    def guided_velocity(self, tokens: torch.Tensor, guidance_scale: float):
        """``(z, t) -> v_u + w (v_c - v_u)`` for captions ``(B, T)``: one pass on the doubled batch."""
        w = check_guidance_scale(guidance_scale)
        null = self.null_tokens(*tokens.shape, device=tokens.device)
        both_tokens = torch.cat([tokens, null])

        def v(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if z.shape[0] != tokens.shape[0]:
                raise ValueError(f"got {z.shape[0]} latents but {tokens.shape[0]} captions")
            cond, uncond = self.velocity(torch.cat([z, z]), torch.cat([t, t]), both_tokens).chunk(2)
            return guided_prediction(cond, uncond, w)

        return v

    @torch.no_grad()
    def sample(self, tokens: torch.Tensor, guidance_scale: float = 3.0, num_steps: int = 20,
               generator: torch.Generator | None = None, batch_size: int = 250) -> torch.Tensor:
        """One image per caption: ``tokens (B, T) -> (B, 1, S, S)`` in [0, 1].

        Euler integration of the guided velocity from noise (``t = 0``) to data (``t = 1``) in latent space
        (:func:`~aigc_lib.diffusion.flow_matching.flow_sample`), then ``decode``.

        Args:
            tokens: caption ids (pad id = padding).
            guidance_scale: ``w >= 0`` (0: ignore the caption, 1: conditional, > 1: guided).
            num_steps: Euler steps.
            generator: a CPU generator for the starting noise.
            batch_size: captions per forward pass (memory).
        """
        check_tensor(tokens, "tokens", ndim=2, kind="int", shape_hint="(B, T) caption ids")
        w = check_guidance_scale(guidance_scale)
        num_steps = check_int(num_steps, "num_steps", min=1)
        self._scale()
        device = self.latent_scale.device
        was = self.training
        self.eval()
        try:
            out = []
            for i in range(0, len(tokens), batch_size):
                tok = tokens[i:i + batch_size].to(device)
                v = self.guided_velocity(tok, w) if w != 1.0 else (lambda z, t, tok=tok: self.velocity(z, t, tok))
                z = flow_sample(v, (len(tok), *self.latent_shape), num_steps=num_steps, generator=generator,
                                device=device, time_scale=self.config.time_scale)
                out.append(self.decode(z))
            return torch.cat(out)
        finally:
            self.train(was)


class TextToImageTask(Task):
    """Flow matching on scaled latents with caption dropout; the text encoder and U-Net learn, the autoencoder is frozen.

    Batches: ``(z, tokens)`` with ``z = model.encode(images)`` ``(B, c, h, w)`` computed once
    and caption ids ``(B, T)``.

    Args:
        model: a :class:`TextToImage` whose latent scale is fitted.
        lr, weight_decay: AdamW settings.
        caption_dropout: probability of replacing a caption by the null caption (for guidance).

    Logged metric: ``loss`` (mean squared error of the velocity).
    """

    def __init__(self, model: TextToImage, lr: float = 1e-3, weight_decay: float = 0.0,
                 caption_dropout: float = 0.1) -> None:
        super().__init__()
        if not isinstance(model, TextToImage):
            raise TypeError(f"model must be a TextToImage, got {type(model).__name__}")
        model._scale()
        self.model = model
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        self.caption_dropout = check_float(caption_dropout, "caption_dropout", min=0.0, max=1.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = list(self.model.text_encoder.parameters()) + list(self.model.unet.parameters())
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    def drop_captions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each caption replaced by the null caption (all pad) with probability ``caption_dropout``."""
        drop = torch.rand(tokens.shape[0], device=tokens.device) < self.caption_dropout
        return torch.where(drop[:, None], torch.full_like(tokens, self.model.config.pad_id), tokens)

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError("TextToImageTask expects batches (z, tokens): scaled latents and caption ids")
        z, tokens = batch
        check_tensor(z, "z", ndim=4, kind="float", shape_hint=f"(B, {', '.join(map(str, self.model.latent_shape))})")
        tokens = self.drop_captions(tokens)
        return flow_matching_loss(lambda zt, t: self.model.velocity(zt, t, tokens), z.float(),
                                  time_scale=self.model.config.time_scale)
