"""Chapter 12's VQ-VAE and CLIP as chapter 13 uses them: image tokens in and out, and CLIP scores.

* :func:`encode_codes` / :func:`decode_codes`: canvases ``(N, 1, 32, 32)`` <-> code grids ``(N, h, w)``;
* :func:`clip_scores`: cosine similarity ``(N,)`` of CLIP's image and caption embeddings, used to
  rerank the token route's samples (as DALL-E did) and as the *CLIP score* of chapter 13's table.
"""
from __future__ import annotations

import torch

from ..core.checks import check_tensor


def load_course_vqvae():
    """The shipped chapter-12 VQ-VAE, in evaluation mode."""
    from .pretrained import load_vqvae

    return load_vqvae().eval()


def load_course_clip():
    """The shipped chapter-12 CLIP, in evaluation mode."""
    from .pretrained import load_clip

    return load_clip().eval()


@torch.no_grad()
def encode_codes(vq, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Code grids ``(N, h, w)`` int64 of canvases ``(N, 1, 32, 32)`` in [0, 1]."""
    check_tensor(images, "images", ndim=4, kind="float", shape_hint="(N, 1, 32, 32)")
    return torch.cat([vq.encode_indices(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def decode_codes(vq, codes: torch.Tensor, grid: tuple[int, ...] | torch.Size,
                 batch_size: int = 500) -> torch.Tensor:
    """Canvases ``(N, 1, 32, 32)`` in [0, 1] from codes ``(N, h * w)`` or ``(N, h, w)`` (``grid = (h, w)``)."""
    check_tensor(codes, "codes", kind="int", shape_hint="(N, h * w) or (N, h, w)")
    codes = codes.reshape(len(codes), *grid)
    return torch.cat([vq.decode_indices(codes[i:i + batch_size]).clamp(0, 1)
                      for i in range(0, len(codes), batch_size)])


@torch.no_grad()
def clip_scores(clip, images: torch.Tensor, tokens: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Cosine similarity ``(N,)`` between CLIP's embeddings of ``images`` ``(N, 1, 32, 32)`` and captions ``(N, T)``."""
    if len(images) != len(tokens):
        raise ValueError(f"got {len(images)} images but {len(tokens)} captions")
    out = []
    for i in range(0, len(images), batch_size):
        a = clip.encode_image(images[i:i + batch_size].float())
        b = clip.encode_text(tokens[i:i + batch_size])
        out.append(torch.nn.functional.cosine_similarity(a, b, dim=-1))
    return torch.cat(out)
