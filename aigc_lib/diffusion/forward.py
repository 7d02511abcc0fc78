"""The forward (noising) process ``q`` and its posterior.

* :func:`q_sample`: the closed form ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)``,
  equal to ``diffusers``' ``DDPMScheduler.add_noise``.
* :func:`q_step`: one step of the chain, ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)``,
  to check the closed form by simulation.
* :func:`q_posterior`: mean and variance of ``q(x_{t-1} | x_t, x_0)`` (Ho et al., 2020, eq. 7),
  the target that the reverse process learns to match.
* :func:`predict_x0`: ``x_0`` from ``x_t`` and a noise prediction ``eps``.
"""
from __future__ import annotations

import torch

from ..core.checks import check_float, check_generator
from .schedules import NoiseSchedule


def check_schedule(schedule: object, name: str = "schedule") -> NoiseSchedule:
    """Accept a :class:`NoiseSchedule` (not a name such as ``"cosine"``)."""
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"{name} must be a NoiseSchedule (e.g. NoiseSchedule.cosine(1000) or "
                        f"make_schedule('cosine', 1000)), got {schedule!r} ({type(schedule).__name__})")
    return schedule


def check_like(x: object, name: str, like: torch.Tensor, like_name: str, finite: bool = True,
               when: str = "") -> torch.Tensor:
    """A floating-point tensor of ``like``'s shape (and finite, one device sync, if ``finite``)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else f"{type(x).__name__}"
        raise TypeError(f"{name} must be a floating-point tensor of {like_name}'s shape {tuple(like.shape)}"
                        f"{when}, got {kind}")
    if x.shape != like.shape:
        raise ValueError(f"{name} must have {like_name}'s shape {tuple(like.shape)}{when}, got {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        what = "NaN" if bool(torch.isnan(x).any()) else "an infinite value"
        raise ValueError(f"{name} holds {what}{when}: expected finite numbers")
    return x


def check_clip(clip_x0: object) -> float | None:
    return check_float(clip_x0, "clip_x0", min=0.0, min_open=True, allow_none=True,
                       note=" (the bound of the predicted x0, e.g. 1.0 for images in [-1, 1])")


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ``TypeError`` unless ``x`` is a float tensor, ``ValueError`` if it holds NaN or infinity."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a floating-point tensor, got {kind}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a batch (B, ...) with B >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str,
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``N(0, I)`` noise of ``shape`` on ``device``, drawn on the generator's own device when one is given.

    A CPU generator therefore gives the same numbers whether the model runs on a CPU or a GPU.
    """
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def start_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str,
                x_start: torch.Tensor | None = None) -> torch.Tensor:
    """The starting point of a sampler: ``x_start`` when given (checked), else :func:`randn` noise of ``shape``.

    Raises:
        TypeError: ``x_start`` is not a floating-point tensor.
        ValueError: its shape is not ``shape``, or it holds NaN or infinity.
    """
    if x_start is None:
        return randn(shape, generator, device)
    if not isinstance(x_start, torch.Tensor) or not x_start.is_floating_point():
        raise TypeError(f"x_start must be a floating-point tensor of shape {tuple(shape)}, "
                        f"got {type(x_start).__name__}{'' if not isinstance(x_start, torch.Tensor) else ' of dtype ' + str(x_start.dtype)}")
    if tuple(x_start.shape) != tuple(shape):
        raise ValueError(f"x_start must have the samples' shape {tuple(shape)}, got {tuple(x_start.shape)}")
    if not torch.isfinite(x_start).all():
        raise ValueError("x_start holds NaN or infinite values; expected finite noise such as torch.randn(shape)")
    return x_start.detach().to(device=device, dtype=torch.float32).clone()


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor | int,
             noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise clean data ``x0`` ``(B, ...)`` to step ``t`` in one go.

    Args:
        schedule: the noise schedule.
        x0: clean data ``(B, ...)``, e.g. images ``(B, C, H, W)`` scaled to [-1, 1].
        t: one int or ``(B,)`` integer timesteps in ``0 .. T-1``.
        noise: the ``eps ~ N(0, I)`` to use, shape of ``x0``; drawn with ``generator`` if ``None``.

    Returns:
        ``x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise``, shape of ``x0``.
    """
    check_schedule(schedule)
    check_finite(x0, "x0")
    check_generator(generator)
    if noise is None:
        noise = randn(x0.shape, generator, x0.device, x0.dtype)
    else:
        check_like(noise, "noise", x0, "x0")
    a = schedule.gather(schedule.alphas_cumprod, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t: torch.Tensor | int,
           noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One step of the forward chain: ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) noise``.

    ``x_prev`` is ``x_{t-1}`` ``(B, ...)`` (``x_0`` when ``t = 0``).
    """
    check_schedule(schedule)
    check_finite(x_prev, "x_prev")
    check_generator(generator)
    if noise is None:
        noise = randn(x_prev.shape, generator, x_prev.device, x_prev.dtype)
    else:
        check_like(noise, "noise", x_prev, "x_prev")
    beta = schedule.gather(schedule.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, xt: torch.Tensor,
                t: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``q(x_{t-1} | x_t, x_0)``, a Gaussian.

    ``mean = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) * x0 + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * xt``,
    ``variance = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t`` (0 at ``t = 0``: ``x_{-1}`` is ``x_0``).

    Returns:
        ``(mean, variance)``: mean of the shape of ``xt``; variance broadcastable to it.
    """
    check_schedule(schedule)
    check_finite(xt, "xt")
    check_like(x0, "x0", xt, "xt")
    return _q_posterior(schedule, x0, xt, t)


def _q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, xt: torch.Tensor,
                 t: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`q_posterior` without the argument checks (for callers that checked them)."""
    a_bar = schedule.gather(schedule.alphas_cumprod, t, xt)
    a_bar_prev = schedule.gather(schedule.alphas_cumprod_prev, t, xt)
    beta = schedule.gather(schedule.betas, t, xt)
    alpha = schedule.gather(schedule.alphas, t, xt)
    mean = a_bar_prev.sqrt() * beta / (1 - a_bar) * x0 + alpha.sqrt() * (1 - a_bar_prev) / (1 - a_bar) * xt
    variance = (1 - a_bar_prev) / (1 - a_bar) * beta
    return mean, variance


def predict_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
    """Invert the closed form: ``x0 = (xt - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``."""
    check_schedule(schedule)
    check_finite(xt, "xt")
    check_like(eps, "eps", xt, "xt")
    return _predict_x0(schedule, xt, t, eps)


def _predict_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
    """:func:`predict_x0` without the argument checks."""
    a = schedule.gather(schedule.alphas_cumprod, t, xt)
    return (xt - (1 - a).sqrt() * eps) / a.sqrt()


def eps_to_score(schedule: NoiseSchedule, eps: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """The score ``grad log q(x_t)`` that an ε-prediction implies: ``-eps / sqrt(1 - alpha_bar_t)``."""
    check_schedule(schedule)
    check_finite(eps, "eps")
    a = schedule.gather(schedule.alphas_cumprod, t, eps)
    return -eps / (1 - a).sqrt()
