"""Chapter 5 (decoding): every check the chapter prints, shown to fail on a broken variant.

Each test runs the chapter's check as written (it passes) and once on a deliberately broken
input or implementation (it must fail), so that a "True" or an `assert_close` in the chapter
is evidence. The per-sample / pooled distinct-n pair is tested in tests/test_text_metrics.py.
"""
import pytest
import torch
from transformers import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)

from aigc_lib.transformer import KVCache, MultiHeadAttention, beam_search
from aigc_lib.lm import GPT, GPTConfig, apply_repetition_penalty, apply_temperature, top_k_filter, top_p_filter


def raises_or_differs(check):
    """True when ``check()`` fails (raises AssertionError) — what a broken variant must do."""
    try:
        check()
    except AssertionError:
        return True
    return False


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=13, block_size=32, n_layer=2, n_head=2, n_embd=32, bias=False)).eval()
    with torch.no_grad():                      # sharper next-token distributions than a fresh init gives
        for p in m.parameters():
            if p.ndim == 2:
                p.mul_(4.0)
    return m


@pytest.fixture(scope="module")
def prompt():
    return torch.tensor([[1, 5, 2, 7, 3, 5]])


def chapter_logits(seed=0, v=30):
    return torch.randn(1, v, generator=torch.Generator().manual_seed(seed)) * 3


# ---------------------------------------------------------------- greedy by hand == model.generate


def greedy_by_hand(model, idx, n, position=-1):
    for _ in range(n):
        with torch.no_grad():
            next_logits = model(idx[:, -model.config.block_size:])[:, position]
        idx = torch.cat([idx, next_logits.argmax(dim=-1, keepdim=True)], dim=1)
    return idx


def test_greedy_by_hand_equals_generate_and_a_wrong_position_does_not(model, prompt):
    library = model.generate(prompt, 12, temperature=0)
    assert torch.equal(greedy_by_hand(model, prompt, 12), library)
    assert not torch.equal(greedy_by_hand(model, prompt, 12, position=0), library)   # reads the first position


# ---------------------------------------------------------------- temperature, top-k, top-p, penalty by hand


def test_temperature_by_hand_and_multiplying_instead_fails():
    z = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    for T in (0.5, 2.0):
        torch.testing.assert_close(torch.softmax(z / T, dim=-1), torch.softmax(apply_temperature(z, T), dim=-1))
        assert raises_or_differs(lambda: torch.testing.assert_close(
            torch.softmax(z * T, dim=-1), torch.softmax(apply_temperature(z, T), dim=-1)))


def top_k_by_hand(z, k, off_by_one=False):
    j = k if off_by_one else k - 1
    kth_largest = z.sort(dim=-1, descending=True).values[:, j:j + 1]
    return torch.where(z < kth_largest, float("-inf"), z)


def top_p_by_hand(z, p, include_self=False):
    sorted_z, order = z.sort(dim=-1, descending=True)
    sorted_p = torch.softmax(sorted_z, dim=-1)
    mass = sorted_p.cumsum(dim=-1) - (0 if include_self else sorted_p)
    keep_sorted = mass < p
    keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
    return torch.where(keep, z, float("-inf"))


def test_top_k_and_top_p_by_hand_equal_the_library_and_broken_versions_do_not():
    z = chapter_logits()
    assert torch.equal(top_k_by_hand(z, 5), top_k_filter(z, 5))
    assert not torch.equal(top_k_by_hand(z, 5, off_by_one=True), top_k_filter(z, 5))    # keeps 6
    for p in (0.5, 0.9, 0.99):
        assert torch.equal(top_p_by_hand(z, p), top_p_filter(z, p))
        # counting a token's own probability drops the token that crosses p: a different set
        assert not torch.equal(top_p_by_hand(z, p, include_self=True), top_p_filter(z, p))


def repetition_penalty_by_hand(z, previous, theta, ctrl_divide_all=False):
    z = z.clone()
    for token in set(previous[0].tolist()):
        z[0, token] = z[0, token] / theta if (z[0, token] > 0 or ctrl_divide_all) else z[0, token] * theta
    return z


def test_repetition_penalty_by_hand_and_dividing_negative_logits_fails():
    z = chapter_logits()
    previous = torch.tensor([[0, 3, 4, 7, 9, 12]])
    assert (z[0, previous[0]] < 0).any() and (z[0, previous[0]] > 0).any()   # both signs are exercised
    torch.testing.assert_close(repetition_penalty_by_hand(z, previous, 1.3), apply_repetition_penalty(z, previous, 1.3))
    assert raises_or_differs(lambda: torch.testing.assert_close(
        repetition_penalty_by_hand(z, previous, 1.3, ctrl_divide_all=True), apply_repetition_penalty(z, previous, 1.3)))


# ---------------------------------------------------------------- aigc_lib == transformers' logits processors


def our_steps(z, previous, divide_all=False):
    """The chapter's four steps, each result kept: repetition penalty, temperature, top-k, top-p."""
    if divide_all:
        z = repetition_penalty_by_hand(z, previous, 1.3, ctrl_divide_all=True)
    else:
        z = apply_repetition_penalty(z, previous, 1.3)
    out = [z]
    out.append(apply_temperature(out[-1], 0.8))
    out.append(top_k_filter(out[-1], 10))
    out.append(top_p_filter(out[-1], 0.9))
    return out


def compare_with_transformers(z, previous, processors, steps):
    """The chapter's check: after every step, our logits equal transformers' (assert_close)."""
    theirs = z.clone()
    for processor, mine in zip(processors, steps):
        theirs = processor(previous, theirs)
        torch.testing.assert_close(mine, theirs)


def test_each_step_equals_transformers_and_a_wrong_order_or_penalty_does_not():
    z, previous = chapter_logits(v=65), torch.tensor([[0, 3, 4, 7, 9, 12, 20]])
    assert (z[0, previous[0]] < 0).any() and (z[0, previous[0]] > 0).any()
    chain = [RepetitionPenaltyLogitsProcessor(1.3), TemperatureLogitsWarper(0.8), TopKLogitsWarper(10),
             TopPLogitsWarper(0.9)]
    compare_with_transformers(z, previous, chain, our_steps(z, previous))
    # top-p before top-k: the third step is a different filter
    wrong_order = [chain[0], chain[1], TopPLogitsWarper(0.9), TopKLogitsWarper(10)]
    assert raises_or_differs(lambda: compare_with_transformers(z, previous, wrong_order, our_steps(z, previous)))
    # a penalty that divides every logit (CTRL as written) differs from transformers' sign-aware one
    assert raises_or_differs(lambda: compare_with_transformers(z, previous, chain,
                                                               our_steps(z, previous, divide_all=True)))


# ---------------------------------------------------------------- beam search


def test_beam_of_width_one_is_greedy_and_a_wrong_position_is_not(model, prompt):
    start = prompt.shape[1]
    greedy = model.generate(prompt, 10, temperature=0)[0, start:].tolist()
    assert beam_search(model.next_log_probs_fn(), prompt[0], beam_width=1, max_new_tokens=10)[0].tokens == greedy

    def first_position(prefixes):                       # broken: log-probabilities of the first position
        with torch.no_grad():
            return torch.log_softmax(model(prefixes)[:, 0], dim=-1)
    assert beam_search(first_position, prompt[0], beam_width=1, max_new_tokens=10)[0].tokens != greedy


def test_beam_log_prob_equals_the_model_and_an_off_by_one_start_does_not(model, prompt):
    start = prompt.shape[1]
    best = beam_search(model.next_log_probs_fn(), prompt[0], beam_width=4, max_new_tokens=10)[0]
    seq = torch.tensor([prompt[0].tolist() + best.tokens])
    torch.testing.assert_close(model.sequence_log_prob(seq, start=start).item(), best.log_prob, atol=1e-3, rtol=1e-5)
    assert raises_or_differs(lambda: torch.testing.assert_close(
        model.sequence_log_prob(seq, start=start + 1).item(), best.log_prob, atol=1e-3, rtol=1e-5))


# ---------------------------------------------------------------- the validation-text reference point


def test_mean_log_p_per_character_is_minus_the_cross_entropy_and_unshifted_targets_are_not(model):
    window = torch.randint(0, 13, (3, 20), generator=torch.Generator().manual_seed(1))
    prompt_len = 6
    length = window.shape[1] - prompt_len
    lp = model.sequence_log_prob(window, start=prompt_len) / length              # the chapter's measure
    with torch.no_grad():
        logits = model(window[:, :-1])
    ce = torch.nn.functional.cross_entropy(logits[:, prompt_len - 1:].transpose(1, 2), window[:, prompt_len:],
                                           reduction="none").mean(dim=1)
    torch.testing.assert_close(lp, -ce)
    unshifted = torch.nn.functional.cross_entropy(logits[:, prompt_len - 1:].transpose(1, 2),
                                                  window[:, prompt_len - 1:-1], reduction="none").mean(dim=1)
    assert raises_or_differs(lambda: torch.testing.assert_close(lp, -unshifted))


# ---------------------------------------------------------------- KV cache


def test_cached_attention_equals_causal_attention_but_not_full_attention():
    torch.manual_seed(0)
    attn = MultiHeadAttention(d_model=32, n_heads=4).eval()
    seq = torch.randn(1, 10, 32)
    cache = KVCache()
    with torch.no_grad():
        steps = torch.cat([attn(seq[:, t:t + 1], is_causal=True, cache=cache)[0] for t in range(10)], dim=1)
        causal, _ = attn(seq, is_causal=True)
        not_causal, _ = attn(seq, is_causal=False)            # broken: every token sees the future
    torch.testing.assert_close(steps, causal, atol=1e-6, rtol=1e-5)
    assert raises_or_differs(lambda: torch.testing.assert_close(steps, not_causal, atol=1e-6, rtol=1e-5))


def test_cached_generation_equals_uncached_and_a_cache_that_loses_the_first_token_does_not(model, prompt):
    a = model.generate(prompt, 16, temperature=0, use_cache=True)
    assert torch.equal(a, model.generate(prompt, 16, temperature=0, use_cache=False))
    lost_first = model.generate(prompt[:, 1:], 16, temperature=0, use_cache=False)   # as if key 0 were dropped
    assert not torch.equal(a[:, 1:], lost_first)
