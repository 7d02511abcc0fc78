import math

import pytest
import torch

from aigc_lib.transformer import (LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding,
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


def shift_matrix(k: int, d: int) -> torch.Tensor:
    """Chapter 3's M_k: rotates each (sin, cos) pair of the sinusoidal encoding by k * 10000^(-2j/d)."""
    M = torch.zeros(d, d)
    for j in range(d // 2):
        a = k * 10000 ** (-2 * j / d)
        M[2 * j:2 * j + 2, 2 * j:2 * j + 2] = torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return M


def shift_error(table: torch.Tensor, k: int, offset: int | None = None) -> float:
    """max |M_k PE_p - PE_(p + offset)| over the table (offset = k: the property)."""
    offset = k if offset is None else offset
    n = len(table) - max(k, offset)
    return (table[:n] @ shift_matrix(k, table.shape[1]).T - table[offset:offset + n]).abs().max().item()


@pytest.mark.parametrize("k", [1, 5, 17])
def test_sinusoidal_shift_check_holds_and_fails_on_other_tables(k):
    table = sinusoidal_table(64, 32)
    assert shift_error(table, k) < 1e-4
    # The check can fail: a wrong offset, other frequencies, or a learned (random) table.
    assert shift_error(table, k, offset=k + 1) > 0.1
    other = torch.zeros(64, 32)
    p, i = torch.arange(64)[:, None].float(), torch.arange(16)[None, :].float()
    other[:, 0::2], other[:, 1::2] = torch.sin(p / 1000 ** (2 * i / 32)), torch.cos(p / 1000 ** (2 * i / 32))
    assert shift_error(other, k) > 0.05
    torch.manual_seed(0)
    assert shift_error(LearnedPositionalEmbedding(32, 64).embedding.weight.detach(), k) > 0.01
