import pytest
import torch
from torch import nn

import aigc_lib.transformer.linear
from aigc_lib import Trainer
from aigc_lib.transformer import KVCache, causal_mask, padding_mask, greedy_decode
from aigc_lib.data import TensorBatches
from aigc_lib.transformer import (BlockConfig, FeedForward, Seq2SeqConfig, Seq2SeqTask, Seq2SeqTransformer,
                                  TransformerBlock, TransformerDecoder, TransformerEncoder)

from tests.test_attention import copy_attention_weights

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_equals_torch_encoder_layer(norm_first, activation):
    torch.manual_seed(0)
    cfg = BlockConfig(d_model=16, n_heads=4, d_ff=24, norm_first=norm_first, activation=activation)
    ours = TransformerBlock(cfg)
    ref = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first)
    copy_attention_weights(ours.self_attn, ref.self_attn)
    ref.linear1.load_state_dict(ours.ff.linear1.state_dict())
    ref.linear2.load_state_dict(ours.ff.linear2.state_dict())
    ref.norm1.load_state_dict(ours.norm1.state_dict())
    ref.norm2.load_state_dict(ours.norm2.state_dict())
    for p in ours.parameters():              # non-trivial norms too
        p.data += 0.1 * torch.randn_like(p)
    ref.load_state_dict({**ref.state_dict(), "norm1.weight": ours.norm1.weight, "norm1.bias": ours.norm1.bias,
                         "norm2.weight": ours.norm2.weight, "norm2.bias": ours.norm2.bias,
                         "linear1.weight": ours.ff.linear1.weight, "linear1.bias": ours.ff.linear1.bias,
                         "linear2.weight": ours.ff.linear2.weight, "linear2.bias": ours.ff.linear2.bias})
    copy_attention_weights(ours.self_attn, ref.self_attn)
    x = torch.randn(3, 5, 16)
    pad = padding_mask(torch.tensor([5, 3, 1]), max_len=5)
    # train() with dropout 0 keeps PyTorch off its inference fast path (which zeroes padded rows).
    ours.train(), ref.train()
    torch.testing.assert_close(ours(x, mask=pad), ref(x, src_key_padding_mask=~pad[:, 0]), **TOL)
    torch.testing.assert_close(ours(x, is_causal=True), ref(x, src_mask=~causal_mask(5), is_causal=True), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_equals_torch_decoder_layer(norm_first):
    torch.manual_seed(0)
    ours = TransformerBlock(BlockConfig(d_model=12, n_heads=3, d_ff=20, norm_first=norm_first, cross_attention=True))
    for p in ours.parameters():
        p.data += 0.1 * torch.randn_like(p)
    ref = nn.TransformerDecoderLayer(12, 3, 20, dropout=0.0, batch_first=True, norm_first=norm_first)
    copy_attention_weights(ours.self_attn, ref.self_attn)
    copy_attention_weights(ours.cross_attn, ref.multihead_attn)
    for a, b in [("linear1", ours.ff.linear1), ("linear2", ours.ff.linear2), ("norm1", ours.norm1),
                 ("norm2", ours.norm_cross), ("norm3", ours.norm2)]:
        getattr(ref, a).load_state_dict(b.state_dict())
    x, mem = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    mem_pad = padding_mask(torch.tensor([6, 2]), max_len=6)
    out = ours(x, is_causal=True, memory=mem, memory_mask=mem_pad)
    expected = ref(x, mem, tgt_mask=~causal_mask(4), memory_key_padding_mask=~mem_pad[:, 0], tgt_is_causal=True)
    torch.testing.assert_close(out, expected, **TOL)


def test_block_keeps_weights_when_asked():
    block = TransformerBlock(BlockConfig(d_model=8, n_heads=2, cross_attention=True))
    block(torch.randn(1, 3, 8), memory=torch.randn(1, 5, 8), is_causal=True, need_weights=True)
    assert block.self_attn_weights.shape == (1, 2, 3, 3)
    assert block.cross_attn_weights.shape == (1, 2, 3, 5)
    torch.testing.assert_close(block.cross_attn_weights.sum(-1), torch.ones(1, 2, 3))


@pytest.mark.parametrize("rope", [False, True])
def test_gpt_block_with_kv_cache_equals_full_pass(rope):
    torch.manual_seed(0)
    blocks = nn.ModuleList(TransformerBlock(BlockConfig(d_model=16, n_heads=4, rope=rope, max_len=32))
                           for _ in range(2)).eval()
    x = torch.randn(2, 6, 16)
    full = x
    for b in blocks:
        full = b(full, is_causal=True)
    caches = [KVCache() for _ in blocks]
    outs = []
    for i in range(6):
        h = x[:, i:i + 1]
        for b, c in zip(blocks, caches):
            h = b(h, is_causal=True, cache=c)
        outs.append(h)
    torch.testing.assert_close(torch.cat(outs, 1), full, **TOL)


def test_block_errors():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        BlockConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="activation"):
        BlockConfig(activation="tanh")
    with pytest.raises(ValueError, match="needs memory"):
        TransformerBlock(BlockConfig(d_model=8, n_heads=2, cross_attention=True))(torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="no cross-attention"):
        TransformerBlock(BlockConfig(d_model=8, n_heads=2))(torch.randn(1, 2, 8), memory=torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="encoder blocks have no cross-attention"):
        TransformerEncoder(BlockConfig(d_model=8, n_heads=2, cross_attention=True), 1)


def test_feed_forward_shape():
    assert FeedForward(8, 32)(torch.randn(2, 3, 8)).shape == (2, 3, 8)


def tiny_model(**kw):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=11, tgt_vocab=9, d_model=16, n_heads=2, d_ff=32, dropout=0.0, max_src_len=8,
                        max_tgt_len=8, **kw)
    return Seq2SeqTransformer(cfg).eval()


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_seq2seq_decoder_is_causal_and_encoder_is_not(positional):
    model = tiny_model(positional=positional)
    src = torch.tensor([[3, 4, 5, 6, 0, 0]])
    tgt = torch.tensor([[1, 2, 3, 4]])
    logits = model(src, tgt)
    assert logits.shape == (1, 4, 9)
    tgt2 = tgt.clone()
    tgt2[0, 3] = 7
    torch.testing.assert_close(model(src, tgt2)[:, :3], logits[:, :3], **TOL)      # the future is not seen
    assert not torch.allclose(model(src, tgt2)[:, 3], logits[:, 3])
    src2 = src.clone()
    src2[0, 3] = 9
    mem1, _ = model.encode(src)
    mem2, _ = model.encode(src2)
    assert not torch.allclose(mem1[0, 0], mem2[0, 0])                                # the encoder sees ahead
    padded = torch.tensor([[3, 4, 5, 6, 0, 0, 0, 0]])
    torch.testing.assert_close(model(padded, tgt), logits, **TOL)                    # padding is ignored


@pytest.mark.parametrize("positional", ["sinusoidal", "rope"])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_seq2seq_cached_decoding_equals_full_decoding(positional, threads, monkeypatch):
    monkeypatch.setattr(aigc_lib.transformer.linear, "MAX_SPLIT_ROWS", 8)   # one-token steps (4 rows) split, full pass not
    model = tiny_model(positional=positional)
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9], [2, 3, 0, 0], [9, 8, 7, 6]])
    tgt = torch.tensor([[1, 2, 3, 4, 5], [1, 5, 4, 3, 2], [1, 1, 2, 2, 3], [1, 8, 6, 4, 2]])
    memory, m = model.encode(src)
    full = model.decode(tgt, memory, m)       # 20 rows
    caches = [KVCache() for _ in model.decoder.layers]
    steps = [model.decode(tgt[:, i:i + 1], memory, m, caches=caches) for i in range(5)]
    torch.testing.assert_close(torch.cat(steps, 1), full, **TOL)


def test_seq2seq_errors():
    model = tiny_model()
    with pytest.raises(IndexError, match="max_len=8"):
        model(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(IndexError, match="max_len=8"):
        tiny_model(positional="rope")(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="positional"):
        Seq2SeqConfig(src_vocab=3, tgt_vocab=3, positional="alibi")
    with pytest.raises(ValueError, match=r"tokens must be \(B, T\)"):
        model(torch.ones(9, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))


def test_seq2seq_task_learns_to_reverse_a_batch():
    """A tiny model overfits 'reverse the sequence' on 16 examples through the Trainer."""
    g = torch.Generator().manual_seed(0)
    body = torch.randint(3, 9, (16, 4), generator=g)                   # tokens 3..8; 0 pad, 1 BOS, 2 EOS
    src = body
    tgt = torch.cat([torch.ones(16, 1, dtype=torch.long), body.flip(1), torch.full((16, 1), 2)], dim=1)
    torch.manual_seed(0)
    model = Seq2SeqTransformer(Seq2SeqConfig(src_vocab=9, tgt_vocab=9, d_model=32, n_heads=4, dropout=0.0,
                                             max_src_len=8, max_tgt_len=8))
    task = Seq2SeqTask(model, lr=3e-3)
    history = Trainer(max_steps=150, progress=False, live_plot=False, log_every=10).fit(
        task, TensorBatches(src, tgt, batch_size=16))
    assert history.values("train/loss")[-1] < 0.05 * history.values("train/loss")[0]
    model.eval()
    out = greedy_decode(model.next_log_probs_fn(src), torch.ones(16, 1, dtype=torch.long), 5, eos_id=2)
    assert torch.equal(out, tgt)
    from aigc_lib.transformer import beam_search
    for i in range(3):                              # one source, all beams share its encoding
        best = beam_search(model.next_log_probs_fn(src[i]), [1], beam_width=3, max_new_tokens=5, eos_id=2)[0]
        assert best.tokens == tgt[i, 1:].tolist()
    metrics = task.validation_metrics((src, tgt))
    assert metrics["token_acc"] == 1.0 and metrics["seq_acc_teacher_forced"] == 1.0


def test_trim_padding_drops_only_all_padding_columns():
    from aigc_lib.transformer import trim_padding
    t = torch.tensor([[5, 6, 0, 0, 0], [7, 0, 8, 0, 0]])
    assert trim_padding(t, 0).tolist() == [[5, 6, 0], [7, 0, 8]]
    assert trim_padding(torch.zeros(2, 3, dtype=torch.long), 0).shape == (2, 1)


def test_seq2seq_token_errors():
    model = tiny_model()                          # src_vocab=11, tgt_vocab=9
    src, tgt = torch.tensor([[3, 4, 5, 0]]), torch.tensor([[1, 2, 3]])
    with pytest.raises(IndexError, match="src token id 15 is outside the vocabulary: expected 0 <= id < src_vocab=11"):
        model(torch.tensor([[3, 4, 15]]), tgt)
    with pytest.raises(IndexError, match="tgt token id 9 is outside the vocabulary: expected 0 <= id < tgt_vocab=9"):
        model(src, torch.tensor([[1, 2, 9]]))     # a valid source id, but not a target id
    with pytest.raises(IndexError, match="tgt token id -2 is outside"):
        model.decode(torch.tensor([[1, -2]]), *model.encode(src))
    with pytest.raises(TypeError, match="tgt token ids must have dtype torch.long or torch.int32, got torch.float32"):
        model(src, tgt.float())
    assert model(src.int(), tgt.int()).shape == (1, 3, 9)
    with pytest.raises(ValueError, match=r"pad_id must be a token of both vocabularies: expected 0 <= pad_id < "
                                         r"min\(src_vocab, tgt_vocab\) = 5, got 5"):
        Seq2SeqConfig(src_vocab=7, tgt_vocab=5, pad_id=5)
    with pytest.raises(ValueError, match="tgt_vocab must be >= 1, got 0"):
        Seq2SeqConfig(src_vocab=7, tgt_vocab=0)


def step_by_step_error(model: Seq2SeqTransformer, src: torch.Tensor, tgt: torch.Tensor) -> float:
    """Chapter 3's check: logits of the full (teacher-forced) pass vs one prefix at a time."""
    with torch.no_grad():
        full = model(src, tgt)
        steps = torch.cat([model(src, tgt[:, :t])[:, -1:] for t in range(1, tgt.shape[1] + 1)], dim=1)
    return (steps - full).abs().max().item()


def test_parallel_decoding_equals_step_by_step_and_the_check_fails_without_the_causal_mask(monkeypatch):
    model = tiny_model()
    src, tgt = torch.tensor([[5, 6, 7, 8, 0]]), torch.tensor([[1, 3, 4, 5, 6]])
    assert step_by_step_error(model, src, tgt) < 1e-5
    forward = TransformerBlock.forward

    def not_causal(self, x, *args, is_causal=False, **kwargs):
        return forward(self, x, *args, is_causal=False, **kwargs)

    monkeypatch.setattr(TransformerBlock, "forward", not_causal)      # a decoder that sees the future
    assert step_by_step_error(model, src, tgt) > 1e-3
