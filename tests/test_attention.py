import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aigc_lib.transformer.linear
from aigc_lib.transformer import (KVCache, MultiHeadAttention, causal_mask, fast_scaled_dot_product_attention,
                                  padding_mask, scaled_dot_product_attention)

TOL = dict(atol=1e-5, rtol=1e-5)


def random_mask(shape, generator):
    """A random boolean mask with at least one True per row."""
    m = torch.rand(shape, generator=generator) < 0.6
    m[..., 0] = True
    return m


@pytest.mark.parametrize("seed", range(5))
def test_equals_torch_sdpa_on_random_shapes(seed):
    g = torch.Generator().manual_seed(seed)
    batch = tuple(torch.randint(1, 4, (int(torch.randint(0, 3, (1,), generator=g)),), generator=g).tolist())
    t_q, t_k, d_k, d_v = torch.randint(1, 9, (4,), generator=g).tolist()
    q = torch.randn(*batch, t_q, d_k, generator=g)
    k = torch.randn(*batch, t_k, d_k, generator=g)
    v = torch.randn(*batch, t_k, d_v, generator=g)
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(w.sum(-1), torch.ones(*batch, t_q), **TOL)
    mask = random_mask((*batch, t_q, t_k), g)
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    assert (w[~mask] == 0).all()
    torch.testing.assert_close(fast_scaled_dot_product_attention(q, k, v, mask=mask), out, **TOL)


def test_broadcast_mask_and_causal_equal_torch():
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 4)
    cm = causal_mask(5)
    out, w = scaled_dot_product_attention(q, k, v, mask=cm)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    assert (w.triu(1) == 0).all()
    torch.testing.assert_close(fast_scaled_dot_product_attention(q, k, v, is_causal=True), out, **TOL)


def test_softmax_is_stable_for_huge_scores():
    q = torch.full((1, 2, 4), 1e4)
    k = torch.full((1, 3, 4), 1e4)
    k[0, 1] = -1e4
    out, w = scaled_dot_product_attention(q, k, torch.randn(1, 3, 2))
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2))


def test_fully_masked_row_gives_zeros_not_nan_and_finite_gradients():
    q = torch.randn(2, 3, 4, requires_grad=True)
    k = torch.randn(2, 5, 4, requires_grad=True)
    v = torch.randn(2, 5, 6, requires_grad=True)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, 1] = False                      # query 1 of example 0 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    assert (out[0, 1] == 0).all() and (w[0, 1] == 0).all()
    torch.testing.assert_close(w[0, 0].sum(), torch.tensor(1.0))
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[0, 1] == 0).all()
    torch.testing.assert_close(fast_scaled_dot_product_attention(q, k, v, mask=mask), out, **TOL)


def test_dropout_on_weights():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 8), torch.randn(1, 6, 8), torch.randn(1, 6, 8)
    _, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert (w == 0).any()
    _, w0 = scaled_dot_product_attention(q, k, v)
    kept = w != 0
    torch.testing.assert_close(w[kept], 2 * w0[kept])


def test_causal_mask_is_bottom_right_aligned():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.equal(causal_mask(1, 4), torch.ones(1, 4, dtype=torch.bool))
    assert torch.equal(causal_mask(2, 4), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))
    with pytest.raises(ValueError, match="T_q <= T_k"):
        causal_mask(4, 2)


def test_padding_mask_forms_agree():
    lengths = torch.tensor([3, 1])
    expected = torch.tensor([[[1, 1, 1, 0]], [[1, 0, 0, 0]]], dtype=torch.bool)
    assert torch.equal(padding_mask(lengths, max_len=4), expected)
    tokens = torch.tensor([[5, 6, 7, 0], [9, 0, 0, 0]])
    assert torch.equal(padding_mask(tokens, pad_id=0), expected)
    assert torch.equal(padding_mask(tokens == 0), expected)
    with pytest.raises(ValueError, match="max_len"):
        padding_mask(lengths)
    with pytest.raises(ValueError, match="pad_id"):
        padding_mask(tokens)
    with pytest.raises(ValueError, match=r"lengths must be in \[0, max_len=2\]"):
        padding_mask(lengths, max_len=2)
    with pytest.raises(TypeError, match="integer"):
        padding_mask(torch.ones(2, 3))


def test_bad_inputs_raise_clear_errors():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4\) does not broadcast .* \(2, 3, 5\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        fast_scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same length T_k: k has 5, v has 4"):
        scaled_dot_product_attention(q, k, torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="same width d_k"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 3), v)
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 5))
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=4"):
        MultiHeadAttention(10, 4)


def copy_attention_weights(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    """Copy our projections into an ``nn.MultiheadAttention`` (also used by test_transformer.py)."""
    with torch.no_grad():
        if ours.cross:
            ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.kv_proj.weight]))
            ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.kv_proj.bias]))
        else:
            ref.in_proj_weight.copy_(ours.qkv.weight)
            ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)


def copy_into_torch_mha(ours: MultiHeadAttention, d: int, h: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    copy_attention_weights(ours, ref)
    return ref


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fast", [False, True])
def test_multi_head_self_attention_equals_torch(seed, fast):
    g = torch.Generator().manual_seed(seed)
    h = int(torch.randint(1, 5, (1,), generator=g))
    d = h * int(torch.randint(1, 5, (1,), generator=g)) * 2
    b, t = torch.randint(1, 4, (2,), generator=g).tolist()
    t += 1
    torch.manual_seed(seed)
    ours = MultiHeadAttention(d, h, fast=fast).eval()
    ref = copy_into_torch_mha(ours, d, h).eval()
    x = torch.randn(b, t, d, generator=g)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    pad = padding_mask(lengths, max_len=t)
    out, _ = ours(x, mask=pad)
    ref_out, _ = ref(x, x, x, key_padding_mask=~pad[:, 0])
    torch.testing.assert_close(out, ref_out, **TOL)
    out, w = ours(x, is_causal=True, need_weights=True)
    ref_out, ref_w = ref(x, x, x, attn_mask=~causal_mask(t), average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(w, ref_w, **TOL)
    assert w.shape == (b, h, t, t)


def test_multi_head_cross_attention_equals_torch():
    torch.manual_seed(1)
    ours = MultiHeadAttention(12, 3, cross=True).eval()
    ref = copy_into_torch_mha(ours, 12, 3).eval()
    x, ctx = torch.randn(2, 4, 12), torch.randn(2, 7, 12)
    pad = padding_mask(torch.tensor([7, 3]), max_len=7)
    out, w = ours(x, context=ctx, mask=pad, need_weights=True)
    ref_out, ref_w = ref(x, ctx, ctx, key_padding_mask=~pad[:, 0], average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(w, ref_w, **TOL)
    assert (w[1, :, :, 3:] == 0).all()
    with pytest.raises(ValueError, match="needs context"):
        ours(x)
    with pytest.raises(ValueError, match="takes no context"):
        MultiHeadAttention(12, 3)(x, context=ctx)


@pytest.mark.parametrize("rope", [False, True])
def test_fast_path_equals_readable_path_with_gradients(rope):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, rope=rope, max_len=32)
    x = torch.randn(3, 6, 16, requires_grad=True)
    pad = padding_mask(torch.tensor([6, 4, 1]), max_len=6)
    mha.fast = True
    fast, _ = mha(x, mask=pad, is_causal=True)
    (g_fast,) = torch.autograd.grad(fast.square().sum(), x)
    mha.fast = False
    slow, _ = mha(x, mask=pad, is_causal=True)
    (g_slow,) = torch.autograd.grad(slow.square().sum(), x)
    torch.testing.assert_close(fast, slow, **TOL)
    torch.testing.assert_close(g_fast, g_slow, **TOL)


@pytest.mark.parametrize("capacity", [None, 7, 10])
@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_kv_cache_gives_the_same_outputs_token_by_token(rope, fast, capacity, threads, monkeypatch):
    monkeypatch.setattr(aigc_lib.transformer.linear, "MAX_SPLIT_ROWS", 8)   # one-token steps (3 rows) split, full pass not
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2, rope=rope, max_len=16, fast=fast).eval()
    x = torch.randn(3, 7, 16)                  # 21 rows in the full pass
    full, _ = mha(x, is_causal=True)
    cache = KVCache(capacity)
    first, _ = mha(x[:, :3], is_causal=True, cache=cache)        # a prompt of 3 tokens at once
    steps = [first] + [mha(x[:, i:i + 1], is_causal=True, cache=cache)[0] for i in range(3, 7)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)
    assert len(cache) == 7 and cache.k.shape == (3, 2, 7, 8)
    cache.reorder(torch.tensor([1, 1, 0]))
    assert torch.equal(cache.k[0], cache.k[1])


def test_preallocated_kv_cache_writes_in_place_and_refuses_overflow():
    torch.manual_seed(0)
    k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    grown, fixed = KVCache(), KVCache(capacity=6)
    for t in range(0, 5, 2):                     # chunks of 2, 2, 1 positions
        a, b = grown.append(k[:, :, t:t + 2], v[:, :, t:t + 2]), fixed.append(k[:, :, t:t + 2], v[:, :, t:t + 2])
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert len(fixed) == 5 and torch.equal(fixed.k, k) and torch.equal(fixed.v, v)
    buffer = fixed._k
    fixed.append(k[:, :, :1], v[:, :, :1])       # the sixth position: written into the same buffer
    assert fixed._k is buffer and len(fixed) == 6
    with pytest.raises(ValueError, match="room for capacity=6 positions; it holds 6 and 1 new"):
        fixed.append(k[:, :, :1], v[:, :, :1])
    with pytest.raises(ValueError, match=r"\(B, H\) = \(1, 3\), the cache holds \(2, 3\)"):
        grown.append(k[:1, :, :1], v[:1, :, :1])
    with pytest.raises(ValueError, match="must both be \\(B, H, T_new, d_head\\)"):
        KVCache(4).append(k, v[..., :2])
    with pytest.raises(ValueError, match="capacity must be >= 1 or None"):
        KVCache(0)
    for cache in (grown, fixed):
        cache.crop(2)
        assert len(cache) == 2 and torch.equal(cache.k, k[:, :, :2])
        cache.append(k[:, :, 4:], v[:, :, 4:])
        assert torch.equal(cache.v, torch.cat([v[:, :, :2], v[:, :, 4:]], dim=2))
        with pytest.raises(ValueError, match="can crop to 0..3 positions, got 4"):
            cache.crop(4)
    fixed.append(k[:, :, :3], v[:, :, :3])
    fixed.reorder(torch.tensor([1, 1]))
    assert fixed.k.shape == (2, 3, 6, 4) and torch.equal(fixed.k[0], fixed.k[1])
    expected = torch.cat([k[1, :, :2], k[1, :, 4:], k[1, :, :3]], dim=1)   # what was kept, in order
    assert torch.equal(fixed.k[0], expected)


def test_kv_cache_rejects_cross_attention():
    mha = MultiHeadAttention(8, 2, cross=True)
    with pytest.raises(ValueError, match="KVCache is for self-attention"):
        mha(torch.randn(1, 2, 8), context=torch.randn(1, 3, 8), cache=KVCache())


def test_attention_is_permutation_equivariant_without_positions():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 5, 8)
    perm = torch.randperm(5)
    torch.testing.assert_close(mha(x[:, perm])[0], mha(x)[0][:, perm], **TOL)


def test_scale_matches_formula():
    q, k, v = torch.randn(1, 2, 9), torch.randn(1, 3, 9), torch.eye(3)[None]
    _, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(w, torch.softmax(q @ k.transpose(1, 2) / math.sqrt(9), dim=-1))


@pytest.mark.parametrize("fast", [True, False])
def test_bad_mask_with_is_causal_gets_a_clear_error(fast):
    """The mask is checked before it is combined with the causal mask (no bitwise_and / broadcast errors)."""
    mha = MultiHeadAttention(8, 2, fast=fast).eval()
    x = torch.randn(2, 4, 8)
    with pytest.raises(TypeError, match="mask must be a bool tensor .* got dtype torch.float32"):
        mha(x, mask=torch.zeros(4, 4), is_causal=True)            # an additive (float) mask
    with pytest.raises(ValueError, match=r"mask of shape \(2, 1, 3, 3\) does not broadcast .* \(2, 2, 4, 4\)"):
        mha(x, mask=torch.ones(2, 3, 3, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match=r"mask must be \(T_q, T_k\), .* got shape \(4,\)"):
        mha(x, mask=torch.ones(4, dtype=torch.bool))
    q, k = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4)     # T_q != T_k: a KV cache
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        fast_scaled_dot_product_attention(q, k, k, mask=torch.zeros(3, 5), is_causal=True)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 2\) does not broadcast"):
        fast_scaled_dot_product_attention(q, k, k, mask=torch.ones(2, 2, dtype=torch.bool), is_causal=True)


def test_fast_path_accepts_a_1d_key_mask_like_the_readable_path():
    q, k = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4)
    m = torch.tensor([True, True, False, True, True])
    torch.testing.assert_close(fast_scaled_dot_product_attention(q, k, k, mask=m),
                               scaled_dot_product_attention(q, k, k, mask=m)[0], **TOL)


def padding_check(attend, x: torch.Tensor, lengths: torch.Tensor) -> tuple[float, bool]:
    """Chapter 2's padding-mask check: largest weight on a padded key, and whether the output
    equals attention over the real keys alone (row by row)."""
    pad = padding_mask(lengths, max_len=x.shape[1])
    out, w = attend(x, x, x, mask=pad)
    largest, same = 0.0, True
    for b, n in enumerate(lengths.tolist()):
        largest = max(largest, w[b, :, n:].abs().max().item() if n < x.shape[1] else 0.0)
        short, _ = scaled_dot_product_attention(x[b:b + 1], x[b:b + 1, :n], x[b:b + 1, :n])
        same = same and torch.allclose(out[b:b + 1], short, atol=1e-6)
    return largest, same


def test_padding_mask_check_passes_and_fails_for_an_attention_that_ignores_the_mask():
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([4, 2])
    assert padding_check(scaled_dot_product_attention, x, lengths) == (0.0, True)

    def ignores_mask(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v)

    largest, same = padding_check(ignores_mask, x, lengths)
    assert largest > 0.01 and not same


def test_scale_zero_gives_equal_weights_and_negative_scale_is_refused():
    """scale = 0 is a valid limit (infinite temperature: every key the same weight); a negative scale is refused."""
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    out, w = scaled_dot_product_attention(q, k, v, scale=0.0)
    torch.testing.assert_close(w, torch.full_like(w, 1 / 5))
    torch.testing.assert_close(out, v.mean(dim=-2, keepdim=True).expand_as(out))
    with pytest.raises(ValueError, match="scale"):
        scaled_dot_product_attention(q, k, v, scale=-1.0)
