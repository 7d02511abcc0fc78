import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from aigc_lib.vae import (bernoulli_log_likelihood, binarize_dynamic, binarize_fixed, gaussian_kl, gaussian_log_prob,
                          log_mean_exp, reparameterize, standard_normal_log_prob)


def test_gaussian_kl_matches_monte_carlo_within_standard_error():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g)
    logvar = torch.randn(5, 3, generator=g)
    closed = gaussian_kl(mu, logvar)                                       # (5,)
    n = 200_000
    z = reparameterize(mu, logvar, generator=g, n_samples=n)              # (n, 5, 3)
    log_ratio = gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)   # (n, 5)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n)
    assert closed.shape == (5,)
    assert torch.all((closed - mc).abs() < 4 * se), (closed, mc, se)


def test_gaussian_kl_equals_torch_distributions_and_is_zero_at_the_prior():
    mu, logvar = torch.randn(4, 7), torch.randn(4, 7)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    assert torch.all(gaussian_kl(mu, logvar) > 0)
    torch.testing.assert_close(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_gaussian_kl_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


def test_log_probs_match_torch_distributions():
    z, mu, logvar = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 4)
    torch.testing.assert_close(gaussian_log_prob(z, mu, logvar),
                               Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))
    torch.testing.assert_close(standard_normal_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_bernoulli_log_likelihood_matches_torch_bernoulli():
    logits = 3 * torch.randn(8, 1, 5, 5)
    x = torch.bernoulli(torch.full((8, 1, 5, 5), 0.3))
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(-1)
    got = bernoulli_log_likelihood(logits, x)
    assert got.shape == (8,)
    torch.testing.assert_close(got, expected)
    assert torch.all(got <= 0)


def test_bernoulli_log_likelihood_is_stable_for_large_logits():
    logits = torch.tensor([[100.0, -100.0]])
    assert bernoulli_log_likelihood(logits, torch.tensor([[1.0, 0.0]])).abs().item() < 1e-6
    torch.testing.assert_close(bernoulli_log_likelihood(logits, torch.tensor([[0.0, 0.0]])), torch.tensor([-100.0]))


@pytest.mark.parametrize("bad", [1.5, -0.1, 255.0, float("nan")])
def test_bernoulli_log_likelihood_rejects_values_outside_0_1(bad):
    x = torch.zeros(2, 4)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        bernoulli_log_likelihood(torch.zeros(2, 4), x)


def test_bernoulli_log_likelihood_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_log_likelihood(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28))


def test_reparameterize_shapes_statistics_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0), n_samples=50_000)
    assert z.shape == (50_000, 1, 2)
    torch.testing.assert_close(z.mean(0), torch.tensor([[1.0, -2.0]]), atol=0.05, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([[1.0, 2.0]]), atol=0.05, rtol=0)
    z.mean().backward()
    torch.testing.assert_close(mu.grad, torch.full((1, 2), 0.5))   # d mean(z) / d mu = 1/2 per dim
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0
    assert reparameterize(mu.detach(), logvar.detach()).shape == (1, 2)


def test_log_mean_exp_is_stable():
    a = torch.tensor([[1000.0, 1000.0], [1000.0, 1000.0 + math.log(3.0)]])
    torch.testing.assert_close(log_mean_exp(a, dim=0), torch.tensor([1000.0, 1000.0 + math.log(2.0)]))


def test_fixed_binarisation_is_deterministic_and_unbiased():
    images = torch.rand(200, 1, 28, 28)
    a, b = binarize_fixed(images), binarize_fixed(images)
    assert torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, binarize_fixed(images, seed=7))
    assert abs(a.mean().item() - images.mean().item()) < 0.01
    # pixels that are exactly 0 or 1 never change
    edge = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    assert torch.equal(binarize_fixed(edge), edge)


def test_dynamic_binarisation_is_fresh_each_call_and_checks_range():
    images = torch.full((4, 100), 0.5)
    assert not torch.equal(binarize_dynamic(images), binarize_dynamic(images))
    with pytest.raises(ValueError, match=r"grey values in \[0, 1\]"):
        binarize_dynamic(images * 255)


def test_dynamic_binarisation_rejects_integer_images_and_nan():
    with pytest.raises(TypeError, match=r"floating-point grey values in \[0, 1\], got torch.uint8"):
        binarize_dynamic(torch.ones(2, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"grey values in \[0, 1\], got \[nan, nan\]"):
        binarize_dynamic(torch.tensor([0.5, float("nan")]))
