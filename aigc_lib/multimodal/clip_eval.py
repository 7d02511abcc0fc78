"""Measuring a trained :class:`~aigc_lib.multimodal.clip.CLIP`: zero-shot classification,
retrieval recall@1 and a linear probe."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.checks import check_int, check_tensor
from ..evaluation.intervals import wilson_interval
from .captions import HELD_OUT_TEMPLATES, VALUES, CaptionTokenizer, describe
from .clip import CLIP

ATTRIBUTE_INDEX = {"digit": 0, "size": 1, "thickness": 2, "position": 3}


@torch.no_grad()
def embed_images(model: CLIP, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Unit image vectors ``(N, D)`` of ``images`` ``(N, 1, 32, 32)``, in batches."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.encode_image(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def embed_captions(model: CLIP, captions: list[str], batch_size: int = 500) -> torch.Tensor:
    """Unit text vectors ``(N, D)`` of caption strings."""
    model.eval()
    tok = CaptionTokenizer(model.config.context)
    device = next(model.parameters()).device
    return torch.cat([model.encode_text(tok(captions[i:i + batch_size]).to(device)).cpu()
                      for i in range(0, len(captions), batch_size)])


def class_prompts(attribute: str, templates=HELD_OUT_TEMPLATES) -> list[list[str]]:
    """For each value of ``attribute``, one prompt per template naming only that attribute.

    ``class_prompts("digit")[7] == ["an image of a 7", "7"]`` with the held-out phrasings.
    """
    if attribute not in ATTRIBUTE_INDEX:
        raise ValueError(f"attribute must be one of {list(ATTRIBUTE_INDEX)}, got {attribute!r}")
    return [[describe(t, **{attribute: v}) for t in templates] for v in range(len(VALUES[attribute]))]


def zero_shot_classifier(model: CLIP, prompts: list[list[str]]) -> torch.Tensor:
    """Class vectors ``(K, D)``: the mean of each class's prompt vectors, normalised (prompt ensembling, as CLIP)."""
    return F.normalize(torch.stack([embed_captions(model, p).mean(0) for p in prompts]), dim=-1)


def zero_shot_predict(model: CLIP, images: torch.Tensor, class_vectors: torch.Tensor) -> torch.Tensor:
    """Predicted class ``(N,)``: the class vector most similar to each image vector."""
    return (embed_images(model, images) @ class_vectors.T).argmax(1)


def recall_at_1(image_vectors: torch.Tensor, text_vectors: torch.Tensor, image_attributes: torch.Tensor,
                text_attributes: torch.Tensor) -> torch.Tensor:
    """Text-to-image retrieval hits ``(M,)`` bool: is the most similar image one that the caption describes?

    Many images share a caption's attributes, so a hit is an image with all four attributes
    of the query caption (``image_attributes (N, 4)``, ``text_attributes (M, 4)``).
    """
    check_tensor(image_attributes, "image_attributes", ndim=2, kind="int")
    check_tensor(text_attributes, "text_attributes", ndim=2, kind="int")
    best = (text_vectors @ image_vectors.T).argmax(1)
    return (image_attributes[best] == text_attributes).all(1)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, n_classes: int,
                 steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0) -> torch.Tensor:
    """Fit a logistic regression (full-batch Adam) on frozen features; predicted classes ``(N_test,)``."""
    steps = check_int(steps, "steps", min=1)
    g = torch.Generator().manual_seed(check_int(seed, "seed", min=0))
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    layer = torch.nn.Linear(train_x.shape[1], n_classes)
    with torch.no_grad():
        layer.weight.normal_(0, 0.01, generator=g)
        layer.bias.zero_()
    opt = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)
    x = (train_x - mean) / std
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(layer(x), train_y).backward()
        opt.step()
    with torch.no_grad():
        return layer((test_x - mean) / std).argmax(1)



def accuracy_headline(label: str, hits: torch.Tensor, seeds: int = 1, unit: str = "images") -> str:
    """``LABEL: X (95% interval A–B; N images, K seeds)`` for a bool tensor of hits (all seeds pooled).

    The interval is the Wilson score interval of :func:`aigc_lib.evaluation.intervals.wilson_interval`.
    """
    check_tensor(hits, "hits", ndim=1, kind="bool")
    return wilson_interval(int(hits.sum()), len(hits), k=seeds, unit=unit).headline(label, digits=3)
