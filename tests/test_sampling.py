import math
import re

import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from aigc_lib.lm import (SamplingConfig, apply_repetition_penalty, apply_temperature, distinct_n, sample_next_token,
                         top_k_filter, top_p_filter)


def logits(b=4, v=50, seed=0):
    return torch.randn(b, v, generator=torch.Generator().manual_seed(seed)) * 3


def test_filters_equal_huggingface_logits_processors():
    z = logits()
    ids = torch.randint(0, 50, (4, 7))
    torch.testing.assert_close(top_k_filter(z, 5), TopKLogitsWarper(5)(ids, z.clone()))
    for p in (0.1, 0.5, 0.9, 0.99):
        assert torch.equal(top_p_filter(z, p).isinf(), TopPLogitsWarper(p)(ids, z.clone()).isinf()), p
    torch.testing.assert_close(apply_temperature(z, 0.7), TemperatureLogitsWarper(0.7)(ids, z.clone()))
    torch.testing.assert_close(apply_repetition_penalty(z, ids, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(ids, z.clone()))


def test_top_k_keeps_exactly_k_tokens():
    z = logits()
    assert (top_k_filter(z, 3).isfinite().sum(-1) == 3).all()
    assert torch.equal(top_k_filter(z, 50), z)
    assert torch.equal(top_k_filter(z, 1).argmax(-1), z.argmax(-1))


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    z = probs.log()
    assert top_p_filter(z, 0.5).isfinite().tolist() == [[True, False, False, False]]
    assert top_p_filter(z, 0.6).isfinite().tolist() == [[True, True, False, False]]
    assert top_p_filter(z, 0.9).isfinite().tolist() == [[True, True, True, False]]
    assert torch.equal(top_p_filter(z, 1.0), z)
    # The most likely token survives even a tiny p.
    assert top_p_filter(z, 1e-6).isfinite().sum() == 1
    # Kept mass is >= p, and dropping the least likely kept token would go below p.
    z = logits(b=1, v=200)
    kept = top_p_filter(z, 0.8).isfinite()
    p = torch.softmax(z, -1)
    assert p[kept].sum() >= 0.8 and p[kept].sum() - p[kept].min() < 0.8


def test_repetition_penalty_lowers_the_probability_of_seen_tokens():
    z = torch.tensor([[2.0, -1.0, 0.5, 0.0]])
    out = apply_repetition_penalty(z, torch.tensor([[0, 1, 1]]), 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 0.0]]
    assert apply_repetition_penalty(z, torch.tensor([[0]]), 1.0) is z


def test_greedy_and_temperature_zero():
    z = logits()
    assert torch.equal(sample_next_token(z, SamplingConfig(temperature=0)), z.argmax(-1))
    # A very low temperature behaves like greedy.
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next_token(z, SamplingConfig(temperature=1e-3), generator=g), z.argmax(-1))


def test_sampling_follows_the_softmax_distribution():
    z = torch.tensor([[0.0, math.log(3.0)]]).expand(20000, 2)
    g = torch.Generator().manual_seed(0)
    frac = sample_next_token(z, generator=g).float().mean().item()
    assert abs(frac - 0.75) < 0.015
    # temperature 2 flattens: p(1) = 3**0.5 / (1 + 3**0.5)
    frac = sample_next_token(z, SamplingConfig(temperature=2.0), generator=g).float().mean().item()
    assert abs(frac - 3**0.5 / (1 + 3**0.5)) < 0.015


def test_samples_come_only_from_the_kept_set():
    z = logits(b=1, v=100).expand(500, 100)
    g = torch.Generator().manual_seed(1)
    ids = sample_next_token(z, SamplingConfig(top_k=4), generator=g)
    assert set(ids.tolist()) <= set(torch.topk(z[0], 4).indices.tolist())
    ids = sample_next_token(z, SamplingConfig(top_p=0.3), generator=g)
    assert set(ids.tolist()) <= set(top_p_filter(z[:1], 0.3)[0].isfinite().nonzero().flatten().tolist())


def test_sampling_is_reproducible_with_a_generator():
    z = logits()
    a = sample_next_token(z, SamplingConfig(top_p=0.9), generator=torch.Generator().manual_seed(3))
    b = sample_next_token(z, SamplingConfig(top_p=0.9), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_distinct_n():
    assert distinct_n([[1, 2, 3, 4]], 1) == 1.0
    assert distinct_n([[1, 1, 1, 1]], 1) == 0.25
    assert distinct_n([[1, 2, 1, 2, 1]], 2) == 2 / 4
    assert distinct_n([[1, 2], [1, 2]], 2) == 1.0          # per sample: each text has no repeat
    assert distinct_n([torch.tensor([5, 6, 7])], 3) == 1.0
    assert distinct_n([[1]], 2) == 0.0


def test_errors():
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\], got 0"):
        SamplingConfig(top_p=0.0)
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\], got 1.5"):
        top_p_filter(logits(), 1.5)
    with pytest.raises(ValueError, match="temperature must be >= 0 \\(0 means greedy decoding\\), got -1"):
        SamplingConfig(temperature=-1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(logits(), 0.0)
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        SamplingConfig(top_k=0)
    with pytest.raises(ValueError, match="repetition_penalty must be > 0"):
        SamplingConfig(repetition_penalty=0)
    with pytest.raises(ValueError, match=r"logits must have shape \(B, V\), got shape \(50,\)"):
        top_k_filter(torch.randn(50), 3)
    with pytest.raises(ValueError, match="previous must have shape"):
        apply_repetition_penalty(logits(), torch.tensor([1, 2]), 1.2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        distinct_n([[1]], 0)


def test_one_flat_sequence_instead_of_a_list_of_sequences_is_an_error():
    with pytest.raises(TypeError, match=r"list of token sequences, e.g. \[\[1, 2, 3\]\], got an element 1"):
        distinct_n([1, 2, 3, 1, 2], 2)
    with pytest.raises(ValueError, match=r"\(B, T\) tensor, got a tensor of shape \(5,\)"):
        distinct_n(torch.tensor([1, 2, 3, 1, 2]), 2)
    assert distinct_n(torch.tensor([[1, 2, 1, 2, 1]]), 2) == 2 / 4


def test_float_previous_ids_are_an_error():
    with pytest.raises(TypeError, match="previous must hold integer token ids, got dtype torch.float32"):
        apply_repetition_penalty(logits(), torch.ones(4, 2), 1.2)


@pytest.mark.parametrize("config", [SamplingConfig(temperature=0), SamplingConfig(temperature=1.0, top_p=0.9)])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "all -inf"])
def test_non_finite_logits_are_an_error_not_a_token(config, bad):
    x = logits()
    if bad == "all -inf":
        x[2] = float("-inf")
    else:
        x[2, 7] = bad
    what = "-inf in every place" if bad == "all -inf" else "NaN" if math.isnan(bad) else "+inf"
    with pytest.raises(ValueError, match=re.escape(f"1 row(s) are not: 2; row 2 has {what}.")):
        sample_next_token(x, config)


def test_many_non_finite_rows_are_counted():
    x = logits(b=12)
    x[:, 0] = float("nan")
    with pytest.raises(ValueError, match=r"12 row\(s\) are not: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more; row 0 has NaN"):
        sample_next_token(x, SamplingConfig(temperature=0))


def test_minus_inf_logits_are_tokens_that_are_never_chosen():
    x = logits()
    x[:, :49] = float("-inf")                       # only token 49 is possible in every row
    for config in (SamplingConfig(temperature=0), SamplingConfig(temperature=1.0, top_k=5)):
        assert torch.equal(sample_next_token(x, config), torch.full((4,), 49))
