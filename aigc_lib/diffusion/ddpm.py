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

from .forward import check_finite, predict_x0, q_posterior, q_sample, randn, start_noise
from .schedules import NoiseSchedule

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ddpm_loss(model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The "simple" loss ``E_{t, eps} ||eps - model(x_t, t)||^2`` (mean over all elements): a scalar.

    ``t`` is uniform over ``0 .. T-1`` and ``eps ~ N(0, I)``, one of each per example of ``x0`` ``(B, ...)``.
    """
    check_finite(x0, "x0")
    gen_device = generator.device if generator is not None else x0.device
    t = torch.randint(schedule.num_timesteps, (x0.shape[0],), generator=generator, device=gen_device).to(x0.device)
    noise = randn(x0.shape, generator, x0.device, x0.dtype)
    pred = model(q_sample(schedule, x0, t, noise), t)
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
    t = schedule.as_step(t)
    x0 = predict_x0(schedule, xt, t, eps)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
    mean, variance = q_posterior(schedule, x0, xt, t)
    if t == 0:
        return mean
    if noise is None:
        noise = randn(xt.shape, generator, xt.device, xt.dtype)
    return mean + variance.sqrt() * noise


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be positive ints such as (16, 1, 28, 28), got {shape}")
    return shape


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
    shape = _check_shape(shape)
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
        eps = model(x, torch.full((shape[0],), t, dtype=torch.long, device=x.device))
        x = ddpm_step(schedule, eps, t, x, generator=generator, clip_x0=clip_x0)
    if trajectory_every:
        traj.append((-1, x.cpu()))
        return x, traj
    return x
