"""aigc_lib.evaluation: cached reference features, FID∞ and KID with a standard error (issue 21)."""
import numpy as np
import pytest
import torch

from aigc_lib.evaluation.features import classifier_features, reference_features
from aigc_lib.evaluation.fid import frechet_distance
from aigc_lib.evaluation.unbiased import fid_from_features, fid_infinity, kid, mmd2_unbiased, polynomial_kernel


def gaussian(n, shift=0.0, dim=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)) + shift


def test_fid_from_features_is_the_frechet_distance_of_the_fitted_gaussians():
    a, b = gaussian(300, seed=1), gaussian(300, 0.5, seed=2)
    ref = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid_from_features(a, b) == ref


def test_fid_infinity_removes_the_one_over_n_bias():
    """Over 12 pairs of sample sets of 500, 16-D: for one distribution the raw FID averages well above 0 and
    FID∞ near 0; for a shift of 0.25 in each dimension (true FID = 16 * 0.0625 = 1.0) FID∞ averages near 1.
    The broken variant, a straight line in n instead of 1/n, keeps much of the bias."""
    for shift, true in ((0.0, 0.0), (0.25, 1.0)):
        raw, inf, in_n = [], [], []
        for rep in range(12):
            a, b = gaussian(500, shift, dim=16, seed=2 * rep), gaussian(500, dim=16, seed=2 * rep + 1)
            raw.append(fid_from_features(a, b))
            est = fid_infinity(a, b, draws=3, seed=rep)
            inf.append(est.value)
            slope_n, intercept_n = np.polyfit(np.asarray(est.ns, float), np.asarray(est.fids), 1)
            in_n.append(intercept_n + slope_n * 2000)      # "the line in n", read at n = 2,000
        bias_raw, bias_inf, bias_n = (abs(np.mean(v) - true) for v in (raw, inf, in_n))
        assert bias_raw > 0.1 and bias_inf < bias_raw / 4 and bias_n > 2 * bias_inf, (shift, bias_raw, bias_inf, bias_n)


def test_fid_infinity_refuses_bad_sizes():
    a = gaussian(100)
    assert fid_infinity(a, a).ns == (20, 40, 60, 80, 100)   # 4 features: from N/5
    assert fid_infinity(gaussian(300, dim=64), gaussian(300, dim=64)).ns == (128, 171, 214, 257, 300)   # from 2F
    with pytest.raises(ValueError):
        fid_infinity(a, a, ns=(50, 50))
    with pytest.raises(ValueError):
        fid_infinity(a, a, ns=(50, 200))


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance`")
def test_mmd2_unbiased_matches_torchmetrics_kid():
    """torchmetrics' KernelInceptionDistance with an identity feature module and one subset of all samples
    computes the same U-statistic; a biased estimate (diagonal kept, the broken variant) does not."""
    from torchmetrics.image.kid import KernelInceptionDistance

    x, y = gaussian(200, 0.3, dim=8, seed=7), gaussian(200, dim=8, seed=8)
    metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=1, subset_size=200)
    metric.update(torch.tensor(y), real=True)
    metric.update(torch.tensor(x), real=False)
    ref_mean, _ = metric.compute()
    ours = mmd2_unbiased(x, y)
    assert abs(ours - ref_mean.item()) < 1e-9
    biased = (polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean() - 2 * polynomial_kernel(x, y).mean())
    assert abs(biased - ref_mean.item()) > 100 * 1e-9 and abs(biased - ours) > 0.01 * abs(ours)


def test_kid_standard_error_covers_zero_for_one_distribution_and_not_for_two():
    same = kid(gaussian(2000, seed=9), gaussian(2000, seed=10), blocks=10)
    assert abs(same.value) < 3 * same.standard_error and same.block_size == 200
    apart = kid(gaussian(2000, 0.3, seed=11), gaussian(2000, seed=12), blocks=10)
    assert apart.value > 5 * apart.standard_error
    with pytest.raises(ValueError):
        kid(gaussian(10), gaussian(10), blocks=1)
    # normalising by the reference's scale: KID does not change when both sets are scaled by 50
    x, y = gaussian(400, 0.3, seed=13), gaussian(400, seed=14)
    assert abs(kid(50 * x, 50 * y).value - kid(x, y).value) < 1e-9 * abs(kid(x, y).value) + 1e-12


def test_reference_features_are_computed_once_and_read_only():
    from aigc_lib.data import load_mnist
    from aigc_lib.evaluation.mnist_classifier import load_mnist_classifier

    feats, labels = reference_features("test")
    again, _ = reference_features("test")
    assert again is feats and feats.shape == (len(labels), 64) and not feats.flags.writeable
    digits = load_mnist("test").images[:5]
    assert np.array_equal(classifier_features(load_mnist_classifier(), digits), feats[:5])
    with pytest.raises(ValueError):
        reference_features("validation")
