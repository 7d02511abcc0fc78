"""Chapter 7's gradient checks, each shown to fail on a broken estimator.

The chapter compares gradient estimators of ``d/dmu E_{z ~ N(mu, I)} ||z - c||^2`` (exact value -2 in
every coordinate at mu = 0) and, on a trained VAE, against a high-precision reference gradient. A check
that an estimator returning zeros also passes proves nothing, so each check here is run on the correct
estimators (they pass) and on broken ones (they fail).
"""
import math

import pytest
import torch


def gradient_estimates(D: int, S: int, R: int = 2000, seed: int = 0):
    """The chapter's estimators: reparameterisation, score function, score function with baseline E[f]."""
    eps = torch.randn(R, S, D, generator=torch.Generator().manual_seed(seed))
    c = torch.ones(D)
    mu = torch.zeros(R, D, requires_grad=True)
    z = mu[:, None, :] + eps
    f = ((z - c) ** 2).sum(-1)
    (grad_reparam,) = torch.autograd.grad(f.mean(1).sum(), mu)
    log_q = -0.5 * ((z.detach() - mu[:, None, :]) ** 2).sum(-1)
    (grad_score,) = torch.autograd.grad((f.detach() * log_q).mean(1).sum(), mu, retain_graph=True)
    (grad_baseline,) = torch.autograd.grad(((f.detach() - 2.0 * D) * log_q).mean(1).sum(), mu)
    return grad_reparam, grad_score, grad_baseline


def unbiased(est: torch.Tensor, truth: float = -2.0) -> bool:
    """Chapter 7's bias check: mean within 4 SE of the truth, and the SE small enough to see a wrong answer."""
    se = est.std() / math.sqrt(len(est))
    return bool(abs(est.mean() - truth) < 4 * se) and bool(se < 0.25 * abs(truth))


@pytest.mark.parametrize("D, S", [(1, 1), (16, 1), (16, 100)])
def test_bias_check_passes_the_right_estimators_and_fails_broken_ones(D, S):
    rep, sf, sfb = (g[:, 0] for g in gradient_estimates(D, S))
    assert unbiased(rep) and unbiased(sfb)
    assert not unbiased(torch.zeros_like(rep))                  # an estimator that returns zeros
    assert not unbiased(0.5 * rep)                              # half the gradient (a missing factor 2)
    assert not unbiased(rep + 1.0)                              # a constant offset
    se = sfb.std() / math.sqrt(len(sfb))
    assert not unbiased(sfb + 6 * se)                            # biased by 6 standard errors
    # the baseline helps (the chapter's claim): ~300x -> ~25x for D = 16
    if D == 16:
        assert sf.var() / rep.var() > 200 and 15 < sfb.var() / rep.var() < 40


def test_plain_score_function_at_d16_s1_is_too_noisy_for_the_check_to_have_power():
    # the chapter leaves it out of the bias check: its SE exceeds 0.5, so the check would say nothing
    _, sf, _ = gradient_estimates(16, 1)
    assert not unbiased(sf)
    assert sf.std() / math.sqrt(len(sf)) > 0.5


def relative_error(estimates: torch.Tensor, reference: torch.Tensor) -> float:
    """``||mean(estimates) - reference|| / ||reference||``: the chapter's check on the trained VAE."""
    return float((estimates.mean(0) - reference).norm() / reference.norm())


def test_relative_error_check_rejects_zero_and_scaled_estimators():
    g = torch.Generator().manual_seed(0)
    reference = torch.randn(32, generator=g)
    good = reference + 0.5 * torch.randn(10_000, 32, generator=g)      # unbiased, noisy
    assert relative_error(good, reference) < 0.05
    assert relative_error(torch.zeros(10_000, 32), reference) == pytest.approx(1.0)
    assert relative_error(0.5 * good, reference) > 0.4
    assert relative_error(good[:, torch.randperm(32, generator=g)], reference) > 0.5   # coordinates mixed up


# ------------------------------------------------------------------ the closed-form KL against Monte Carlo
def kl_agrees_with_monte_carlo(kl_formula, n: int = 200_000) -> bool:
    """Chapter 7's check: the formula is within 3 SE of a Monte-Carlo estimate for its three example Gaussians."""
    from aigc_lib.vae import gaussian_log_prob, reparameterize, standard_normal_log_prob

    mu = torch.tensor([[0.5, -0.5], [1.0, 2.0], [-2.0, 0.1]])
    logvar = torch.tensor([[0.0, -1.0], [0.5, 1.0], [-2.0, 0.3]])
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0), n_samples=n)
    log_ratio = gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n)
    return bool(torch.all((kl_formula(mu, logvar) - mc).abs() < 3 * se))


def test_kl_check_passes_the_closed_form_and_fails_common_mistakes():
    from aigc_lib.vae import gaussian_kl

    assert kl_agrees_with_monte_carlo(gaussian_kl)
    mistakes = {
        "sigma for sigma^2": lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(-1),
        "no -1": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1),
        "no 1/2": lambda mu, lv: (mu**2 + lv.exp() - 1 - lv).sum(-1),
        "log sigma for log sigma^2": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - 0.5 * lv).sum(-1),
    }
    for name, wrong in mistakes.items():
        assert not kl_agrees_with_monte_carlo(wrong), name


# ------------------------------------------------------------------ the autoencoder's holes
def fraction_in_holes(codes: torch.Tensor, n_points: int = 2000, radius: float = 0.05) -> float:
    """Chapter 7's statistic: random points of the codes' bounding box farther than radius * diagonal from any code."""
    lo, hi = codes.min(0).values, codes.max(0).values
    points = lo + (hi - lo) * torch.rand(n_points, 2, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(points, codes).min(1).values
    return float((nearest > radius * (hi - lo).norm()).float().mean())


def test_hole_statistic_is_small_for_codes_that_fill_the_box_and_large_for_clusters():
    g = torch.Generator().manual_seed(1)
    filled = torch.rand(1000, 2, generator=g)                                  # codes spread over the box
    corners = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    clustered = corners.repeat(250, 1) + 0.02 * torch.randn(1000, 2, generator=g)   # four tight clusters
    assert fraction_in_holes(filled) < 0.02
    assert fraction_in_holes(clustered) > 0.8


# ------------------------------------------------------------------ an independent reference for the trained-VAE check
def _distortion_gradients(mu, logvar, f, R, seed, baseline=0.0, sigma_bug=False):
    """Chapter 7's estimators of d/dmu E_{z ~ N(mu, sigma^2)} f(z): reparameterised and score function, (R, D) each."""
    from aigc_lib.vae import gaussian_log_prob

    mu_r = mu.repeat(R, 1).requires_grad_()
    eps = torch.randn(R, mu.shape[-1], generator=torch.Generator().manual_seed(seed))
    z = mu_r + (logvar.exp() if sigma_bug else (0.5 * logvar).exp()) * eps
    fz = f(z)
    (g_rep,) = torch.autograd.grad(fz.sum(), mu_r, retain_graph=True)
    (g_sf,) = torch.autograd.grad(((fz.detach() - baseline) * gaussian_log_prob(z.detach(), mu_r, logvar)).sum(), mu_r)
    return g_rep, g_sf


def test_reference_from_the_tested_estimator_passes_a_sigma_bug_and_an_independent_one_catches_it():
    """The chapter's trained-VAE check: a reference made by the reparameterised estimator shares its bug
    (sigma = exp(logvar) instead of exp(logvar / 2)) and passes it; the score function + baseline does not."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 8, generator=g)
    f = lambda z: torch.nn.functional.softplus(3 * z @ w).sum(-1)       # noqa: E731  a smooth "decoder loss"
    mu, logvar = torch.full((1, 4), 0.3), torch.full((1, 4), math.log(0.25))  # sigma 0.5 vs the bug's 0.25
    baseline = float(f(mu + (0.5 * logvar).exp() * torch.randn(5000, 4, generator=g)).mean())
    ref_independent = torch.cat([_distortion_gradients(mu, logvar, f, 50_000, 100 + i, baseline)[1]
                                 for i in range(4)]).mean(0)
    rep, _ = _distortion_gradients(mu, logvar, f, 10_000, 1)
    bug, _ = _distortion_gradients(mu, logvar, f, 10_000, 1, sigma_bug=True)
    ref_same_bug = _distortion_gradients(mu, logvar, f, 100_000, 2, sigma_bug=True)[0].mean(0)
    assert relative_error(rep, ref_independent) < 0.1                       # the right estimator passes
    assert relative_error(bug, ref_same_bug) < 0.1                          # the flaw: a reference that shares the bug
    assert relative_error(bug, ref_independent) > 0.1                       # the independent reference catches it
