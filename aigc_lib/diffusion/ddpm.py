"""DDPM (Ho et al., 2020): the ε-prediction loss and ancestral sampling.

A *denoiser* here is any callable ``model(x_t, t) -> eps_hat`` with ``x_t``
``(B, ...)`` and ``t`` ``(B,)`` int64 timesteps, returning a prediction of
the noise of the shape of ``x_t``. A :class:`~aigc_lib.diffusion.unet.UNet`
or :class:`~aigc_lib.diffusion.mlp.MLPDenoiser` is one; for a class-conditional
model pass ``lambda x, t: unet(x, t, y)`` or
:func:`~aigc_lib.diffusion.guidance.classifier_free_guidance`.

:func:`ddpm_step` equals ``diffusers``' ``DDPMScheduler.step`` with
``variance_type="fixed_small"`` (the posterior variance ``beta~_t``) and
``prediction_type="epsilon"``; its ``clip_x0=1.0`` is ``clip_sample=True``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..core.checks import check_bool, check_callable, check_generator, check_int
from .forward import (_predict_x0, _q_posterior, check_clip, check_finite, check_like, check_schedule, q_sample, randn,
                      start_noise)
from .schedules import NoiseSchedule

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ddpm_loss(model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The "simple" loss ``E_{t, eps} ||eps - model(x_t, t)||^2`` (mean over all elements): a scalar.

    ``t`` is uniform over ``0 .. T-1`` and ``eps ~ N(0, I)``, one of each per example of ``x0`` ``(B, ...)``.
    """
    check_callable(model, "model", "a denoiser (x_t, t) -> predicted noise")
    check_schedule(schedule)
    check_finite(x0, "x0")
    check_generator(generator)
    gen_device = generator.device if generator is not None else x0.device
    t = torch.randint(schedule.num_timesteps, (x0.shape[0],), generator=generator, device=gen_device).to(x0.device)
    noise = randn(x0.shape, generator, x0.device, x0.dtype)
    pred = model(q_sample(schedule, x0, t, noise), t)
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f"the model must return a tensor (the predicted noise), got {type(pred).__name__}")
    if pred.shape != x0.shape:
        raise ValueError(f"the model must predict noise of the data's shape {tuple(x0.shape)}, got {tuple(pred.shape)}")
    return F.mse_loss(pred, noise)


def ddpm_step(schedule: NoiseSchedule, eps: torch.Tensor, t: int, xt: torch.Tensor,
              generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
              clip_x0: float | None = None) -> torch.Tensor:
    """One ancestral step ``x_t -> x_{t-1} ~ N(mu~(x_t, x0_hat), beta~_t I)``.

    Args:
        schedule: the noise schedule.
        eps: the model's noise prediction at ``(xt, t)``, shape of ``xt``.
        t: the current step, one int in ``0 .. T-1`` (no noise is added at ``t = 0``).
        xt: ``x_t`` ``(B, ...)``.
        generator, noise: the ``N(0, I)`` noise is ``noise`` if given, else drawn with ``generator``.
        clip_x0: clamp the predicted ``x0`` to ``[-clip_x0, clip_x0]`` (images in [-1, 1]: ``1.0``);
            ``None`` for data without bounds such as the 2-D toy.

    Returns:
        ``x_{t-1}``, shape of ``xt``.
    """
    check_schedule(schedule)
    t = schedule.as_step(t)
    clip_x0 = check_clip(clip_x0)
    check_finite(xt, "xt")
    check_like(eps, "eps", xt, "xt", when=f" (the model's prediction at t={t})")
    check_generator(generator)
    if noise is not None:
        check_like(noise, "noise", xt, "xt")
    x0 = _predict_x0(schedule, xt, t, eps)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
    mean, variance = _q_posterior(schedule, x0, xt, t)
    if t == 0:
        return mean
    if noise is None:
        noise = randn(xt.shape, generator, xt.device, xt.dtype)
    return mean + variance.sqrt() * noise


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list, torch.Size)):
        raise TypeError(f"shape must be a tuple of positive ints such as (16, 1, 28, 28), got {shape!r}")
    shape = tuple(shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be positive ints such as (16, 1, 28, 28), got {shape}")
    return shape


def check_sampler_args(model: object, shape: object, trajectory_every: object, generator: object,
                       what: str = "a denoiser (x_t, t) -> predicted noise") -> tuple[tuple[int, ...], int | None]:
    """The checks every sampler shares; returns the checked ``shape`` and ``trajectory_every``."""
    check_callable(model, "model", what)
    check_generator(generator)
    return _check_shape(shape), check_int(trajectory_every, "trajectory_every", min=1, allow_none=True,
                                          note=" (None: no trajectory)")


def check_prediction(out: object, x: torch.Tensor, when: str) -> torch.Tensor:
    """The model's output inside a sampler: a tensor of the samples' shape (metadata only, no sync)."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model must return a tensor of the samples' shape {tuple(x.shape)}, got "
                        f"{type(out).__name__} {when}")
    if out.shape != x.shape:
        raise ValueError(f"the model must return a tensor of the samples' shape {tuple(x.shape)}, got shape "
                         f"{tuple(out.shape)} {when}: does it have the channels/size of the data?")
    return out


@torch.no_grad()
def ddpm_sample(model: Denoiser, schedule: NoiseSchedule, shape: tuple[int, ...],
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                clip_x0: float | None = None, trajectory_every: int | None = None,
                progress: bool = False, x_start: torch.Tensor | None = None,
                ) -> torch.Tensor | tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Ancestral sampling: start from ``x_{T-1} ~ N(0, I)`` and apply :func:`ddpm_step` for ``t = T-1 .. 0``.

    Args:
        model: a denoiser ``(x_t, t) -> eps_hat`` (call ``.eval()`` on a network first).
        schedule: the schedule it was trained with.
        shape: ``(B, ...)`` of the samples, e.g. ``(64, 1, 28, 28)``.
        generator: a CPU ``torch.Generator`` for the starting noise and every step's noise
            (the same seed gives the same samples on any device).
        device: where the model runs.
        clip_x0: see :func:`ddpm_step`.
        trajectory_every: also return ``[(t, x_t on the CPU), ...]`` every this many steps
            (the start ``x_{T-1}`` and the result included).
        progress: show a tqdm bar.
        x_start: start from this noise ``(B, ...)`` (``shape``) instead of drawing it; the
            ``generator`` then draws only the noise of the steps.

    Returns:
        ``x_0`` ``(B, ...)``, or ``(x_0, trajectory)`` when ``trajectory_every`` is given.
    """
    shape, trajectory_every = check_sampler_args(model, shape, trajectory_every, generator)
    check_schedule(schedule)
    clip_x0 = check_clip(clip_x0)
    check_bool(progress, "progress")
    x = start_noise(shape, generator, device, x_start)
    traj: list[tuple[int, torch.Tensor]] = []
    T = schedule.num_timesteps
    steps = range(T - 1, -1, -1)
    if progress:
        from ..core.progress import progress_bar   # (in a notebook: one line, updated in place)
        steps = progress_bar(steps, desc="DDPM sampling")
    for t in steps:
        if trajectory_every and (T - 1 - t) % trajectory_every == 0:
            traj.append((t, x.cpu()))
        eps = check_prediction(model(x, torch.full((shape[0],), t, dtype=torch.long, device=x.device)), x,
                               f"at t={t}")
        x = ddpm_step(schedule, eps, t, x, generator=generator, clip_x0=clip_x0)
    if trajectory_every:
        traj.append((-1, x.cpu()))
        return x, traj
    return x
