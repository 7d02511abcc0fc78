"""GAN losses and the two GAN tasks that the :class:`~aigc_lib.core.trainer.Trainer` trains.

Notation: ``D(x) = sigmoid(l(x))`` is the discriminator's probability that
``x`` is real, computed from its logit ``l``. All losses work on logits and use
``softplus(t) = log(1 + e^t)``, because ``-log sigmoid(l) = softplus(-l)`` and
``-log(1 - sigmoid(l)) = softplus(l)`` are then exact and stable.

* The minimax game of Goodfellow et al. (2014) is binary cross-entropy:
  ``min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]``.
  :func:`discriminator_loss` is its negation for ``D`` (to minimise);
  :func:`generator_loss_minimax` is ``E_z[log(1 - D(G(z)))]`` for ``G``.
* :func:`generator_loss_nonsaturating` is ``-E_z[log D(G(z))]``: the same fixed
  point, but strong gradients when ``D`` confidently rejects the fakes.
* WGAN-GP (Arjovsky et al., 2017; Gulrajani et al., 2017): the critic
  minimises ``E[f(G(z))] - E[f(x)] + lambda * E[(||grad f(x_hat)||_2 - 1)^2]``
  (:func:`critic_loss`, :func:`gradient_penalty`), the generator minimises
  ``-E[f(G(z))]`` (:func:`wgan_generator_loss`).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_choice, check_finite_tensor, check_float, check_int, check_tensor
from ..core.task import Task

GENERATOR_LOSSES = ("non-saturating", "minimax")


def _check_scores(x: object, name: str) -> None:
    """A non-empty floating-point tensor of logits/scores (metadata only: no sync).

    NaN is not checked here: a NaN loss stops the Trainer with NonFiniteLossError, which names the step.
    """
    check_tensor(x, name, kind="float", shape_hint="(B,) or (B, 1) of logits")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``D``: ``-E[log D(x)] - E[log(1 - D(G(z)))]``.

    Args:
        real_logits: ``(B,)`` logits on real samples (target 1).
        fake_logits: ``(B',)`` logits on generated samples (target 0).
    """
    _check_scores(real_logits, "real_logits")
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original ("saturating") generator loss ``E[log(1 - D(G(z)))]``.

    Its gradient with respect to the logit is ``-D(G(z))``: almost zero when
    ``D`` confidently rejects the fakes, which is exactly early in training.
    """
    _check_scores(fake_logits, "fake_logits")
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-E[log D(G(z))]`` used in practice.

    Its gradient with respect to the logit is ``-(1 - D(G(z)))``: close to -1
    when ``D`` confidently rejects the fakes.
    """
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss without the penalty: ``E[f(G(z))] - E[f(x)]`` (the negative Wasserstein estimate)."""
    _check_scores(real_scores, "real_scores")
    _check_scores(fake_scores, "fake_scores")
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss ``-E[f(G(z))]``."""
    _check_scores(fake_scores, "fake_scores")
    return -fake_scores.mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random points on the segments between paired real and fake samples.

    Returns:
        ``x_hat = eps * real + (1 - eps) * fake`` with the shape of ``real``, and
        ``eps`` of shape ``(B, 1, ..., 1)``, one uniform number in [0, 1) per example.
    """
    check_tensor(real, "real", kind="float")
    check_tensor(fake, "fake", kind="float")
    check_finite_tensor(real, "real")
    check_finite_tensor(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake samples must have the same shape, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator).to(real)
    return eps * real + (1 - eps) * fake, eps


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """The WGAN-GP penalty ``E[(||grad_x f(x_hat)||_2 - 1)^2]`` on random interpolates ``x_hat``.

    The gradient is taken with ``create_graph=True``, so the penalty can be
    back-propagated into the critic's weights (a second-order gradient).

    Args:
        critic: ``f``, maps samples ``(B, ...)`` to scores ``(B,)``.
        real, fake: paired samples of the same shape ``(B, ...)``; ``fake`` is detached.
        generator: optional random generator for the interpolation weights.
    """
    if not callable(critic) or isinstance(critic, (str, bytes)):
        raise TypeError(f"critic must be a network x -> scores (B,), got {type(critic).__name__}")
    check_tensor(real, "real", kind="float")
    check_tensor(fake, "fake", kind="float")
    x_hat, _ = interpolate(real.detach(), fake.detach(), generator)
    x_hat.requires_grad_(True)
    scores = critic(x_hat)
    if scores.shape != (real.shape[0],):
        raise ValueError(f"the critic must return one score per example, shape ({real.shape[0]},), "
                         f"got {tuple(scores.shape)}")
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return ((norms - 1) ** 2).mean()


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch is samples ``x`` or a pair ``(x, y)`` with labels ``y``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        return batch[0], None
    raise TypeError(f"a GAN batch is a tensor x or a pair (x, y), got {type(batch).__name__}")


def _check_pair(generator: nn.Module, discriminator: nn.Module) -> None:
    g_shape, d_shape = tuple(generator.data_shape), tuple(discriminator.data_shape)
    if g_shape != d_shape:
        raise ValueError(f"the generator makes samples of shape {g_shape} but the discriminator expects "
                         f"{d_shape}: build both for the same image size and channels")
    if generator.n_classes != discriminator.n_classes:
        raise ValueError(f"the generator has n_classes={generator.n_classes}, the discriminator "
                         f"{discriminator.n_classes}: both must be conditional on the same labels, or neither")


def _check_data_range(real: torch.Tensor, output_range: tuple[float, float] | None) -> None:
    """Real samples must lie where the generator's output can reach (tanh: [-1, 1])."""
    if output_range is None or real.numel() == 0 or not real.is_floating_point():
        return
    lo, hi = real.min().item(), real.max().item()
    if math.isnan(lo) or math.isnan(hi):          # NaN fails every comparison below: catch it here
        raise ValueError("real samples contain NaN: expected finite values in the generator's output range")
    tolerance = 1e-3
    if lo < output_range[0] - tolerance or hi > output_range[1] + tolerance:
        raise ValueError(f"real samples range from {lo:.6g} to {hi:.6g}, outside [{output_range[0]:g}, "
                         f"{output_range[1]:g}] (tolerance {tolerance:g}) where the generator's tanh output lies: "
                         f"scale the data to [-1, 1] (images in [0, 1]: x * 2 - 1)")
    if lo >= 0.0:
        warnings.warn(f"real samples lie in [{lo:.3g}, {hi:.3g}] but the generator's tanh output covers [-1, 1]; "
                      f"images are usually scaled to [-1, 1] (images in [0, 1]: x * 2 - 1)", stacklevel=3)


def _check_betas(betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2) in [0, 1), got {betas!r}")
    return (check_float(betas[0], "betas[0]", min=0.0, max=1.0, max_open=True),
            check_float(betas[1], "betas[1]", min=0.0, max=1.0, max_open=True))


class _PairTask(Task):
    """Holds a generator and a discriminator/critic, draws latents and labels."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(net, nn.Module) or not hasattr(net, "data_shape"):
                raise TypeError(f"{name} must be a GAN network from aigc_lib.gan (an nn.Module with data_shape), "
                                f"got {type(net).__name__}")
        _check_pair(generator, discriminator)
        self.generator, self.discriminator = generator, discriminator
        self._range_checked = False

    @property
    def conditional(self) -> bool:
        return self.generator.n_classes > 0

    def _fake(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        return self.generator(z, labels if self.conditional else None)

    def _unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        real, labels = split_batch(batch)
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN needs batches (x, y) with labels")
        if not self._range_checked:          # once: it costs a device sync
            _check_data_range(real, getattr(self.generator, "output_range", None))
            self._range_checked = True
        return real, (labels if self.conditional else None)

    def sample(self, n: int, labels: torch.Tensor | None = None, seed: int | None = None) -> torch.Tensor:
        """``n`` samples from the generator in evaluation mode (see :func:`aigc_lib.gan.models.generate`)."""
        from .models import generate
        return generate(self.generator, n, labels, seed)


class GANTask(_PairTask):
    """The standard GAN: binary cross-entropy for ``D``, then a generator step.

    ``configure_optimizers`` returns ``{"D": Adam, "G": Adam}``, so the Trainer
    steps the discriminator first and the generator second at every step,
    each on a fresh batch of latent vectors. Batches are ``x`` or ``(x, y)``.

    Args:
        generator, discriminator: built for the same ``data_shape`` and ``n_classes``.
        generator_loss: ``"non-saturating"`` (default) or ``"minimax"``.
        lr_g, lr_d, betas: Adam settings (DCGAN: 2e-4 and (0.5, 0.999)).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, generator_loss: str = "non-saturating",
                 lr_g: float = 2e-4, lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)) -> None:
        super().__init__(generator, discriminator)
        check_choice(generator_loss, "generator_loss", GENERATOR_LOSSES)
        lr_g = check_float(lr_g, "lr_g", min=0.0, min_open=True)
        lr_d = check_float(lr_d, "lr_d", min=0.0, min_open=True)
        betas = _check_betas(betas)
        self.generator_loss = generator_loss
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, betas

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"D": torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas),
                "G": torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)}

    def training_loss(self, batch: Any, optimizer_name: str) -> dict[str, torch.Tensor]:
        real, labels = self._unpack(batch)
        if optimizer_name == "D":
            with torch.no_grad():
                fake = self._fake(real, labels)
            real_logits = self.discriminator(real, labels)
            fake_logits = self.discriminator(fake, labels)
            return {"loss": discriminator_loss(real_logits, fake_logits),
                    "D_real": torch.sigmoid(real_logits).mean().detach(),
                    "D_fake": torch.sigmoid(fake_logits).mean().detach()}
        if optimizer_name == "G":
            fake_logits = self.discriminator(self._fake(real, labels), labels)
            loss_fn = generator_loss_nonsaturating if self.generator_loss == "non-saturating" \
                else generator_loss_minimax
            return {"loss": loss_fn(fake_logits)}
        raise KeyError(f"GANTask has optimisers 'D' and 'G', got {optimizer_name!r}")

    @torch.no_grad()
    def validation_metrics(self, batch: Any) -> dict[str, float]:
        real, labels = self._unpack(batch)
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(self._fake(real, labels), labels)
        return {"D_loss": float(discriminator_loss(real_logits, fake_logits)),
                "D_real": float(torch.sigmoid(real_logits).mean()),
                "D_fake": float(torch.sigmoid(fake_logits).mean())}


class WGANGPTask(_PairTask):
    """WGAN with gradient penalty (Gulrajani et al., 2017).

    ``configure_optimizers`` returns ``{"D": Adam, "G": Adam}`` (``D`` is the
    critic) and :meth:`optimizer_schedule` asks the Trainer for ``n_critic``
    critic steps, then one generator step, at every training step.

    The Trainer hands all optimiser steps of one training step the same
    batch. So that each critic step sees new real samples, the task cuts the
    batch into ``n_critic`` equal chunks and critic step ``k`` uses chunk
    ``k``; the generator step uses as many latent vectors as one chunk. Use
    a batch size of ``n_critic * B``.

    Args:
        critic: like a discriminator, but without batch norm (the penalty is per example).
        n_critic: critic steps per generator step (5 in the paper).
        gp_weight: ``lambda`` (10 in the paper).
        lr, betas: Adam settings for both networks (paper: 1e-4 and (0.0, 0.9)).
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, n_critic: int = 5, gp_weight: float = 10.0,
                 lr: float = 1e-4, betas: tuple[float, float] = (0.0, 0.9)) -> None:
        super().__init__(generator, critic)
        n_critic = check_int(n_critic, "n_critic", min=1)
        gp_weight = check_float(gp_weight, "gp_weight", min=0.0)
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        betas = _check_betas(betas)
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
            raise ValueError("a WGAN-GP critic must not use batch norm (the gradient penalty is per example); "
                             "use d_norm='layer' or 'none'")
        self.n_critic, self.gp_weight, self.lr, self.betas = n_critic, gp_weight, lr, betas
        self._critic_calls = 0

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"D": torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.betas),
                "G": torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas)}

    def optimizer_schedule(self, step: int) -> list[str]:
        # The Trainer asks for the schedule at the start of every step: critic step k of this step uses
        # chunk k, also when fit() runs again after an interrupted step (the counter is not left half-way).
        self._critic_calls = 0
        return ["D"] * self.n_critic + ["G"]

    def _chunk(self, x: torch.Tensor | None, k: int) -> torch.Tensor | None:
        if x is None:
            return None
        if x.shape[0] % self.n_critic != 0:
            raise ValueError(f"WGANGPTask needs a batch size divisible by n_critic={self.n_critic}, "
                             f"got {x.shape[0]}")
        size = x.shape[0] // self.n_critic
        return x[k * size:(k + 1) * size]

    def critic_terms(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Critic loss, Wasserstein estimate and penalty on one chunk of real samples."""
        with torch.no_grad():
            fake = self._fake(real, labels)
        real_scores = self.discriminator(real, labels)
        fake_scores = self.discriminator(fake, labels)
        penalty = gradient_penalty(lambda x: self.discriminator(x, labels), real, fake)
        w_loss = critic_loss(real_scores, fake_scores)
        return {"loss": w_loss + self.gp_weight * penalty, "wasserstein": -w_loss.detach(),
                "penalty": penalty.detach()}

    def training_loss(self, batch: Any, optimizer_name: str) -> dict[str, torch.Tensor]:
        real, labels = self._unpack(batch)
        if optimizer_name == "D":
            k = self._critic_calls % self.n_critic
            self._critic_calls += 1
            return self.critic_terms(self._chunk(real, k), self._chunk(labels, k))
        if optimizer_name == "G":
            self._critic_calls = 0
            real, labels = self._chunk(real, 0), self._chunk(labels, 0)
            return {"loss": wgan_generator_loss(self.discriminator(self._fake(real, labels), labels))}
        raise KeyError(f"WGANGPTask has optimisers 'D' and 'G', got {optimizer_name!r}")

    def validation_metrics(self, batch: Any) -> dict[str, float]:
        real, labels = self._unpack(batch)
        with torch.enable_grad():
            terms = self.critic_terms(real, labels)
        return {"wasserstein": float(terms["wasserstein"]), "penalty": float(terms["penalty"])}
