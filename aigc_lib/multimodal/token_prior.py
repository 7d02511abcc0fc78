"""DALL-E in miniature (Ramesh et al., 2021): a GPT over [caption tokens, image tokens].

A VQ-VAE (chapter 12) turns each image into a grid of ``h x w`` codebook indices,
read row by row as ``N = h * w`` *image tokens*. One sequence holds a caption,
padded to ``L`` tokens, followed by its image tokens::

    position:  0 ... L-1 | L ... L+N-1
    token:     caption   | text_vocab_size + code     (image ids follow the text ids)

Chapter 4's :class:`~aigc_lib.gpt.GPT` learns to predict each token from the ones
before it. The loss counts the image tokens (weight 1) and, if ``text_loss_weight``
is above 0, the caption tokens with that weight (DALL-E used 1/8 for text, 7/8 for
the image). The first token has nothing before it and is never predicted.

Sampling feeds the caption and draws the ``N`` image tokens one at a time (with a
KV cache), allowing only image ids; the VQ-VAE decodes them. DALL-E drew many
images per caption and kept those that CLIP scored best (*reranking*,
:func:`rerank`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_float, check_int, check_tensor
from ..lm.gpt import GPT, GPTConfig, LanguageModelTask
from ..lm.sampling import SamplingConfig, sample_next_token
from ..core.task import Task
from ..transformer.blocks import check_token_ids


@dataclass
class TokenPriorConfig:
    """Sizes of a :class:`TokenPrior`.

    Attributes:
        text_vocab_size: caption token ids ``0 .. text_vocab_size - 1`` (the pad id among them).
        caption_len: ``L``: captions are padded (or must fit) to this many tokens.
        codebook_size: ``K``, the VQ-VAE's codes; image ids are ``text_vocab_size + code``.
        image_tokens: ``N = h * w`` codes per image.
        n_layer, n_head, n_embd, dropout: the GPT.
        text_loss_weight: weight of the caption tokens in the loss (0: image tokens only).
    """

    text_vocab_size: int = 64
    caption_len: int = 16
    codebook_size: int = 64
    image_tokens: int = 49
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    text_loss_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("text_vocab_size", "caption_len", "codebook_size", "image_tokens"):
            check_int(getattr(self, name), name, min=1)
        check_float(self.text_loss_weight, "text_loss_weight", min=0.0)
        self.gpt_config()

    @property
    def seq_len(self) -> int:
        """``L + N``: one caption and its image."""
        return self.caption_len + self.image_tokens

    def gpt_config(self) -> GPTConfig:
        # the model reads at most L + N - 1 tokens: the last image token is predicted, never read
        return GPTConfig(vocab_size=self.text_vocab_size + self.codebook_size, block_size=self.seq_len - 1,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)


class TokenPrior(nn.Module):
    """A GPT over ``[caption (L), image tokens (N)]``: ``layout``, ``loss``, ``sample_codes``.

    Example::

        prior = TokenPrior(TokenPriorConfig(text_vocab_size=40, caption_len=12, codebook_size=64, image_tokens=49))
        loss = prior.loss(captions, codes)             # (B, 12) ids, (B, 49) or (B, 7, 7) codes
        codes = prior.sample_codes(captions, temperature=1.0, top_k=32)   # (B, 49): decode with the VQ-VAE
    """

    def __init__(self, config: TokenPriorConfig | None = None) -> None:
        super().__init__()
        self.config = config or TokenPriorConfig()
        self.gpt = GPT(self.config.gpt_config())

    def _check_captions(self, captions: Any) -> torch.Tensor:
        c = self.config
        check_tensor(captions, "captions", ndim=2, kind="int", shape_hint=f"(B, {c.caption_len}) caption ids")
        if captions.shape[1] != c.caption_len:
            what = "longer than" if captions.shape[1] > c.caption_len else "not padded to"
            raise ValueError(f"captions of {captions.shape[1]} tokens are {what} the text context "
                             f"caption_len={c.caption_len}")
        check_token_ids(captions, c.text_vocab_size, "text_vocab_size", "caption token")
        return captions

    def _check_codes(self, codes: Any) -> torch.Tensor:
        c = self.config
        check_tensor(codes, "codes", kind="int", shape_hint=f"(B, {c.image_tokens}) or (B, h, w) codebook indices")
        codes = codes.flatten(1) if codes.ndim == 3 else codes
        if codes.ndim != 2 or codes.shape[1] != c.image_tokens:
            raise ValueError(f"codes must hold {c.image_tokens} image tokens per image, (B, {c.image_tokens}) or "
                             f"(B, h, w), got shape {tuple(codes.shape)}")
        check_token_ids(codes, c.codebook_size, "codebook_size", "image code")
        return codes

    def layout(self, captions: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The sequences ``(B, L + N)``: caption ids, then ``text_vocab_size + code``."""
        captions, codes = self._check_captions(captions), self._check_codes(codes)
        if captions.shape[0] != codes.shape[0]:
            raise ValueError(f"got {captions.shape[0]} captions but {codes.shape[0]} images")
        return torch.cat([captions, codes + self.config.text_vocab_size], dim=1)

    def target_weights(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Loss weight ``(L + N - 1,)`` of each predicted token ``seq[1:]``: text weight for the caption, 1 for the image."""
        c = self.config
        w = torch.full((c.seq_len - 1,), float(c.text_loss_weight), device=device)
        w[c.caption_len - 1:] = 1.0
        return w

    def loss(self, captions: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Weighted mean cross-entropy (nats per weighted token) of the next-token predictions."""
        seq = self.layout(captions, codes)
        logits = self.gpt(seq[:, :-1]).float()                                    # (B, L+N-1, V)
        nll = F.cross_entropy(logits.transpose(1, 2), seq[:, 1:], reduction="none")   # (B, L+N-1)
        w = self.target_weights(seq.device)
        return (nll * w).sum() / (w.sum() * seq.shape[0])

    @torch.no_grad()
    def sample_codes(self, captions: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``N`` image codes ``(B, N)`` (in ``0 .. K-1``) after each caption ``(B, L)``; only image ids are allowed."""
        c = self.config
        self._check_captions(captions)
        sampling = SamplingConfig(temperature, top_k, top_p)
        was = self.training
        self.eval()
        try:
            caches = self.gpt.new_caches(c.seq_len - 1)
            logits = self.gpt(captions, caches, last_only=True)[:, -1]
            codes = []
            for i in range(c.image_tokens):
                image_logits = logits[:, c.text_vocab_size:]                     # (B, K): no text ids
                code = sample_next_token(image_logits, sampling, generator=generator)
                codes.append(code)
                if i + 1 < c.image_tokens:
                    logits = self.gpt((code + c.text_vocab_size)[:, None].to(captions.dtype), caches)[:, -1]
            return torch.stack(codes, dim=1)
        finally:
            self.train(was)


class TokenPriorTask(Task):
    """Trains a :class:`TokenPrior` on batches ``(captions (B, L), codes (B, N) or (B, h, w))``.

    AdamW with weight decay on matrices only, as chapter 4's :class:`~aigc_lib.gpt.LanguageModelTask`.
    Logged metric: ``loss`` (nats per image token when ``text_loss_weight = 0``).
    """

    def __init__(self, model: TokenPrior, lr: float = 1e-3, weight_decay: float = 0.1,
                 betas: tuple[float, float] = (0.9, 0.99)) -> None:
        super().__init__()
        if not isinstance(model, TokenPrior):
            raise TypeError(f"model must be a TokenPrior, got {type(model).__name__}")
        self.model = model
        self._gpt_task = LanguageModelTask(model.gpt, lr=lr, weight_decay=weight_decay, betas=betas, fused=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self._gpt_task.configure_optimizers()

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError("TokenPriorTask expects batches (captions, codes)")
        return self.model.loss(batch[0], batch[1])


def rerank(candidates: torch.Tensor, scores: torch.Tensor, keep: int = 1) -> torch.Tensor:
    """Keep the ``keep`` best of ``n`` candidates per caption, as DALL-E kept CLIP's favourites.

    Args:
        candidates: ``(B, n, ...)`` images (or anything) drawn for ``B`` captions.
        scores: ``(B, n)`` e.g. CLIP similarities of each candidate with its caption (higher is better).

    Returns:
        ``(B, keep, ...)``, best first.
    """
    check_tensor(scores, "scores", ndim=2, kind="float", shape_hint="(B, n)")
    if not isinstance(candidates, torch.Tensor) or candidates.shape[:2] != scores.shape:
        raise ValueError(f"candidates must be (B, n, ...) with (B, n) = {tuple(scores.shape)}, got "
                         f"{tuple(candidates.shape) if isinstance(candidates, torch.Tensor) else type(candidates)}")
    keep = check_int(keep, "keep", min=1, max=scores.shape[1])
    order = scores.argsort(dim=1, descending=True)[:, :keep]
    index = order.reshape(*order.shape, *([1] * (candidates.ndim - 2))).expand(-1, -1, *candidates.shape[2:])
    return candidates.gather(1, index.to(candidates.device))
