import math

import pytest
import torch

from aigc_lib.positional import (LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding,
                                 sinusoidal_table)


def test_sinusoidal_table_matches_the_formula():
    table = sinusoidal_table(50, 8)
    for pos in (0, 1, 7, 49):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_adds_the_rows_from_start():
    pe = SinusoidalPositionalEncoding(6, max_len=10)
    x = torch.zeros(2, 3, 6)
    torch.testing.assert_close(pe(x, start=4), sinusoidal_table(10, 6)[4:7].expand(2, 3, 6))
    assert list(pe.parameters()) == []


def test_learned_embedding_uses_the_rows_from_start():
    pe = LearnedPositionalEmbedding(4, max_len=8)
    x = torch.zeros(1, 2, 4)
    torch.testing.assert_close(pe(x, start=5)[0], pe.embedding.weight[5:7])


@pytest.mark.parametrize("make", [lambda: SinusoidalPositionalEncoding(4, max_len=5),
                                  lambda: LearnedPositionalEmbedding(4, max_len=5)])
def test_too_long_sequences_raise(make):
    pe = make()
    pe(torch.zeros(1, 5, 4))
    with pytest.raises(IndexError, match=r"positions 0..5 \(sequence length 6\) .* max_len=5"):
        pe(torch.zeros(1, 6, 4))
    with pytest.raises(IndexError, match="max_len=5"):
        pe(torch.zeros(1, 2, 4), start=4)


def test_rope_too_long_and_odd_dim_raise():
    rope = RotaryEmbedding(4, max_len=3)
    with pytest.raises(IndexError, match="max_len=3"):
        rope(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="even head dimension"):
        RotaryEmbedding(5)


def test_rope_scores_depend_only_on_the_relative_offset():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, max_len=200)
    q, k = torch.randn(16), torch.randn(16)

    def score(p, s):
        return (rope(q[None], offset=p) * rope(k[None], offset=s)).sum()

    for p, s in [(0, 3), (5, 2), (10, 10), (7, 0)]:
        for shift in (1, 13, 100):
            torch.testing.assert_close(score(p + shift, s + shift), score(p, s), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(score(0, 3), score(0, 4))   # ...but it does depend on the offset


def test_rope_is_a_rotation():
    rope = RotaryEmbedding(8, max_len=20)
    x = torch.randn(2, 3, 20, 8)
    y = rope(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])           # position 0 is not rotated
    torch.testing.assert_close(rope(x[..., 5:6, :], offset=5), y[..., 5:6, :])


@pytest.mark.parametrize("make", [lambda: SinusoidalPositionalEncoding(8, max_len=16),
                                  lambda: LearnedPositionalEmbedding(8, max_len=16)])
def test_inputs_that_are_not_b_t_d_model_embeddings_raise(make):
    pe = make()
    with pytest.raises(ValueError, match=r"embeddings of shape \(B, T, 8\), got \(8, 8\)"):
        pe(torch.randn(8, 8))                     # unbatched: T would be read as the width
    with pytest.raises(ValueError, match=r"\(B, T, 8\), got \(2, 5, 6\)"):
        pe(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"got \(2, 5\) \(token ids\? embed them first\)"):
        pe(torch.randint(0, 5, (2, 5)))


def test_rope_needs_a_time_axis():
    with pytest.raises(ValueError, match=r"x of shape \(\.\.\., T, 8\), got \(8,\)"):
        RotaryEmbedding(8)(torch.randn(8))
