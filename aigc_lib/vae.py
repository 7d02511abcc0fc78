"""Autoencoders and variational autoencoders (VAEs) on small images such as MNIST.

* :class:`Autoencoder`: a plain MLP autoencoder (deterministic latent code).
* :class:`VAE`: an MLP VAE (Kingma & Welling, 2014; Rezende et al., 2014) with a
  diagonal-Gaussian encoder ``q(z|x) = N(mu(x), diag(sigma^2(x)))``, a standard
  normal prior ``p(z) = N(0, I)`` and a Bernoulli decoder ``p(x|z)`` (one logit
  per pixel). With ``num_classes > 0`` it is a *conditional* VAE (Sohn et al.,
  2015): the encoder and the decoder also see a one-hot label ``y``.
* :class:`VAETask`: trains a VAE with :class:`aigc_lib.Trainer` on the loss
  ``distortion + beta * rate`` (``beta = 1``: the negative ELBO; ``beta != 1``: a
  beta-VAE, Higgins et al., 2017) and logs the rate (KL) and the distortion
  (reconstruction) separately (Alemi et al., 2018).
* :func:`iwae_log_likelihood` and :func:`held_out_likelihood`: the
  importance-weighted estimate of ``log p(x)`` (Burda et al., 2016).
* :func:`mnist_cvae_config` and :func:`train_mnist_cvae`: chapter 7's
  conditional-VAE recipe for MNIST; :func:`conditional_label_accuracy` and
  :func:`label_swap_accuracy`: does its decoder draw the digit it is asked for?

All values are in nats per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._checks import check_bool, check_float, check_int, check_tensor
from .history import History
from .task import Task
from .vae_losses import (bernoulli_log_likelihood, binarize_dynamic, gaussian_kl, gaussian_log_prob,
                         reparameterize, standard_normal_log_prob)


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU (and optional dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class LabelledMLP(nn.Module):
    """An MLP that sees a label vector at *every* layer: ``h -> Linear([h, onehot]) -> ReLU -> ...``.

    A decoder whose label enters only at the input layer can learn to ignore it
    when the latent code already says which digit it is; feeding the label to
    every layer makes it harder to ignore (as in the conditional models of
    Sohn et al., 2015, where the label is concatenated to hidden layers too).

    Args:
        sizes: layer widths ``[in, hidden..., out]`` (``in`` without the label).
        label_dim: width ``C`` of the label vector.
        dropout: dropout after each hidden ReLU.
    """

    def __init__(self, sizes: list[int], label_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.label_dim = check_int(label_dim, "label_dim", min=1)
        self.linears = nn.ModuleList(nn.Linear(a + label_dim, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``h (..., in)`` and ``label (..., C)`` -> ``(..., out)``."""
        for i, linear in enumerate(self.linears):
            h = linear(torch.cat([h, label], dim=-1))
            if i < len(self.linears) - 1:
                h = self.dropout(torch.relu(h))
        return h


def _check_common(image_shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int, dropout: float) -> None:
    check_int(latent_dim, "latent_dim", min=1)
    if not isinstance(image_shape, (tuple, list)) or not image_shape or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_shape):
        raise ValueError(f"image_shape must be a tuple of positive integer sizes such as (1, 28, 28), "
                         f"got {image_shape!r}")
    if not isinstance(hidden, (tuple, list)) or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a tuple of integer layer widths >= 1, got {hidden!r}")
    check_float(dropout, "dropout", min=0.0, max=1.0, max_open=True)


class _ImageMLP(nn.Module):
    """Shared input checks: images ``(B, *image_shape)`` or flat ``(B, D)``; latents ``(..., Z)``."""

    image_shape: tuple[int, ...]
    latent_dim: int

    @property
    def image_dim(self) -> int:
        return math.prod(self.image_shape)

    def _flat_images(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", shape_hint=f"(B, {', '.join(map(str, self.image_shape))}) images")
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.image_dim:
            raise ValueError(f"{type(self).__name__} expects images of shape (B, {', '.join(map(str, self.image_shape))}) "
                             f"or (B, {self.image_dim}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__} expects floating-point images with values in [0, 1], "
                            f"got {x.dtype}; convert with x.float() (and divide uint8 images by 255)")
        return x.reshape(x.shape[0], self.image_dim)

    def _check_latent(self, z: torch.Tensor) -> None:
        check_tensor(z, "z", kind="float", shape_hint=f"(..., {self.latent_dim}) latent vectors")
        if z.ndim < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"the decoder expects latent vectors of width latent_dim={self.latent_dim}, "
                             f"got z of shape {tuple(z.shape)}")


# ---------------------------------------------------------------------------- autoencoder
@dataclass
class AutoencoderConfig:
    """A plain MLP autoencoder.

    Attributes:
        image_shape: shape of one image, e.g. ``(1, 28, 28)``.
        hidden: hidden layer widths of the encoder; the decoder uses them in reverse.
        latent_dim: width ``Z`` of the code.
        dropout: dropout after each hidden layer.
    """

    image_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = (512, 256)
    latent_dim: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.image_shape, self.hidden, self.latent_dim, self.dropout)


class Autoencoder(_ImageMLP):
    """Encoder ``x -> z`` and decoder ``z -> logits`` trained to reconstruct ``x``; nothing shapes the code space."""

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        self.image_shape, self.latent_dim = tuple(config.image_shape), config.latent_dim
        self.encoder = mlp([self.image_dim, *config.hidden, config.latent_dim], config.dropout)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), self.image_dim], config.dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, *image_shape)`` -> codes ``(B, Z)``."""
        return self.encoder(self._flat_images(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(..., Z)`` -> pixel logits ``(..., *image_shape)`` (``sigmoid`` gives grey values)."""
        self._check_latent(z)
        return self.decoder(z).reshape(*z.shape[:-1], *self.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``(B, *image_shape)``."""
        return self.decode(self.encode(x))


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-log p(x | logits)`` (Bernoulli), in nats per image: a scalar."""
    return -bernoulli_log_likelihood(logits, x).mean()


# ---------------------------------------------------------------------------- VAE
@dataclass
class VAEConfig:
    """An MLP VAE with a Gaussian encoder and a Bernoulli decoder.

    Attributes:
        image_shape: shape of one image, e.g. ``(1, 28, 28)``.
        hidden: hidden layer widths of the encoder; the decoder uses them in reverse.
        latent_dim: width ``Z`` of the latent vector.
        num_classes: ``0`` for a plain VAE; ``C > 0`` for a conditional VAE whose
            encoder and decoder also see a one-hot label in ``0 .. C-1``.
        dropout: dropout after each hidden layer (a regulariser for small data sets).
        label_every_layer: conditional VAE only: ``True`` feeds the one-hot label to every
            decoder layer (:class:`LabelledMLP`), ``False`` (the default) only to its input.
    """

    image_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = (512, 256)
    latent_dim: int = 16
    num_classes: int = 0
    dropout: float = 0.0
    label_every_layer: bool = False

    def __post_init__(self) -> None:
        _check_common(self.image_shape, self.hidden, self.latent_dim, self.dropout)
        self.num_classes = check_int(self.num_classes, "num_classes", min=0, note=" (0: unconditional)")
        check_bool(self.label_every_layer, "label_every_layer")
        if self.label_every_layer and self.num_classes == 0:
            raise ValueError("label_every_layer=True needs a conditional VAE (num_classes > 0), got num_classes=0")


@dataclass
class ELBOTerms:
    """The two parts of the negative ELBO, one value per image (nats).

    Attributes:
        distortion: ``-log p(x | z)`` for one ``z ~ q(z|x)``, shape ``(B,)``.
        rate: ``KL(q(z|x) || p(z))`` in closed form, shape ``(B,)``.
    """

    distortion: torch.Tensor
    rate: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """``(B,)``: ``-(distortion + rate)``, a lower bound on ``log p(x)`` (in expectation over ``z``)."""
        return -(self.distortion + self.rate)


class VAE(_ImageMLP):
    """A variational autoencoder; conditional when ``config.num_classes > 0``.

    Example::

        vae = VAE(VAEConfig(latent_dim=16))
        terms = vae.elbo_terms(x_binary)          # x_binary: (B, 1, 28, 28) of 0/1
        images = vae.sample(16)                   # (16, 1, 28, 28) pixel probabilities
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or VAEConfig()
        self.image_shape, self.latent_dim = tuple(config.image_shape), config.latent_dim
        self.num_classes = config.num_classes
        c = config.num_classes
        self.encoder = mlp([self.image_dim + c, *config.hidden, 2 * config.latent_dim], config.dropout)
        self.decoder: nn.Module
        if config.label_every_layer:
            self.decoder = LabelledMLP([config.latent_dim, *reversed(config.hidden), self.image_dim], c, config.dropout)
        else:
            self.decoder = mlp([config.latent_dim + c, *reversed(config.hidden), self.image_dim], config.dropout)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def _one_hot(self, y: torch.Tensor | int | None, batch: int, device: torch.device) -> torch.Tensor | None:
        """Labels ``(B,)`` (or one int for the whole batch) -> one-hot ``(B, C)``; ``None`` for a plain VAE."""
        if not self.conditional:
            if y is not None:
                raise ValueError("this VAE is unconditional (num_classes=0) but a label y was given")
            return None
        if y is None:
            raise ValueError(f"this conditional VAE needs a label y in 0..{self.num_classes - 1} for each image")
        if isinstance(y, bool) or not isinstance(y, (int, torch.Tensor)):
            raise TypeError(f"y must be integer labels (a tensor (B,) or one int), got {type(y).__name__}")
        y = torch.as_tensor(y, device=device)
        if y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got dtype {y.dtype}")
        if y.ndim == 0:
            y = y.expand(batch)
        if y.shape != (batch,):
            raise ValueError(f"expected {batch} labels of shape ({batch},), got shape {tuple(y.shape)}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got values in "
                             f"{int(y.min())}..{int(y.max())}")
        return nn.functional.one_hot(y.long(), self.num_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, *image_shape)`` (and labels ``(B,)``) -> ``mu, logvar`` of ``q(z|x)``, each ``(B, Z)``."""
        h = self._flat_images(x)
        onehot = self._one_hot(y, h.shape[0], h.device)
        if onehot is not None:
            h = torch.cat([h, onehot.to(h.dtype)], dim=-1)
        mu, logvar = self.encoder(h).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Latents ``(..., B, Z)`` (and labels ``(B,)``) -> pixel logits ``(..., B, *image_shape)``.

        Extra leading dimensions (e.g. ``K`` importance samples) are allowed; the
        labels are broadcast over them.
        """
        self._check_latent(z)
        h = z
        batch = z.shape[-2] if z.ndim >= 2 else 1
        onehot = self._one_hot(y, batch, z.device)
        if onehot is not None:
            label = onehot.to(z.dtype).expand(*z.shape[:-1], self.num_classes)
            if self.config.label_every_layer:
                return self.decoder(z, label).reshape(*z.shape[:-1], *self.image_shape)
            h = torch.cat([z, label], dim=-1)
        return self.decoder(h).reshape(*z.shape[:-1], *self.image_shape)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass: ``(logits (B, *image_shape), mu (B, Z), logvar (B, Z))`` with ``z`` drawn from ``q(z|x)``."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, generator)
        return self.decode(z, y), mu, logvar

    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | int | None = None,
                   generator: torch.Generator | None = None) -> ELBOTerms:
        """Rate (closed-form KL) and distortion (one-sample ``-log p(x|z)``) for binary images ``x``."""
        logits, mu, logvar = self(x, y, generator)
        return ELBOTerms(distortion=-bernoulli_log_likelihood(logits, x.reshape(logits.shape)),
                         rate=gaussian_kl(mu, logvar))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from the prior: ``z ~ N(0, I)``, returned as pixel probabilities ``(n, *image_shape)``."""
        n = check_int(n, "n", min=1)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return torch.sigmoid(self.decode(z, y))


def beta_vae_loss(terms: ELBOTerms, beta: float = 1.0) -> torch.Tensor:
    """Mean over the batch of ``distortion + beta * rate``: a scalar. ``beta = 1`` is the negative ELBO."""
    beta = check_float(beta, "beta", min=0.0, note=" (beta = 1 is the ELBO)")
    return (terms.distortion + beta * terms.rate).mean()


# ---------------------------------------------------------------------------- training
class VAETask(Task):
    """Trains a :class:`VAE` (or a conditional one) with :class:`aigc_lib.Trainer`.

    Batches are images ``(B, *image_shape)`` with grey values in [0, 1], or
    ``(images, labels)`` pairs (labels are used only by a conditional VAE).
    Training batches are binarised afresh at every step (:func:`binarize_dynamic`,
    with torch's global generator, which the Trainer's checkpoints save).
    Validation batches are used as they are: give it held-out digits binarised
    once with :func:`aigc_lib.vae_losses.binarize_fixed`.

    Logged metrics: ``loss`` (``distortion + beta * rate``), ``rate`` (the KL),
    ``distortion`` (the reconstruction term) and ``neg_elbo`` (``distortion + rate``).

    Args:
        model: the VAE.
        beta: weight of the rate; must be >= 0. ``1``: the ELBO; ``> 1``: a beta-VAE.
        lr, weight_decay: AdamW settings.
        kl_warmup_steps: grow the weight of the rate linearly from 0 to ``beta`` over
            this many training steps (0: off). It keeps the encoder from collapsing
            to the prior early in training.
        binarize: binarise training batches dynamically (``False``: use them as given).
    """

    def __init__(self, model: VAE, beta: float = 1.0, lr: float = 1e-3, weight_decay: float = 0.0,
                 kl_warmup_steps: int = 0, binarize: bool = True) -> None:
        super().__init__()
        if not isinstance(model, VAE):
            raise TypeError(f"model must be a VAE, got {type(model).__name__}")
        beta = check_float(beta, "beta", min=0.0, note=" (beta = 1 is the ELBO)")
        kl_warmup_steps = check_int(kl_warmup_steps, "kl_warmup_steps", min=0)
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
        check_bool(binarize, "binarize")
        self.model, self.beta, self.lr, self.weight_decay = model, float(beta), lr, weight_decay
        self.kl_warmup_steps, self.binarize = kl_warmup_steps, binarize
        self.register_buffer("train_steps_seen", torch.zeros((), dtype=torch.long))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def current_beta(self) -> float:
        """The rate weight now (smaller than ``beta`` during the KL warm-up)."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, int(self.train_steps_seen) / self.kl_warmup_steps)

    def _split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        if isinstance(batch, (tuple, list)):
            x, y = batch[0], batch[1]
            return x, (y if self.model.conditional else None)
        return batch, None

    def _metrics(self, x: torch.Tensor, y: torch.Tensor | None, beta: float) -> dict[str, torch.Tensor]:
        terms = self.model.elbo_terms(x, y)
        distortion, rate = terms.distortion.mean(), terms.rate.mean()
        return {"loss": beta_vae_loss(terms, beta), "rate": rate, "distortion": distortion,
                "neg_elbo": distortion + rate}

    def training_loss(self, batch: Any, optimizer_name: str = "main") -> dict[str, torch.Tensor]:
        x, y = self._split(batch)
        if self.binarize:
            x = binarize_dynamic(x)
        out = self._metrics(x, y, self.current_beta())
        if self.training:
            self.train_steps_seen += 1
        return out

    def validation_metrics(self, batch: Any) -> dict[str, torch.Tensor]:
        x, y = self._split(batch)
        return self._metrics(x, y, self.beta)


# ---------------------------------------------------------------------------- likelihood
def _log_weight_stats(model: VAE, x: torch.Tensor, y: torch.Tensor | int | None, k: int, chunk_size: int,
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log mean_k w_k, mean_k log w_k)``, each ``(B,)``, with ``w = p(x, z) / q(z|x)`` and ``z ~ q(z|x)``."""
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


# ---------------------------------------------------------------------------- conditional VAE: recipe and checks
def mnist_cvae_config() -> VAEConfig:
    """The conditional-VAE recipe of chapter 7 for MNIST: one hidden layer of 400 units, ``Z = 2``, dropout 0.1.

    Why ``Z = 2``: the encoder sees the image, so its code can also say *which*
    digit it is; a decoder that reads the digit from the code may then ignore
    the label. Chapter 7 measured this (same training, only ``latent_dim``
    changed, 3 seeds): with ``Z = 16`` the course classifier read only ~40 % of
    prior samples as the digit asked for, with ``Z = 2`` over 90 %. A narrow code
    has room for the *style* (slant, width) but not for the digit too.
    Train it with :func:`train_mnist_cvae`.
    """
    return VAEConfig(hidden=(400,), latent_dim=2, num_classes=10, dropout=0.1)


#: Training settings that go with :func:`mnist_cvae_config` (used by :func:`train_mnist_cvae`).
MNIST_CVAE_TRAINING = dict(max_steps=1500, batch_size=100, lr=2e-3, kl_warmup_steps=200, warmup_steps=100)


def train_mnist_cvae(images: torch.Tensor, labels: torch.Tensor, val_images: torch.Tensor | None = None,
                     val_labels: torch.Tensor | None = None, config: VAEConfig | None = None, seed: int = 0,
                     **overrides: Any) -> tuple[VAE, History]:
    """Train chapter 7's conditional VAE (:func:`mnist_cvae_config`, :data:`MNIST_CVAE_TRAINING`).

    Args:
        images: grey training digits ``(N, 1, 28, 28)`` in [0, 1] (binarised afresh at every step).
        labels: digits ``(N,)``.
        val_images, val_labels: optional validation digits, binarised once
            (:func:`aigc_lib.vae_losses.binarize_fixed`), and their labels.
        config: another :class:`VAEConfig` (must be conditional); default :func:`mnist_cvae_config`.
        seed: seeds the weights and the batch order.
        **overrides: keys of :data:`MNIST_CVAE_TRAINING` to change (e.g. ``max_steps=3000``).

    Returns:
        ``(model in eval mode, its History)``.
    """
    from .data import TensorBatches
    from .trainer import Trainer

    config = config or mnist_cvae_config()
    if not isinstance(config, VAEConfig) or config.num_classes == 0:
        raise ValueError(f"config must be a conditional VAEConfig (num_classes > 0), got {config!r}")
    unknown = set(overrides) - set(MNIST_CVAE_TRAINING)
    if unknown:
        raise ValueError(f"unknown training settings {sorted(unknown)}; expected some of {sorted(MNIST_CVAE_TRAINING)}")
    seed = check_int(seed, "seed", min=0)
    settings = {**MNIST_CVAE_TRAINING, **overrides}
    torch.manual_seed(seed)
    model = VAE(config)
    task = VAETask(model, lr=settings["lr"], kl_warmup_steps=settings["kl_warmup_steps"])
    val = None
    if val_images is not None:
        val = TensorBatches(val_images, val_labels, batch_size=500, repeat=False)
    trainer = Trainer(max_steps=settings["max_steps"], eval_every=settings["max_steps"], eval_batches=None,
                      lr_schedule="cosine", warmup_steps=settings["warmup_steps"], progress=False, live_plot=False)
    history = trainer.fit(task, TensorBatches(images, labels, batch_size=settings["batch_size"], seed=seed), val)
    model.eval()
    return model, history


def _predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    device = next(classifier.parameters()).device
    with torch.no_grad():
        return torch.cat([classifier(images[i:i + batch_size].to(device)).argmax(-1).cpu()
                          for i in range(0, len(images), batch_size)])


@torch.no_grad()
def conditional_samples(model: VAE, n_per_class: int, generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior samples of a conditional VAE, ``n_per_class`` for each label.

    Returns:
        ``(images (C * n, *image_shape) pixel probabilities, labels (C * n,))``.
    """
    if not isinstance(model, VAE) or not model.conditional:
        raise ValueError("conditional_samples needs a conditional VAE (num_classes > 0)")
    n_per_class = check_int(n_per_class, "n_per_class", min=1)
    was_training = model.training
    model.eval()
    try:
        labels = torch.arange(model.num_classes).repeat_interleave(n_per_class)
        device = next(model.parameters()).device
        z = torch.randn(len(labels), model.latent_dim, generator=generator).to(device)
        images = torch.sigmoid(model.decode(z, labels.to(device))).cpu()
    finally:
        model.train(was_training)
    return images, labels


def conditional_label_accuracy(model: VAE, classifier: nn.Module, n_per_class: int = 100,
                               generator: torch.Generator | None = None) -> float:
    """Fraction of prior samples ``z ~ N(0, I)`` decoded with label ``y`` that ``classifier`` reads as ``y``.

    ``n_per_class`` samples for each label; ``classifier`` maps images
    ``(B, *image_shape)`` in [0, 1] to logits ``(B, C)`` (e.g. the course
    classifier, :func:`aigc_lib.mnist_classifier.load_mnist_classifier`). A
    decoder that ignores the label scores about ``1 / C``.
    """
    images, labels = conditional_samples(model, n_per_class, generator)
    return float((_predict(classifier, images) == labels).float().mean())


@torch.no_grad()
def label_swap_accuracy(model: VAE, classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                        generator: torch.Generator | None = None) -> float:
    """Encode each image with its own label, decode the mean code with a *different* label, classify.

    The new label is ``(y + r) % C`` with ``r`` uniform in ``1..C-1``. Returns
    the fraction read as the new label: near 1 when the decoder takes the digit
    from the label and the style from the code; near ``1 / C`` or below when the
    code carries the digit and the decoder ignores the label.

    Args:
        images: binary images ``(N, *image_shape)``; labels: their digits ``(N,)``.
    """
    if not isinstance(model, VAE) or not model.conditional:
        raise ValueError("label_swap_accuracy needs a conditional VAE (num_classes > 0)")
    check_tensor(labels, "labels", shape_hint="(N,) integer labels")
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    c = model.num_classes
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        new = (labels.cpu() + torch.randint(1, c, labels.shape, generator=generator)) % c
        mu, _ = model.encode(images.to(device), labels.to(device))
        swapped = torch.sigmoid(model.decode(mu, new.to(device))).cpu()
    finally:
        model.train(was_training)
    return float((_predict(classifier, swapped) == new).float().mean())


__all__ = [
    "mlp", "AutoencoderConfig", "Autoencoder", "reconstruction_loss", "VAEConfig", "ELBOTerms", "VAE",
    "beta_vae_loss", "VAETask", "iwae_log_likelihood", "LikelihoodReport", "held_out_likelihood",
    "LabelledMLP", "mnist_cvae_config", "MNIST_CVAE_TRAINING", "train_mnist_cvae", "conditional_samples",
    "conditional_label_accuracy", "label_swap_accuracy",
]
