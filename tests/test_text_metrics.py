"""Distinct-n per sample and pooled (aigc_lib.lm.text_metrics)."""
import pytest
import torch

from aigc_lib.lm import distinct_n as distinct_n_from_sampling
from aigc_lib.lm import distinct_n, distinct_n_per_sample, distinct_n_pooled, ngrams


def test_ngrams():
    assert ngrams([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert ngrams([1, 2], 3) == []


def test_per_sample_values_and_their_mean():
    seqs = [[1, 2, 3, 4], [1, 1, 1, 1], [5]]
    assert distinct_n_per_sample(seqs, 1) == [1.0, 0.25, 1.0]
    assert distinct_n_per_sample(seqs, 2) == [1.0, 1 / 3]           # [5] has no bigram: left out
    assert distinct_n(seqs, 2) == pytest.approx((1.0 + 1 / 3) / 2)
    assert distinct_n([[1]], 2) == 0.0 and distinct_n_pooled([[1]], 2) == 0.0
    assert distinct_n(torch.tensor([[1, 2, 1, 2, 1]]), 2) == 2 / 4
    assert distinct_n_from_sampling is distinct_n


def test_identical_samples_cap_the_pooled_metric_but_not_the_per_sample_one():
    """S copies of one varied text: per sample it is 1; pooled it is exactly 1/S (the cap of a deterministic decoder)."""
    varied = list(range(50))                          # no n-gram repeats inside the text
    for copies in (1, 4, 16):
        seqs = [varied] * copies
        assert distinct_n(seqs, 4) == 1.0
        assert distinct_n_pooled(seqs, 4) == pytest.approx(1 / copies)
    # different samples that each loop: per sample low, pooled higher (the loops differ from each other)
    loops = [[a, a + 1] * 10 for a in range(0, 32, 2)]     # 16 texts, each "a b a b ...", all different
    assert distinct_n(loops, 2) == pytest.approx(2 / 19)
    assert distinct_n_pooled(loops, 2) == pytest.approx(16 * 2 / (16 * 19))  # no bigram shared between texts
    assert distinct_n_pooled([[1, 2, 1, 2]] * 16, 2) == pytest.approx(2 / 48)


def test_a_per_sample_metric_that_pools_is_caught():
    """The broken variant of the chapter's first version: pooling over samples of one prompt, called per sample."""
    def broken_per_sample(seqs, n):                     # pooled, used as if it were the per-sample mean
        return distinct_n_pooled(seqs, n)

    greedy_like = [list(range(40))] * 16                # a deterministic decoder: 16 identical varied texts
    assert distinct_n(greedy_like, 4) == 1.0
    assert broken_per_sample(greedy_like, 4) != pytest.approx(distinct_n(greedy_like, 4))
    assert broken_per_sample(greedy_like, 4) == pytest.approx(1 / 16)


def test_errors():
    with pytest.raises(ValueError, match="n must be >= 1"):
        distinct_n_per_sample([[1]], 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        distinct_n_pooled([[1, 2]], 1.5)
    with pytest.raises(TypeError, match="list of token sequences"):
        distinct_n_pooled("abc", 1)
    with pytest.raises(TypeError, match="wrap one sequence"):
        distinct_n_per_sample([1, 2, 3], 1)
    with pytest.raises(ValueError, match=r"\(B, T\) tensor, got a tensor of shape \(3,\)"):
        distinct_n_pooled(torch.tensor([1, 2, 3]), 1)
