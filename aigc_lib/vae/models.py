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

The importance-weighted estimate of ``log p(x)`` (Burda et al., 2016) is in
:mod:`aigc_lib.vae.likelihood`; chapter 7's conditional-VAE recipe for MNIST
and its label checks are in :mod:`aigc_lib.vae.conditional`.

All values are in nats per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.checks import check_bool, check_float, check_int, check_tensor
from ..core.task import Task
from .losses import bernoulli_log_likelihood, binarize_dynamic, gaussian_kl, reparameterize


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
    if not isinstance(terms, ELBOTerms):
        raise TypeError(f"terms must be the ELBOTerms that VAE.elbo_terms returns, got {type(terms).__name__}")
    return (terms.distortion + beta * terms.rate).mean()


# ---------------------------------------------------------------------------- training
class VAETask(Task):
    """Trains a :class:`VAE` (or a conditional one) with :class:`aigc_lib.Trainer`.

    Batches are images ``(B, *image_shape)`` with grey values in [0, 1], or
    ``(images, labels)`` pairs (labels are used only by a conditional VAE).
    Training batches are binarised afresh at every step (:func:`binarize_dynamic`,
    with torch's global generator, which the Trainer's checkpoints save).
    Validation batches are used as they are: give it held-out digits binarised
    once with :func:`aigc_lib.vae.losses.binarize_fixed`.

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
