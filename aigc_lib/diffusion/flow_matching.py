"""Flow matching / rectified flow (Lipman et al., 2023; Liu et al., 2023) with the straight (linear) path.

**Convention used here.** Time ``t`` runs from 0 (noise) to 1 (data)::

    x_t = (1 - t) x_0 + t x_1,      x_0 ~ N(0, I) (noise),  x_1 ~ data
    target velocity  u = x_1 - x_0   (d x_t / d t along the straight path)

The model learns ``v(x_t, t) ≈ u`` with the loss ``E ||v(x_t, t) - (x_1 - x_0)||^2``
(:func:`flow_matching_loss`), and sampling integrates ``dx/dt = v(x, t)`` from
``t = 0`` to ``1`` with Euler steps ``x <- x + (t_next - t) v(x, t)``
(:func:`flow_euler_step`, :func:`flow_sample`).

**Mapping to diffusers.** ``FlowMatchEulerDiscreteScheduler`` (and Stable
Diffusion 3) use ``sigma = 1 - t`` running from 1 (noise) to 0 (data),
``x = sigma * noise + (1 - sigma) * data``, and a model output
``noise - data = -u``; its ``step`` is ``x + (sigma_next - sigma) * output``.
With ``sigma = 1 - t`` and ``output = -v`` that is exactly our Euler step.
Its ``timestep`` is ``1000 * sigma``.

The network sees ``time_scale * t`` (default 1000) as its time input, so a
:class:`~aigc_lib.diffusion.unet.UNet` whose sinusoidal embedding is tuned to
DDPM's integer steps 0..999 works unchanged.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..core.checks import check_callable, check_float, check_generator, check_int
from .ddpm import check_prediction, check_sampler_args
from .forward import check_finite, check_like, randn, start_noise


def check_time_scale(time_scale: object) -> float:
    return check_float(time_scale, "time_scale", min=0.0, min_open=True,
                       note=" (the factor on t in [0, 1] that the network sees; 1000 by default)")

VelocityModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flow_interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The straight path ``x_t = (1 - t) x0 + t x1``; ``t`` ``(B,)`` in [0, 1] broadcasts over ``(B, ...)``."""
    check_finite(x1, "x1")
    check_like(x0, "x0", x1, "x1")
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        kind = f"dtype {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise TypeError(f"t must be a floating-point tensor ({x1.shape[0]},) of times in [0, 1], got {kind}")
    if t.shape != (x1.shape[0],):
        raise ValueError(f"t must have shape ({x1.shape[0]},) (one time in [0, 1] per example), got "
                         f"{tuple(t.shape)}")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"t must hold times in [0, 1] (0 = noise, 1 = data), got values in "
                         f"{float(t.min()):g}..{float(t.max()):g}")
    return _flow_interpolate(x0, x1, t)


def _flow_interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """:func:`flow_interpolate` without the argument checks."""
    t = t.to(x1.dtype).reshape(-1, *([1] * (x1.ndim - 1)))
    return (1 - t) * x0 + t * x1


def flow_matching_loss(model: VelocityModel, x1: torch.Tensor, generator: torch.Generator | None = None,
                       time_scale: float = 1000.0) -> torch.Tensor:
    """Conditional flow-matching loss on data ``x1`` ``(B, ...)``: mean of ``||v(x_t, t) - (x1 - x0)||^2``.

    ``t ~ U(0, 1)`` and noise ``x0 ~ N(0, I)``, one per example; the model is called as
    ``model(x_t, time_scale * t)`` with a float ``(B,)`` time.
    """
    check_callable(model, "model", "a velocity model (x_t, time_scale * t) -> v")
    check_finite(x1, "x1")
    check_generator(generator)
    time_scale = check_time_scale(time_scale)
    gen_device = generator.device if generator is not None else x1.device
    t = torch.rand(x1.shape[0], generator=generator, device=gen_device).to(x1.device)
    x0 = randn(x1.shape, generator, x1.device, x1.dtype)
    pred = model(_flow_interpolate(x0, x1, t), time_scale * t)
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f"the model must return a tensor (the predicted velocity), got {type(pred).__name__}")
    if pred.shape != x1.shape:
        raise ValueError(f"the model must predict a velocity of the data's shape {tuple(x1.shape)}, "
                         f"got {tuple(pred.shape)}")
    return F.mse_loss(pred, x1 - x0)


def flow_euler_step(v: torch.Tensor, x: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    """One Euler step of ``dx/dt = v``: ``x + (t_next - t) * v`` (times in [0, 1], 0 = noise)."""
    t = check_float(t, "t", min=0.0, max=1.0, note=" (0 = noise, 1 = data)")
    t_next = check_float(t_next, "t_next", min=0.0, max=1.0, note=" (0 = noise, 1 = data)")
    check_finite(x, "x")
    check_like(v, "v", x, "x", when=f" (the model's velocity at t={t:g})")
    if not (0.0 <= t <= 1.0 and 0.0 <= t_next <= 1.0):
        raise ValueError(f"times must be in [0, 1] (0 = noise, 1 = data), got t={t}, t_next={t_next}")
    return x + (t_next - t) * v


@torch.no_grad()
def flow_sample(model: VelocityModel, shape: tuple[int, ...], num_steps: int = 50,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                time_scale: float = 1000.0, trajectory_every: int | None = None,
                x_start: torch.Tensor | None = None,
                ) -> torch.Tensor | tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
    """Integrate ``dx/dt = v(x, t)`` from noise (``t = 0``) to data (``t = 1``) with ``num_steps`` Euler steps.

    Args:
        model: ``(x, time_scale * t) -> v`` (call ``.eval()`` on a network first).
        shape: ``(B, ...)`` of the samples.
        num_steps: Euler steps of size ``1 / num_steps`` (= model calls).
        generator: CPU generator for the starting noise.
        device: where the model runs.
        time_scale: the factor on ``t`` used in training.
        trajectory_every: also return ``[(t, x_t on the CPU), ...]`` every this many steps
            (the start included) and ``(1.0, x_1)`` at the end.
        x_start: start from this noise ``(B, ...)`` (``shape``) instead of drawing it; the
            ``generator`` then draws only the noise of the steps.

    Returns:
        samples ``(B, ...)``, or ``(samples, trajectory)`` when ``trajectory_every`` is given.
    """
    shape, trajectory_every = check_sampler_args(model, shape, trajectory_every, generator,
                                                 "a velocity model (x, time_scale * t) -> v")
    num_steps = check_int(num_steps, "num_steps", min=1)
    time_scale = check_time_scale(time_scale)
    x = start_noise(shape, generator, device, x_start)
    times = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64).tolist()
    traj: list[tuple[float, torch.Tensor]] = []
    for i in range(num_steps):
        if trajectory_every and i % trajectory_every == 0:
            traj.append((times[i], x.cpu()))
        t = torch.full((shape[0],), time_scale * times[i], device=x.device)
        v = check_prediction(model(x, t), x, f"at t={times[i]:g}")
        x = flow_euler_step(v, x, times[i], times[i + 1])
    if trajectory_every:
        traj.append((1.0, x.cpu()))
        return x, traj
    return x
