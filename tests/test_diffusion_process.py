"""The forward process and its posterior, checked by simulation and by numerical Bayes; schedule tables and errors."""
import math

import pytest
import torch

from aigc_lib.diffusion import NoiseSchedule, make_schedule, predict_x0, q_posterior, q_sample, q_step
from aigc_lib.diffusion.forward import eps_to_score


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_matches_the_simulated_chain(kind):
    """Run the chain x_{s} = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) z for s = 0..t on 20,000 copies of x_0 and
    compare the mean and standard deviation of x_t with the closed form sqrt(alpha_bar_t) x_0, sqrt(1 - alpha_bar_t)."""
    sched = make_schedule(kind, 200)
    g = torch.Generator().manual_seed(0)
    n = 20_000
    x0 = torch.tensor([1.5, -0.7], dtype=torch.float64)
    x = x0.expand(n, 2).clone()
    checked = 0
    for t in range(200):
        x = q_step(sched, x, t, generator=g)
        if t in (0, 20, 100, 199):
            a = float(sched.alphas_cumprod[t])
            mean_err = (x.mean(0) - math.sqrt(a) * x0).abs().max()
            std_err = (x.std(0) - math.sqrt(1 - a)).abs().max()
            se = math.sqrt((1 - a) / n)                      # standard error of the mean
            assert mean_err < 5 * se + 1e-12, (t, mean_err, se)
            assert std_err < 5 * se / math.sqrt(2) + 1e-12, (t, std_err)
            # the check can fail: alpha_t (one step) instead of alpha_bar_t is far off after a few steps
            if t in (20, 100):
                wrong = math.sqrt(float(sched.alphas[t])) * x0
                assert (x.mean(0) - wrong).abs().max() > 10 * se
            checked += 1
    assert checked == 4


def test_q_sample_statistics():
    sched = NoiseSchedule.cosine(1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((50_000, 1), 0.8)
    xt = q_sample(sched, x0, 300, generator=g)
    a = float(sched.alphas_cumprod[300])
    assert abs(xt.mean() - math.sqrt(a) * 0.8) < 0.02
    assert abs(xt.std() - math.sqrt(1 - a)) < 0.02


@pytest.mark.parametrize("t", [1, 10, 400, 999])
def test_posterior_equals_numerical_bayes(t):
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0): evaluate both Gaussians on a fine grid,
    normalise numerically and compare the grid's mean and variance with the closed form."""
    sched = NoiseSchedule.linear(1000)
    x0, xt = 0.6, -0.4
    a_prev = float(sched.alphas_cumprod_prev[t])
    alpha, beta = float(sched.alphas[t]), float(sched.betas[t])
    mean, var = q_posterior(sched, torch.tensor([[x0]], dtype=torch.float64), torch.tensor([[xt]], dtype=torch.float64), t)
    sd = math.sqrt(float(var))
    grid = torch.linspace(float(mean) - 12 * sd, float(mean) + 12 * sd, 200_001, dtype=torch.float64)
    log_prior = -(grid - math.sqrt(a_prev) * x0) ** 2 / (2 * (1 - a_prev))
    log_lik = -(xt - math.sqrt(alpha) * grid) ** 2 / (2 * beta)
    w = torch.softmax(log_prior + log_lik, dim=0)
    num_mean = float((w * grid).sum())
    num_var = float((w * (grid - num_mean) ** 2).sum())
    assert num_mean == pytest.approx(float(mean), abs=1e-6 * max(1, sd))
    assert num_var == pytest.approx(float(var), rel=1e-4)
    # the check can fail: undoing the forward step, x_t / sqrt(alpha_t), is not the posterior mean
    assert num_mean != pytest.approx(xt / math.sqrt(alpha), abs=1e-3)


def test_posterior_at_step_zero_returns_x0():
    sched = NoiseSchedule.cosine(100)
    x0, xt = torch.randn(3, 4), torch.randn(3, 4)
    mean, var = q_posterior(sched, x0, xt, 0)
    assert torch.allclose(mean, x0, atol=1e-5) and float(var) == 0


def test_predict_x0_inverts_q_sample_and_score_scaling():
    sched = NoiseSchedule.cosine(1000)
    x0, eps = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.tensor([0, 10, 500, 990])
    xt = q_sample(sched, x0, t, eps)
    assert torch.allclose(predict_x0(sched, xt, t, eps), x0, atol=1e-3)
    # score of q(x_t | x_0) = N(sqrt(a) x0, (1 - a) I) at x_t is -(x_t - sqrt(a) x0) / (1 - a) = -eps / sqrt(1 - a)
    a = sched.alphas_cumprod[t].float()[:, None]
    assert torch.allclose(eps_to_score(sched, eps, t), -(xt - a.sqrt() * x0) / (1 - a), atol=1e-3)


def test_snr_falls_and_cosine_keeps_more_signal_in_the_middle():
    lin, cos = NoiseSchedule.linear(1000), NoiseSchedule.cosine(1000)
    for s in (lin, cos):
        snr = s.snr(torch.arange(1000))
        assert (snr[1:] < snr[:-1]).all()
    assert cos.log_snr(500) > lin.log_snr(500) + 1        # Nichol & Dhariwal's point: linear destroys signal early
    assert cos.betas.max() <= 0.999


@pytest.mark.parametrize("t, error, match", [
    (1000, ValueError, r"0\.\.999"), (-1, ValueError, r"0\.\.999"), (torch.tensor([3, 1000]), ValueError, "1000"),
    (2.0, TypeError, "int"), (torch.tensor([1.0]), TypeError, "integer"), (True, TypeError, "bool"),
])
def test_bad_timesteps_are_rejected(t, error, match):
    with pytest.raises(error, match=match):
        q_sample(NoiseSchedule.cosine(1000), torch.zeros(1 if not isinstance(t, torch.Tensor) else len(t), 2), t)


def test_bad_inputs_are_rejected():
    sched = NoiseSchedule.cosine(10)
    with pytest.raises(ValueError, match="NaN"):
        q_sample(sched, torch.tensor([[float("nan")]]), 1)
    with pytest.raises(TypeError, match="floating"):
        q_sample(sched, torch.zeros(2, 2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="shape"):
        q_sample(sched, torch.zeros(2, 2), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="noise"):
        q_sample(sched, torch.zeros(2, 2), 1, noise=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="kind"):
        make_schedule("quadratic")
    with pytest.raises(TypeError, match="num_timesteps"):
        NoiseSchedule.linear(10.0)


# ------------------------------------------------------------------ samplers from a given start (x_start)
def _toy_denoiser(x, t):
    """A fixed, smooth function of (x_t, t) standing in for a trained network."""
    return 0.3 * torch.tanh(x) + 1e-4 * t.float().view(-1, *([1] * (x.dim() - 1)))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim0", "ddim1", "flow"])
def test_samplers_started_from_the_noise_they_would_draw_give_the_same_result(sampler):
    from aigc_lib.diffusion import ddim_sample, ddpm_sample, flow_sample
    from aigc_lib.diffusion.schedules import NoiseSchedule

    sched, shape = NoiseSchedule.linear(50), (3, 2)
    run = {"ddpm": lambda **kw: ddpm_sample(_toy_denoiser, sched, shape, **kw),
           "ddim0": lambda **kw: ddim_sample(_toy_denoiser, sched, shape, num_steps=10, **kw),
           "ddim1": lambda **kw: ddim_sample(_toy_denoiser, sched, shape, num_steps=10, eta=1.0, **kw),
           "flow": lambda **kw: flow_sample(_toy_denoiser, shape, num_steps=10, **kw)}[sampler]
    drawn = run(generator=torch.Generator().manual_seed(4))
    # The samplers draw x_T first from the generator; the step noise (if any) comes after it.
    g = torch.Generator().manual_seed(4)
    x_T = torch.randn(shape, generator=g)
    given = run(generator=g, x_start=x_T)
    torch.testing.assert_close(given, drawn)
    assert torch.equal(x_T, torch.randn(shape, generator=torch.Generator().manual_seed(4))), "x_start was modified"
    # A different start gives a different result (the argument is not ignored).
    other = run(generator=torch.Generator().manual_seed(4), x_start=x_T + 1.0)
    assert not torch.allclose(other, drawn)


def test_bad_x_start_is_rejected():
    from aigc_lib.diffusion import ddim_sample
    from aigc_lib.diffusion.schedules import NoiseSchedule

    sched = NoiseSchedule.linear(50)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), got \(2, 2\)"):
        ddim_sample(_toy_denoiser, sched, (3, 2), num_steps=5, x_start=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="NaN"):
        ddim_sample(_toy_denoiser, sched, (3, 2), num_steps=5, x_start=torch.full((3, 2), float("nan")))
    with pytest.raises(TypeError, match="floating-point"):
        ddim_sample(_toy_denoiser, sched, (3, 2), num_steps=5, x_start=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point"):
        ddim_sample(_toy_denoiser, sched, (3, 2), num_steps=5, x_start=[[0.0, 0.0]] * 3)
