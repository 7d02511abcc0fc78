import itertools
import math

import pytest
import torch

from aigc_lib.transformer import beam_search, greedy_decode, length_penalty

V, EOS = 4, 3


def toy_model(seed=0, vocab=V):
    """next_log_probs of a fixed random model: each prefix gets its own (seeded) distribution."""
    def next_log_probs(prefixes):
        rows = []
        for p in prefixes.tolist():
            g = torch.Generator().manual_seed(hash((seed, tuple(p))) % (2 ** 31))
            rows.append(torch.log_softmax(2.0 * torch.randn(vocab, generator=g, dtype=torch.float64), -1))
        return torch.stack(rows)
    return next_log_probs


def brute_force(fn, prompt, max_new, alpha):
    """Score every sequence of at most max_new tokens (ending at the first EOS)."""
    best = []
    for n in range(1, max_new + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < max_new and seq[-1] != EOS):
                continue
            full = list(prompt) + list(seq)
            lp = sum(float(fn(torch.tensor([full[:i]]))[0, full[i]]) for i in range(len(prompt), len(full)))
            best.append((lp / length_penalty(n, alpha), list(seq), lp))
    return sorted(best, reverse=True)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_equals_brute_force(seed, alpha):
    fn = toy_model(seed)
    exact = brute_force(fn, [0], 4, alpha)
    hyps = beam_search(fn, [0], beam_width=V ** 4, max_new_tokens=4, eos_id=EOS, alpha=alpha,
                       early_stopping=False)
    assert len(hyps) == len(exact)
    assert hyps[0].tokens == exact[0][1]
    assert hyps[0].score == pytest.approx(exact[0][0])
    assert hyps[0].log_prob == pytest.approx(exact[0][2])
    assert [h.score for h in hyps] == pytest.approx([e[0] for e in exact])


@pytest.mark.parametrize("seed", range(5))
def test_width_one_is_greedy_and_wider_beams_do_not_score_worse(seed):
    fn = toy_model(seed)
    greedy = greedy_decode(fn, torch.tensor([0]), 6, eos_id=EOS)
    b1 = beam_search(fn, [0], beam_width=1, max_new_tokens=6, eos_id=EOS)[0]
    assert b1.tokens == greedy[1:].tolist()
    exact = brute_force(fn, [0], 5, 0.0)[0][0]
    scores = [beam_search(fn, [0], beam_width=w, max_new_tokens=5, eos_id=EOS, early_stopping=False)[0].score
              for w in (1, 2, 4, 64)]
    assert all(s <= exact + 1e-9 for s in scores)
    assert scores[-1] == pytest.approx(exact)
    assert scores[0] <= scores[-1]


def test_no_eos_gives_fixed_length_outputs():
    hyps = beam_search(toy_model(), [0, 1], beam_width=3, max_new_tokens=4)
    assert len(hyps) == 3 and all(len(h.tokens) == 4 for h in hyps)
    assert hyps[0].score >= hyps[1].score >= hyps[2].score


def test_length_penalty_formula():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 0.6) == pytest.approx(2.0 ** 0.6)


def test_greedy_batches_pads_after_eos_and_stops():
    calls = []

    def fn(prefixes):          # row 0 says EOS at once, row 1 counts 0,1,2 then EOS
        calls.append(prefixes.shape[1])
        out = torch.full((2, V), -10.0)
        out[0, EOS] = 0.0
        t = prefixes.shape[1] - 1
        out[1, t if t < 3 else EOS] = 0.0
        return out

    seq = greedy_decode(fn, torch.zeros(2, 1, dtype=torch.long), 10, eos_id=EOS, pad_id=9)
    assert seq.tolist() == [[0, EOS, 9, 9, 9], [0, 0, 1, 2, EOS]]
    assert len(calls) == 4


def test_bad_arguments():
    fn = toy_model()
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(fn, [0], beam_width=0, max_new_tokens=3)
    with pytest.raises(ValueError, match="prompt"):
        beam_search(fn, [], beam_width=2, max_new_tokens=3)
    with pytest.raises(ValueError, match=r"must return \(N=1, V\)"):
        beam_search(lambda p: torch.zeros(V), [0], beam_width=2, max_new_tokens=3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_decode(fn, torch.tensor([0]), -1)


def test_probabilities_or_logits_instead_of_log_probs_are_an_error():
    probs = lambda p: torch.softmax(torch.arange(V, dtype=torch.float).expand(p.shape[0], V), -1)
    with pytest.raises(ValueError, match="must return log-probabilities .* logits or probabilities"):
        beam_search(probs, [0], beam_width=2, max_new_tokens=3)
    with pytest.raises(ValueError, match="NaN"):
        beam_search(lambda p: torch.full((p.shape[0], V), float("nan")), [0], beam_width=2, max_new_tokens=3)


def test_float_prompt_and_eos_outside_the_vocabulary_are_errors():
    fn = toy_model()
    with pytest.raises(TypeError, match="integer token ids, got dtype torch.float32"):
        beam_search(fn, [0.7], beam_width=2, max_new_tokens=3)
    with pytest.raises(TypeError, match="integer token ids"):
        greedy_decode(fn, torch.tensor([0.7]), 3)
    with pytest.raises(IndexError, match=r"eos_id 10 is outside the vocabulary: expected 0 <= eos_id < 4"):
        beam_search(fn, [0], beam_width=2, max_new_tokens=3, eos_id=10)
    with pytest.raises(ValueError, match="eos_id must be >= 0 or None, got -1"):
        greedy_decode(fn, torch.tensor([0]), 3, eos_id=-1)


def test_early_stopping_keeps_a_better_full_length_beam():
    """Issue 12: on the last step the early-stopping break ran before the live beams were finished,
    dropping [0, 0] (p = 0.36) in favour of [2] (p = 0.3)."""
    logp = torch.log(torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64))

    def fn(prefixes):
        return logp.expand(prefixes.shape[0], -1)

    best = beam_search(fn, [1], beam_width=2, max_new_tokens=2, eos_id=2, early_stopping=True)[0]
    assert best.tokens == [0, 0]
    assert math.isclose(best.log_prob, math.log(0.36))


def test_greedy_decode_rejects_nan_log_probs():
    def fn(prefixes):
        out = torch.log_softmax(torch.randn(prefixes.shape[0], V), -1)
        out[0, 1] = float("nan")
        return out
    with pytest.raises(ValueError, match="next_log_probs returned NaN"):
        greedy_decode(fn, torch.tensor([[0]]), max_new_tokens=2)
