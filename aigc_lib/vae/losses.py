"""The probability pieces of a variational autoencoder, as plain functions.

* :func:`gaussian_kl`: KL divergence from a diagonal Gaussian
  ``q = N(mu, diag(exp(logvar)))`` to the standard normal prior ``p = N(0, I)``,
  in closed form (Kingma & Welling, 2014, appendix B).
* :func:`gaussian_log_prob` and :func:`standard_normal_log_prob`: log densities.
* :func:`reparameterize`: ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``.
* :func:`bernoulli_log_likelihood`: ``log p(x | logits)`` of a Bernoulli decoder.
* :func:`log_mean_exp`: a numerically stable ``log(mean(exp(a)))``.
* :func:`binarize_dynamic` and :func:`binarize_fixed`: the two binarisations of
  MNIST used in the course (see :func:`binarize_fixed` for why it matters).

Every function works on a batch and returns one number per example, summed
over the latent or pixel dimensions. All values are in nats (natural log).
"""
from __future__ import annotations

import math

import torch

from ..core.checks import check_finite_tensor, check_generator, check_int, check_tensor

LOG_2PI = math.log(2 * math.pi)

#: Seed of the fixed binarisation of held-out digits used in the course.
TEST_BINARIZATION_SEED = 1234


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, a_name: str, b_name: str, finite: bool = True) -> None:
    """Two floating-point tensors of one shape, with at least one entry (and finite, one sync, if ``finite``)."""
    check_tensor(a, a_name, kind="float")
    check_tensor(b, b_name, kind="float")
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError(f"{a_name} and {b_name} must not be empty, got shape {tuple(a.shape)}")
    if finite:
        check_finite_tensor(a, a_name)
        check_finite_tensor(b, b_name)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) in closed form, summed over the last dimension.

    ``KL = 0.5 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)``.

    Args:
        mu: means ``(..., Z)``.
        logvar: log variances ``log sigma^2``, ``(..., Z)``.

    Returns:
        ``(...)``: one KL value (in nats, >= 0) per distribution.
    """
    _check_same_shape(mu, logvar, "mu", "logvar")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag(exp(logvar)))`` summed over the last dimension.

    Args:
        z: points ``(..., Z)``; ``mu`` and ``logvar`` broadcast against it.

    Returns:
        ``(...)`` log densities.
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last dimension: ``(..., Z) -> (...)``."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   n_samples: int | None = None) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` so that gradients flow into ``mu`` and ``logvar``.

    Args:
        mu, logvar: ``(B, Z)``.
        generator: optional ``torch.Generator`` (on the device of ``mu``) for reproducible noise.
        n_samples: ``None`` for one sample ``(B, Z)``; ``K`` for ``K`` samples ``(K, B, Z)``.
    """
    _check_same_shape(mu, logvar, "mu", "logvar")
    n_samples = check_int(n_samples, "n_samples", min=1, allow_none=True)
    check_generator(generator)
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log p(x | logits)`` of independent Bernoulli pixels, summed over all but the first dimension.

    ``log p = sum_i x_i log s(l_i) + (1 - x_i) log(1 - s(l_i))`` with ``s`` the sigmoid,
    computed stably as minus the binary cross-entropy with logits.

    Args:
        logits: decoder outputs ``(B, ...)``, e.g. ``(B, 1, 28, 28)``.
        x: targets with the same shape and values in [0, 1] (0/1 for a true Bernoulli likelihood).

    Returns:
        ``(B,)`` log-likelihoods in nats (<= 0 for binary ``x``).

    Raises:
        ValueError: if the shapes differ or ``x`` has values outside [0, 1].
    """
    _check_same_shape(logits, x, "logits", "x", finite=False)
    check_finite_tensor(logits, "logits")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0 or math.isnan(lo) or math.isnan(hi):
        raise ValueError(
            f"the Bernoulli likelihood needs pixel values in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            f"scale images to [0, 1] (e.g. divide by 255) and binarise them"
        )
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")
    return -bce.flatten(1).sum(-1)


def log_mean_exp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``log(mean(exp(a), dim))`` without overflow (via ``logsumexp``)."""
    check_tensor(a, "a", kind="float")
    dim = check_int(dim, "dim", min=-max(a.ndim, 1), max=max(a.ndim, 1) - 1)
    if a.shape[dim] == 0:
        raise ValueError(f"a must have at least one entry along dim={dim}, got shape {tuple(a.shape)}")
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def binarize_dynamic(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh random binarisation: each pixel becomes 1 with probability equal to its grey value.

    Used on every training batch ("dynamic binarisation"): the model sees a
    new 0/1 version of each digit every epoch, which acts as data
    augmentation and reduces over-fitting.

    Args:
        images: ``(B, ...)`` grey values in [0, 1].
        generator: optional generator; by default torch's global one (seeded by
            ``aigc_lib.setup_notebook`` and saved in Trainer checkpoints).
    """
    check_tensor(images, "images")
    check_generator(generator)
    if images.numel() == 0:
        raise ValueError(f"images must not be empty, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images: binarisation needs floating-point grey values in [0, 1], got {images.dtype}; "
                        f"convert uint8 images with images.float() / 255")
    if images.numel():
        lo, hi = float(images.min()), float(images.max())
        if not 0.0 <= lo <= hi <= 1.0:             # also catches NaN
            raise ValueError(f"images: binarisation needs grey values in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return torch.bernoulli(images, generator=generator)


def binarize_fixed(images: torch.Tensor, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """One fixed random binarisation, the same on every run and every machine.

    Each pixel becomes 1 with probability equal to its grey value, drawn once
    with a CPU generator seeded by ``seed``. The course scores every model on
    held-out digits binarised this way. It matters for comparing numbers:
    the likelihood of a data set depends on its exact 0/1 pixels, and, for
    example, thresholding at 0.5 gives much "easier" digits and lower NLLs.
    Only numbers measured on the same binarisation can be compared.

    Args:
        images: ``(B, ...)`` grey values in [0, 1] (on any device).

    Returns:
        A float tensor of 0s and 1s with the shape and device of ``images``.
    """
    check_tensor(images, "images", kind="float", shape_hint="of grey values in [0, 1]")
    seed = check_int(seed, "seed", min=0)
    g = torch.Generator().manual_seed(seed)
    return binarize_dynamic(images.detach().cpu().float(), generator=g).to(images.device)
