"""DDIM (Song et al., 2021): fewer, optionally deterministic sampling steps from a DDPM-trained model.

One DDIM step from ``t`` to an earlier ``s`` (``s = -1`` means "clean data", with
``alpha_bar_{-1} = 1``)::

    x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
    sigma  = eta * sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    x_s    = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma^2) eps + sigma z,     z ~ N(0, I)

with ``a = alpha_bar``. ``eta = 0`` is deterministic (DDIM); ``eta = 1`` with
``s = t - 1`` is DDPM's ancestral step. :func:`ddim_step` equals ``diffusers``'
``DDIMScheduler.step`` (``set_alpha_to_one=True``; our ``clip_x0=1.0`` is
``clip_sample=True``, with ``use_clipped_model_output`` equal to our ``clipped_eps``),
and :func:`ddim_timesteps` its ``"leading"`` spacing.
"""
from __future__ import annotations

import torch

from ..core.checks import check_bool, check_float, check_generator
from .ddpm import Denoiser, check_prediction, check_sampler_args
from .forward import _predict_x0, check_clip, check_finite, check_like, check_schedule, randn, start_noise
from .schedules import NoiseSchedule


def ddim_timesteps(num_timesteps: int, num_steps: int) -> list[int]:
    """The ``num_steps`` timesteps visited, in decreasing order: ``[k*(T//n) for k = n-1 .. 0]`` ("leading" spacing).

    ``ddim_timesteps(1000, 50) == [980, 960, ..., 20, 0]``; after the last step the result is ``x_0``.
    """
    for name, v in (("num_timesteps", num_timesteps), ("num_steps", num_steps)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must be in 1..{num_timesteps} (the schedule's steps), got {num_steps}")
    ratio = num_timesteps // num_steps
    return [k * ratio for k in range(num_steps - 1, -1, -1)]


def ddim_step(schedule: NoiseSchedule, eps: torch.Tensor, t: int, t_prev: int, xt: torch.Tensor,
              eta: float = 0.0, generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
              clip_x0: float | None = None, clipped_eps: bool = True) -> torch.Tensor:
    """One DDIM step ``x_t -> x_{t_prev}`` (see the module notes).

    Args:
        schedule: the noise schedule.
        eps: the model's noise prediction at ``(xt, t)``, shape of ``xt`` ``(B, ...)``.
        t: the current step, an int in ``0 .. T-1``.
        t_prev: the step to jump to, ``-1 <= t_prev < t`` (``-1``: clean data).
        eta: 0 for the deterministic sampler, 1 for DDPM-like noise; must be >= 0.
        generator, noise: the ``z ~ N(0, I)`` (used only when ``eta > 0``).
        clip_x0: clamp ``x0_hat`` to ``[-clip_x0, clip_x0]``.
        clipped_eps: after clipping, recompute ``eps = (x_t - sqrt(a_t) x0_hat) / sqrt(1 - a_t)`` from the
            clipped ``x0_hat`` so that both terms of the step agree, as OpenAI's guided-diffusion does
            (``diffusers``: ``use_clipped_model_output=True``). ``False``: keep the model's ``eps``
            (``diffusers``' default). Without it, deterministic sampling of an imperfect model drifts
            (grey backgrounds on MNIST), because ``x0_hat`` at large ``t`` divides the model's error
            by ``sqrt(a_t)``, which is tiny.

    Returns:
        ``x_{t_prev}``, shape of ``xt``.
    """
    check_schedule(schedule)
    t = schedule.as_step(t)
    if isinstance(t_prev, torch.Tensor) and t_prev.numel() == 1 and not t_prev.is_floating_point():
        t_prev = int(t_prev)
    if isinstance(t_prev, bool) or not isinstance(t_prev, int) or not -1 <= t_prev < t:
        raise ValueError(f"t_prev must be an int with -1 <= t_prev < t = {t}, got {t_prev!r}")
    eta = check_float(eta, "eta", min=0.0, note=" (0: deterministic DDIM, 1: DDPM-like)")
    clip_x0 = check_clip(clip_x0)
    check_bool(clipped_eps, "clipped_eps")
    check_generator(generator)
    check_finite(xt, "xt")
    check_like(eps, "eps", xt, "xt", when=f" (the model's prediction at t={t})")
    if noise is not None:
        check_like(noise, "noise", xt, "xt")
    a_t = float(schedule.alphas_cumprod[t])
    a_s = float(schedule.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
    x0 = _predict_x0(schedule, xt, t, eps)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        if clipped_eps:
            eps = (xt - a_t ** 0.5 * x0) / (1 - a_t) ** 0.5
    sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) ** 0.5
    out = a_s ** 0.5 * x0 + max(1 - a_s - sigma ** 2, 0.0) ** 0.5 * eps
    if eta > 0:
        if noise is None:
            noise = randn(xt.shape, generator, xt.device, xt.dtype)
        out = out + sigma * noise
    return out


@torch.no_grad()
def ddim_sample(model: Denoiser, schedule: NoiseSchedule, shape: tuple[int, ...], num_steps: int = 50,
                eta: float = 0.0, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                clip_x0: float | None = None, clipped_eps: bool = True, timesteps: list[int] | None = None,
                trajectory_every: int | None = None, x_start: torch.Tensor | None = None,
                ) -> torch.Tensor | tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """DDIM sampling over ``num_steps`` timesteps (or the given decreasing ``timesteps``).

    Args:
        model: a denoiser ``(x_t, t) -> eps_hat`` trained as a DDPM.
        schedule: its noise schedule.
        shape: ``(B, ...)`` of the samples.
        num_steps: model calls; ``ddim_timesteps(T, num_steps)`` are visited.
        eta: see :func:`ddim_step`.
        generator: CPU generator for the starting noise (and the step noise when ``eta > 0``).
        device: where the model runs.
        clip_x0, clipped_eps: see :func:`ddim_step`.
        timesteps: an explicit decreasing list of steps in ``0 .. T-1`` instead of ``num_steps``.
        trajectory_every: also return ``[(t, x_t on the CPU), ...]`` every this many visited steps
            (the start included) and ``(-1, x_0)`` at the end.
        x_start: start from this noise ``(B, ...)`` (``shape``) instead of drawing it; the
            ``generator`` then draws only the noise of the steps.

    Returns:
        ``x_0`` ``(B, ...)``, or ``(x_0, trajectory)`` when ``trajectory_every`` is given.
    """
    shape, trajectory_every = check_sampler_args(model, shape, trajectory_every, generator)
    check_schedule(schedule)
    eta = check_float(eta, "eta", min=0.0, note=" (0: deterministic DDIM, 1: DDPM-like)")
    clip_x0 = check_clip(clip_x0)
    check_bool(clipped_eps, "clipped_eps")
    if timesteps is None:
        steps = ddim_timesteps(schedule.num_timesteps, num_steps)
    else:
        if isinstance(timesteps, (str, bytes)) or not hasattr(timesteps, "__iter__"):
            raise TypeError(f"timesteps must be a list of ints in 0..{schedule.num_timesteps - 1}, got {timesteps!r}")
        steps = list(timesteps.tolist() if isinstance(timesteps, torch.Tensor) else timesteps)
        if not steps:
            raise ValueError(f"timesteps must be a non-empty, strictly decreasing list of ints in "
                             f"0..{schedule.num_timesteps - 1}, got []")
        bad = [s for s in steps if isinstance(s, bool) or not isinstance(s, int)]
        if bad:
            raise TypeError(f"timesteps must be ints in 0..{schedule.num_timesteps - 1}, got {bad[0]!r} "
                            f"({type(bad[0]).__name__}) in {steps}")
    schedule.check(torch.as_tensor(steps), "timesteps")
    if any(a <= b for a, b in zip(steps[:-1], steps[1:])):
        raise ValueError(f"timesteps must be strictly decreasing, got {steps}")
    x = start_noise(shape, generator, device, x_start)
    traj: list[tuple[int, torch.Tensor]] = []
    for i, t in enumerate(steps):
        if trajectory_every and i % trajectory_every == 0:
            traj.append((t, x.cpu()))
        t_prev = steps[i + 1] if i + 1 < len(steps) else -1
        eps = check_prediction(model(x, torch.full((shape[0],), t, dtype=torch.long, device=x.device)), x,
                               f"at t={t}")
        x = ddim_step(schedule, eps, t, t_prev, x, eta=eta, generator=generator, clip_x0=clip_x0,
                      clipped_eps=clipped_eps)
    if trajectory_every:
        traj.append((-1, x.cpu()))
        return x, traj
    return x
