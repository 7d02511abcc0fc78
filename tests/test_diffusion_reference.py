"""Our schedules, noising and sampler steps against the reference implementation, Hugging Face ``diffusers``.

Each comparison is paired with a broken variant (wrong schedule, wrong eta, wrong sign, ...)
that the same check rejects, so the checks can fail.
"""
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler  # noqa: E402

from aigc_lib.diffusion import (NoiseSchedule, cosine_betas, ddim_step, ddim_timesteps, ddpm_step,  # noqa: E402
                                flow_euler_step, flow_interpolate, linear_betas, q_sample)

T = 1000


def close(a, b, atol=1e-5):
    return torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4)


def float64(sched):
    """diffusers keeps its tables in float32, where ``1 - alpha_bar_t / alpha_bar_{t-1}`` loses digits at
    small t (errors of 1e-4 on the step). With its tables recomputed in float64 from the same betas, both
    implementations agree to ~1e-12."""
    sched.betas = sched.betas.double()
    sched.alphas = 1.0 - sched.betas
    sched.alphas_cumprod = torch.cumprod(sched.alphas, dim=0)
    for name in ("one", "final_alpha_cumprod"):
        if isinstance(getattr(sched, name, None), torch.Tensor):
            setattr(sched, name, getattr(sched, name).double())
    return sched


@pytest.mark.parametrize("ours, name", [(linear_betas, "linear"), (cosine_betas, "squaredcos_cap_v2")])
def test_betas_equal_diffusers(ours, name):
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule=name).betas
    assert close(ours(T), ref, atol=1e-7)
    other = cosine_betas if ours is linear_betas else linear_betas
    assert not close(other(T), ref, atol=1e-3)                     # a wrong schedule fails


def test_cosine_with_another_offset_fails_the_comparison():
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2").betas
    assert not close(cosine_betas(T, s=0.02), ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "squaredcos_cap_v2"])
def test_q_sample_equals_add_noise(kind):
    sched = DDPMScheduler(num_train_timesteps=T, beta_schedule=kind)
    ours = NoiseSchedule.linear(T) if kind == "linear" else NoiseSchedule.cosine(T)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    ref = sched.add_noise(x0, noise, t)
    assert close(q_sample(ours, x0, t, noise), ref)
    assert not close(q_sample(ours, x0, t.flip(0), noise), ref)   # wrong timesteps fail
    wrong = NoiseSchedule.cosine(T) if kind == "linear" else NoiseSchedule.linear(T)
    assert not close(q_sample(wrong, x0, t, noise), ref)            # wrong schedule fails


@pytest.mark.parametrize("kind", ["linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("clip", [False, True])
def test_ddpm_step_equals_diffusers(kind, clip):
    sched = float64(DDPMScheduler(num_train_timesteps=T, beta_schedule=kind, variance_type="fixed_small",
                                  clip_sample=clip, prediction_type="epsilon"))
    ours = NoiseSchedule(sched.betas)   # diffusers' float32-rounded betas (their equality is tested above)
    g = torch.Generator().manual_seed(1)
    x = 1.5 * torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64)
    for t in (999, 600, 50, 1, 0):
        ref = sched.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        got = ddpm_step(ours, eps, t, x, generator=torch.Generator().manual_seed(t), clip_x0=1.0 if clip else None)
        assert close(got, ref, atol=1e-9), t
        if t > 0:   # other noise (the check can fail)
            other = ddpm_step(ours, eps, t, x, generator=torch.Generator().manual_seed(t + 1),
                              clip_x0=1.0 if clip else None)
            assert not close(other, ref), t


def test_ddpm_step_with_the_large_variance_differs_from_fixed_small():
    sched = DDPMScheduler(num_train_timesteps=T, variance_type="fixed_large")
    ours = NoiseSchedule.linear(T)
    x, eps = torch.randn(2, 8), torch.randn(2, 8)
    ref = sched.step(eps, 500, x, generator=torch.Generator().manual_seed(0)).prev_sample
    assert not close(ddpm_step(ours, eps, 500, x, generator=torch.Generator().manual_seed(0)), ref)


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("num_steps", [10, 50])
def test_ddim_step_equals_diffusers(eta, num_steps):
    sched = float64(DDIMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2", clip_sample=False,
                                  set_alpha_to_one=True, timestep_spacing="leading"))
    sched.set_timesteps(num_steps)
    steps = ddim_timesteps(T, num_steps)
    assert sched.timesteps.tolist() == steps
    ours = NoiseSchedule(sched.betas)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    for i, t in enumerate(steps):
        eps = torch.randn(x.shape, generator=g, dtype=torch.float64)
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
        ref = sched.step(eps, t, x, eta=eta, variance_noise=noise).prev_sample
        t_prev = steps[i + 1] if i + 1 < len(steps) else -1
        got = ddim_step(ours, eps, t, t_prev, x, eta=eta, noise=noise)
        assert close(got, ref, atol=1e-9), (t, eta)
        wrong = ddim_step(ours, eps, t, t_prev, x, eta=0.5, noise=noise)   # another eta fails
        if t_prev >= 0:
            assert not close(wrong, ref, atol=1e-4), t
        x = ref


@pytest.mark.parametrize("clipped_eps", [False, True])
def test_ddim_with_clipping_equals_diffusers_clip_sample(clipped_eps):
    sched = float64(DDIMScheduler(num_train_timesteps=T, beta_schedule="linear", clip_sample=True))
    sched.set_timesteps(20)
    ours = NoiseSchedule(sched.betas)
    g = torch.Generator().manual_seed(5)
    x, eps = 2 * torch.randn(2, 16, generator=g, dtype=torch.float64), torch.randn(2, 16, generator=g, dtype=torch.float64)
    ref = sched.step(eps, 950, x, eta=0.0, use_clipped_model_output=clipped_eps).prev_sample
    assert close(ddim_step(ours, eps, 950, 900, x, clip_x0=1.0, clipped_eps=clipped_eps), ref, atol=1e-9)
    assert not close(ddim_step(ours, eps, 950, 900, x, clip_x0=1.0, clipped_eps=not clipped_eps), ref, atol=1e-4)
    assert not close(ddim_step(ours, eps, 950, 900, x), ref, atol=1e-4)


def test_flow_euler_step_equals_flow_match_euler_discrete():
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T, shift=1.0)
    sched.set_timesteps(num_inference_steps=8)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 4, 4, generator=g)
    sigmas = sched.sigmas.tolist()
    for i, timestep in enumerate(sched.timesteps):
        v = torch.randn(x.shape, generator=g)                   # our velocity: data - noise
        ref = sched.step(-v, timestep, x).prev_sample            # diffusers' output: noise - data
        got = flow_euler_step(v, x, 1 - sigmas[i], 1 - sigmas[i + 1])
        assert close(got, ref), i
        assert not close(flow_euler_step(-v, x, 1 - sigmas[i], 1 - sigmas[i + 1]), ref)   # wrong sign fails
        x = ref


def test_flow_path_equals_scale_noise():
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T)
    sched.set_timesteps(num_inference_steps=10)
    g = torch.Generator().manual_seed(4)
    data, noise = torch.randn(1, 1, 4, 4, generator=g), torch.randn(1, 1, 4, 4, generator=g)
    timestep = sched.timesteps[3:4]
    sigma = float(sched.sigmas[3])
    ref = sched.scale_noise(data, timestep, noise)
    assert close(flow_interpolate(noise, data, torch.tensor([1 - sigma])), ref)
    assert not close(flow_interpolate(noise, data, torch.tensor([sigma])), ref)
