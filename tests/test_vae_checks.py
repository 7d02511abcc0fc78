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
