"""Noise schedules of a diffusion model: betas, alphas, cumulative products and the signal-to-noise ratio.

A diffusion model with ``T`` steps adds Gaussian noise of variance ``beta_t`` at
step ``t = 0 .. T-1`` (Ho et al., 2020; indices start at 0 as in ``diffusers``,
so the paper's step ``t`` is our ``t - 1``). With ``alpha_t = 1 - beta_t`` and
``alpha_bar_t = alpha_0 * ... * alpha_t``, a noised sample is
``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``. Its
signal-to-noise ratio is ``SNR(t) = alpha_bar_t / (1 - alpha_bar_t)``.

Two schedules:

* :func:`linear_betas`: ``beta`` grows linearly from ``1e-4`` to ``0.02``
  (Ho et al., 2020); equal to ``diffusers``' ``beta_schedule="linear"``.
* :func:`cosine_betas`: ``alpha_bar`` follows a squared cosine (Nichol &
  Dhariwal, 2021), so the SNR falls more evenly; equal to ``diffusers``'
  ``beta_schedule="squaredcos_cap_v2"``.

Tables are kept in float64 and cast to the data's dtype where they are used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.checks import check_float, check_str


def _check_num_timesteps(num_timesteps: int) -> None:
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int):
        raise TypeError(f"num_timesteps must be an int, got {type(num_timesteps).__name__} {num_timesteps!r}")
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")


def linear_betas(num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """``(T,)`` float64 betas growing linearly from ``beta_start`` to ``beta_end`` (Ho et al., 2020)."""
    _check_num_timesteps(num_timesteps)
    beta_start = check_float(beta_start, "beta_start", min=0.0, max=1.0, min_open=True, max_open=True)
    beta_end = check_float(beta_end, "beta_end", min=0.0, max=1.0, min_open=True, max_open=True)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}")
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


def cosine_alpha_bar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """The cosine schedule's ``alpha_bar`` as a function of ``u = t / T`` in [0, 1]: ``cos((u + s)/(1 + s) * pi/2)^2``.

    (Nichol & Dhariwal divide by its value at ``u = 0``; like ``diffusers`` we
    only use ratios of it, where that factor cancels.)
    """
    return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def cosine_betas(num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """``(T,)`` float64 betas of the cosine schedule (Nichol & Dhariwal, 2021).

    ``beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), max_beta)``. The cap
    keeps the last step from having ``beta = 1`` (no signal at all).
    """
    _check_num_timesteps(num_timesteps)
    s = check_float(s, "s", min=0.0, note=" (the small offset of the cosine schedule, 0.008 by default)")
    max_beta = check_float(max_beta, "max_beta", min=0.0, max=1.0, min_open=True, max_open=True)
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must be in (0, 1), got {max_beta}")
    u = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    a = cosine_alpha_bar(u, s)
    return (1 - a[1:] / a[:-1]).clamp(max=max_beta)


def check_timesteps(t: torch.Tensor | int, num_timesteps: int, name: str = "t") -> torch.Tensor:
    """Return ``t`` as an int64 tensor after checking that it holds integers in ``0 .. num_timesteps - 1``.

    Raises:
        TypeError: ``t`` is a float, a bool or a float/bool tensor.
        ValueError: a value lies outside ``0 .. num_timesteps - 1``.
    """
    if isinstance(t, bool) or (isinstance(t, torch.Tensor) and t.dtype == torch.bool):
        raise TypeError(f"{name} must be integer timesteps, got a bool")
    if isinstance(t, torch.Tensor):
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be integer timesteps in 0..{num_timesteps - 1}, got a {t.dtype} tensor")
    elif not isinstance(t, int):
        raise TypeError(f"{name} must be an int or an integer tensor in 0..{num_timesteps - 1}, "
                        f"got {type(t).__name__} {t!r}")
    t = torch.as_tensor(t, dtype=torch.long)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_timesteps):
        raise ValueError(f"{name} must be in 0..{num_timesteps - 1} (the schedule has {num_timesteps} steps), "
                         f"got values in {int(t.min())}..{int(t.max())}")
    return t


@dataclass(eq=False)
class NoiseSchedule:
    """The tables of one schedule, built from its betas ``(T,)``.

    Example::

        schedule = NoiseSchedule.cosine(1000)
        schedule.alphas_cumprod[999]    # almost 0: x_999 is almost pure noise
        schedule.snr(torch.tensor([0, 500, 999]))

    Attributes:
        betas: ``(T,)`` float64 variances of the noise added at each step.
        name: a label for plots and messages.
    """

    betas: torch.Tensor
    name: str = "custom"

    def __post_init__(self) -> None:
        check_str(self.name, "name")
        if isinstance(self.betas, (str, bytes)) or not isinstance(self.betas, (torch.Tensor, list, tuple, np.ndarray)):
            raise TypeError(f"betas must be a 1-D tensor (T,) of values in (0, 1), got {type(self.betas).__name__}")
        if isinstance(self.betas, torch.Tensor) and (self.betas.dtype == torch.bool or self.betas.is_complex()):
            raise TypeError(f"betas must be real numbers in (0, 1), got dtype {self.betas.dtype}")
        b = torch.as_tensor(self.betas, dtype=torch.float64)
        if b.ndim != 1 or b.numel() == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor (T,), got shape {tuple(b.shape)}")
        if torch.isnan(b).any() or (b <= 0).any() or (b >= 1).any():
            raise ValueError(f"betas must all be in (0, 1) and not NaN, got values in {float(b.min())}..{float(b.max())}")
        self.betas = b.cpu()
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        #: ``alpha_bar_{t-1}``, with ``alpha_bar_{-1} = 1`` (no noise before the first step).
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    def config_signature(self) -> dict[str, object]:
        """Name, ``T`` and a fingerprint of the betas, to tell schedules apart when a run resumes.

        The fingerprint is a few sums of the float64 betas (compared by the
        Trainer to a relative 1e-9), not a bitwise hash: the same schedule
        computed on another machine may differ in its last bits.
        """
        b = self.betas
        steps = torch.arange(1, b.numel() + 1, dtype=torch.float64)
        return {"name": self.name, "num_timesteps": self.num_timesteps, "beta_first": float(b[0]),
                "beta_last": float(b[-1]), "beta_sum": float(b.sum()),
                "beta_weighted_sum": float((steps * b).sum() / b.numel())}

    @classmethod
    def linear(cls, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """The linear schedule of Ho et al. (2020)."""
        return cls(linear_betas(num_timesteps, beta_start, beta_end), name="linear")

    @classmethod
    def cosine(cls, num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """The cosine schedule of Nichol & Dhariwal (2021)."""
        return cls(cosine_betas(num_timesteps, s, max_beta), name="cosine")

    @property
    def num_timesteps(self) -> int:
        """``T``: the number of noising steps."""
        return self.betas.numel()

    def check(self, t: torch.Tensor | int, name: str = "t") -> torch.Tensor:
        """:func:`check_timesteps` for this schedule."""
        return check_timesteps(t, self.num_timesteps, name)

    def as_step(self, t: torch.Tensor | int, name: str = "t") -> int:
        """One timestep (an int or a one-element integer tensor) as a checked Python int."""
        if isinstance(t, torch.Tensor) and t.numel() != 1:
            raise ValueError(f"{name} must be one timestep for the whole batch, got shape {tuple(t.shape)}")
        return int(self.check(t, name).reshape(-1)[0])

    def gather(self, table: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """``table[t]`` shaped to broadcast against ``like`` ``(B, ...)``: ``(B, 1, ..., 1)``, or a scalar tensor.

        ``t`` is one int (the same step for the whole batch) or ``(B,)`` integers.
        """
        t = self.check(t)
        v = table[t.cpu()].to(device=like.device, dtype=like.dtype)   # the tables live on the CPU; t may be on a GPU
        if t.ndim == 0:
            return v
        if t.ndim != 1 or t.shape[0] != like.shape[0]:
            raise ValueError(f"t must be one int or (B,) = ({like.shape[0]},) timesteps, got shape {tuple(t.shape)}")
        return v.reshape(-1, *([1] * (like.ndim - 1)))

    def snr(self, t: torch.Tensor | int) -> torch.Tensor:
        """Signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)`` (float64, shape of ``t``)."""
        a = self.alphas_cumprod[self.check(t)]
        return a / (1 - a)

    def log_snr(self, t: torch.Tensor | int) -> torch.Tensor:
        """``log SNR(t)`` (float64): the natural scale for comparing schedules."""
        return torch.log(self.snr(t))

    def posterior_variance(self) -> torch.Tensor:
        """``(T,)`` variances ``beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t`` of ``q(x_{t-1} | x_t, x_0)``."""
        return (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod) * self.betas


def make_schedule(kind: str = "cosine", num_timesteps: int = 1000) -> NoiseSchedule:
    """``"linear"`` or ``"cosine"`` schedule with ``num_timesteps`` steps."""
    if kind == "linear":
        return NoiseSchedule.linear(num_timesteps)
    if kind == "cosine":
        return NoiseSchedule.cosine(num_timesteps)
    raise ValueError(f"kind must be 'linear' or 'cosine', got {kind!r}")
