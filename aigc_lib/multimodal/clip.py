"""CLIP in miniature (Radford et al., 2021): an image encoder and a text encoder trained so that
an image and its caption get similar unit vectors.

* :class:`ImageEncoder`: a small CNN, ``(B, 1, 32, 32) -> (B, D)``.
* :class:`TextEncoder`: token and position embeddings, the course's Transformer encoder
  (chapter 3, bidirectional, padding masked), the state at the ``<eos>`` token, a linear
  projection: ``(B, T) -> (B, D)``. :meth:`TextEncoder.token_states` gives every token's
  state ``(B, T, C)`` for cross-attention (chapter 13).
* :func:`contrastive_loss`: the symmetric cross-entropy over the ``B x B`` similarity matrix
  scaled by a learned temperature ``exp(logit_scale)``, clamped at 100 as in CLIP.

Transformers' ``image_text_contrastive_loss(similarity)`` takes the *text-by-image* logits
(``logits_per_text``); its value is the same for our ``logits_per_image`` because the loss
averages both directions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_float, check_int, check_tensor
from ..core.task import Task
from ..transformer.blocks import BlockConfig, TransformerEncoder, check_token_ids
from .captions import TEXT_CONTEXT, TRAIN_TEMPLATES, VOCAB, CaptionTokenizer, describe
from .checker import check_canvas_images

#: CLIP clamps the learned temperature so that logits are at most 100 times the cosine similarity.
MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class CLIPConfig:
    """Sizes of :class:`CLIP`.

    Attributes:
        embed_dim: ``D``, width of the shared image-text space.
        channels: output channels of the four conv layers of the image encoder
            (32 -> 32 -> 16 -> 8 -> 4 pixels).
        text_width: ``C``, width of the text Transformer.
        text_layers, text_heads: its depth and heads.
        vocab_size, context: the tokenizer's vocabulary size and text context.
        logit_scale_init: initial ``log`` of the inverse temperature (CLIP: ``log(1 / 0.07)``).
    """

    embed_dim: int = 64
    channels: tuple[int, int, int, int] = (16, 32, 64, 64)
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    vocab_size: int = len(VOCAB)
    context: int = TEXT_CONTEXT
    logit_scale_init: float = math.log(1 / 0.07)

    def __post_init__(self) -> None:
        for name in ("embed_dim", "text_width", "text_layers", "text_heads", "vocab_size", "context"):
            setattr(self, name, check_int(getattr(self, name), name, min=1))
        self.channels = tuple(check_int(c, "channels[i]", min=1) for c in self.channels)
        if len(self.channels) != 4:
            raise ValueError(f"channels must hold 4 widths, got {self.channels}")
        check_float(self.logit_scale_init, "logit_scale_init", max=MAX_LOGIT_SCALE)
        if self.text_width % self.text_heads:
            raise ValueError(f"text_width={self.text_width} is not divisible by text_heads={self.text_heads}")


class ImageEncoder(nn.Module):
    """``(B, 1, 32, 32)`` in [0, 1] -> ``(B, D)`` (not normalised).

    Four conv layers (32 -> 16 -> 8 -> 4 pixels), then two linear layers on the flattened 4x4 grid and its
    maximum over positions.
    """

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__()
        c1, c2, c3, c4 = config.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),     # 16 x 16
            nn.Conv2d(c2, c3, 4, stride=2, padding=1), nn.ReLU(),     # 8 x 8
            nn.Conv2d(c3, c4, 4, stride=2, padding=1), nn.ReLU())     # 4 x 4
        self.head = nn.Sequential(nn.Linear(c4 * 17, 2 * config.embed_dim), nn.ReLU(),
                                  nn.Linear(2 * config.embed_dim, config.embed_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.conv(images)                                      # (B, c4, 4, 4)
        # the whole grid keeps *where* the ink is; its maximum over the grid says *what* is there, anywhere
        return self.head(torch.cat([h.flatten(1), h.amax((2, 3))], 1))


class TextEncoder(nn.Module):
    """Token ids ``(B, T)`` -> ``(B, D)``: the Transformer state at ``<eos>``, projected (no bias, as CLIP)."""

    def __init__(self, config: CLIPConfig, pad_id: int = 0, eos_id: int = 2) -> None:
        super().__init__()
        self.config, self.pad_id, self.eos_id = config, pad_id, eos_id
        self.token_embedding = nn.Embedding(config.vocab_size, config.text_width)
        # small start (as GPT-2): a word never seen in training stays near the zero vector
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.position_embedding = nn.Parameter(torch.randn(config.context, config.text_width) * 0.02)
        self.encoder = TransformerEncoder(BlockConfig(config.text_width, config.text_heads, activation="gelu"),
                                          config.text_layers)
        self.projection = nn.Linear(config.text_width, config.embed_dim, bias=False)

    def check_tokens(self, tokens: torch.Tensor) -> None:
        """Raise unless ``tokens`` is int ``(B, T)`` with ``T <= context``, known ids and one ``<eos>`` per row."""
        check_tensor(tokens, "tokens", ndim=2, kind="int", shape_hint="(B, T) caption token ids")
        if tokens.shape[1] > self.config.context:
            raise ValueError(f"tokens hold {tokens.shape[1]} positions, more than the text context of "
                             f"{self.config.context}")
        check_token_ids(tokens, self.config.vocab_size)
        if tokens.numel() and not bool(((tokens == self.eos_id).sum(1) == 1).all()):
            raise ValueError("each caption must hold exactly one <eos> token; make tokens with CaptionTokenizer")

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Every token's final state ``(B, T, C)`` (padding positions too; mask them with ``tokens != pad_id``)."""
        self.check_tokens(tokens)
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.position_embedding[:t]
        mask = (tokens != self.pad_id)[:, None, :]
        return self.encoder(x, mask=mask)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states = self.token_states(tokens)
        eos = (tokens == self.eos_id).float().argmax(1)
        return self.projection(states[torch.arange(len(tokens), device=tokens.device), eos])


class CLIP(nn.Module):
    """Image and text encoders with a learned temperature.

    ``model(images, tokens)`` returns ``logits_per_image`` ``(B_img, B_txt)``:
    ``exp(logit_scale)`` times the cosine similarities.
    """

    def __init__(self, config: CLIPConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CLIPConfig()
        tok = CaptionTokenizer(config.context)
        self.image_encoder = ImageEncoder(config)
        self.text_encoder = TextEncoder(config, tok.pad_id, tok.eos_id)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 32, 32)`` in [0, 1] -> unit vectors ``(B, D)``."""
        check_canvas_images(images)
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids ``(B, T)`` -> unit vectors ``(B, D)``."""
        return F.normalize(self.text_encoder(tokens), dim=-1)

    def scale(self) -> torch.Tensor:
        """``exp(logit_scale)``, clamped to at most 100."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.scale() * self.encode_image(images) @ self.encode_text(tokens).T


def contrastive_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss: mean of the cross-entropies image->text (rows) and text->image (columns).

    ``logits_per_image`` ``(B, B)``; the matching pairs are on the diagonal.
    """
    check_tensor(logits_per_image, "logits_per_image", ndim=2, kind="float", shape_hint="(B, B)")
    if logits_per_image.shape[0] != logits_per_image.shape[1]:
        raise ValueError(f"logits_per_image must be square (B, B), got {tuple(logits_per_image.shape)}")
    target = torch.arange(len(logits_per_image), device=logits_per_image.device)
    return (F.cross_entropy(logits_per_image, target) + F.cross_entropy(logits_per_image.T, target)) / 2


def sample_captions(attributes: torch.Tensor, keep_prob: float = 0.6, templates=TRAIN_TEMPLATES) -> list[str]:
    """Random partial captions for attributes ``(B, 4)``, drawn with torch's global generator.

    A random template; each attribute kept with ``keep_prob``; at least one kept. The global
    generator is saved in the Trainer's checkpoints, so a resumed run draws the same captions.
    """
    keep = torch.rand(len(attributes), 4) < keep_prob
    none = ~keep.any(1)
    keep[none, torch.randint(0, 4, (int(none.sum()),))] = True
    chosen = torch.randint(0, len(templates), (len(attributes),)).tolist()
    out = []
    for a, k, t in zip(attributes.tolist(), keep.tolist(), chosen):
        out.append(describe(templates[t], *[v if kk else None for v, kk in zip(a, k)]))
    return out


class CLIPTask(Task):
    """Train :class:`CLIP` on batches ``(images (B, 1, 32, 32), attributes (B, 4))``.

    Each step draws fresh partial captions (:func:`sample_captions`) in the training phrasings.
    Logs the loss, the temperature ``scale`` and the in-batch image->text accuracy.
    """

    def __init__(self, model: CLIP, lr: float = 2e-3, keep_prob: float = 0.6, weight_decay: float = 0.01) -> None:
        super().__init__()
        self.model, self.tokenizer = model, CaptionTokenizer(model.config.context)
        self.lr = check_float(lr, "lr", min=0.0, min_open=True)
        self.keep_prob = check_float(keep_prob, "keep_prob", min=0.0, max=1.0)
        self.weight_decay = check_float(weight_decay, "weight_decay", min=0.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def training_loss(self, batch, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        images, attributes = batch
        tokens = self.tokenizer(sample_captions(attributes.cpu(), self.keep_prob)).to(images.device)
        logits = self.model(images, tokens)
        loss = contrastive_loss(logits)
        with torch.no_grad():
            acc = (logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().mean()
        return {"loss": loss, "scale": self.model.scale().detach(), "batch_acc": acc}
