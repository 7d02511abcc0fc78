"""The importance-weighted estimate of a VAE's ``log p(x)`` (Burda et al., 2016), in nats per image.

* :func:`iwae_log_likelihood`: the estimate for a batch with ``k`` samples per image.
* :func:`held_out_likelihood`: a :class:`LikelihoodReport` on held-out images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.checks import check_int, check_tensor
from .losses import bernoulli_log_likelihood, gaussian_log_prob, reparameterize, standard_normal_log_prob
from .models import VAE


# ---------------------------------------------------------------------------- likelihood
def _log_weight_stats(model: VAE, x: torch.Tensor, y: torch.Tensor | int | None, k: int, chunk_size: int,
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log mean_k w_k, mean_k log w_k)``, each ``(B,)``, with ``w = p(x, z) / q(z|x)`` and ``z ~ q(z|x)``."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a VAE, got {type(model).__name__}")
    k = check_int(k, "k", min=1)
    chunk_size = check_int(chunk_size, "chunk_size", min=1)
    mu, logvar = model.encode(x, y)
    x_flat = model._flat_images(x)
    lse_chunks, sum_log_w = [], torch.zeros(x.shape[0], device=x.device)
    done = 0
    while done < k:
        c = min(chunk_size, k - done)
        z = reparameterize(mu, logvar, generator, n_samples=c)                      # (c, B, Z)
        logits = model.decode(z, y).reshape(c * x.shape[0], -1)                     # (c*B, D)
        log_px_z = bernoulli_log_likelihood(logits, x_flat.repeat(c, 1)).reshape(c, -1)
        log_w = log_px_z + standard_normal_log_prob(z) - gaussian_log_prob(z, mu, logvar)  # (c, B)
        lse_chunks.append(torch.logsumexp(log_w, dim=0))
        sum_log_w = sum_log_w + log_w.sum(0)
        done += c
    log_mean_w = torch.logsumexp(torch.stack(lse_chunks), dim=0) - math.log(k)
    return log_mean_w, sum_log_w / k


def iwae_log_likelihood(model: VAE, x: torch.Tensor, y: torch.Tensor | int | None = None, k: int = 256,
                        chunk_size: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
    """The importance-weighted estimate of ``log p(x)`` (Burda et al., 2016), one value per image.

    ``L_k = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_1..z_k ~ q(z|x)``.
    ``L_1`` is the one-sample ELBO estimate; ``E[L_k]`` grows with ``k`` and tends
    to ``log p(x)``. The ``k`` samples are drawn ``chunk_size`` at a time, so memory
    grows with ``chunk_size`` and not with ``k``.

    Args:
        model: a :class:`VAE` (call it under ``torch.no_grad()`` and ``model.eval()`` for evaluation).
        x: binary images ``(B, *image_shape)``; y: labels ``(B,)`` for a conditional VAE.

    Returns:
        ``(B,)`` estimates of ``log p(x)`` in nats (the NLL is minus this).
    """
    return _log_weight_stats(model, x, y, k, chunk_size, generator)[0]


@dataclass
class LikelihoodReport:
    """Average held-out numbers, in nats per image (lower NLL is better).

    Attributes:
        iwae_nll: ``-mean L_k``, the importance-weighted estimate of the negative log-likelihood.
        elbo_nll: ``-mean ELBO`` estimated from the same ``k`` samples (always ``>= iwae_nll``).
        k: importance samples per image.
        n: number of images.
    """

    iwae_nll: float
    elbo_nll: float
    k: int
    n: int


@torch.no_grad()
def held_out_likelihood(model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None, k: int = 256,
                        batch_size: int = 200, chunk_size: int = 64, seed: int = 0) -> LikelihoodReport:
    """IWAE and ELBO estimates of the negative log-likelihood of binary ``images`` ``(N, *image_shape)``.

    The model is put in eval mode (no dropout) during the estimate. The noise
    comes from a generator seeded with ``seed``, so the numbers are reproducible.
    """
    check_tensor(images, "images", kind="float", shape_hint="(N, *image_shape) binary images")
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a VAE, got {type(model).__name__}")
    batch_size = check_int(batch_size, "batch_size", min=1)
    seed = check_int(seed, "seed", min=0)
    if len(images) == 0:
        raise ValueError("held_out_likelihood needs at least one image, got an empty tensor")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    iwae_sum, elbo_sum = 0.0, 0.0
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            y = None if labels is None or not model.conditional else labels[start:start + batch_size].to(device)
            log_mean_w, mean_log_w = _log_weight_stats(model, x, y, k, chunk_size, g)
            iwae_sum += float(log_mean_w.sum())
            elbo_sum += float(mean_log_w.sum())
    finally:
        model.train(was_training)
    n = len(images)
    return LikelihoodReport(iwae_nll=-iwae_sum / n, elbo_nll=-elbo_sum / n, k=k, n=n)
