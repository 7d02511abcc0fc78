"""Chapter 13: cross-attention, the text U-Net, latent flow matching with caption guidance, the token prior."""
import pytest
import torch
from torch import nn

from aigc_lib import Trainer
from aigc_lib.data import TensorBatches
from aigc_lib.multimodal.cross_attention import CrossAttention, caption_mask
from aigc_lib.multimodal.latent_autoencoder import AutoencoderTask, ConvAutoencoder, ConvAutoencoderConfig
from aigc_lib.multimodal.text_to_image import TextToImage, TextToImageConfig, TextToImageTask
from aigc_lib.multimodal.text_unet import CaptionEncoder, CaptionEncoderConfig, TextUNet, TextUNetConfig
from aigc_lib.multimodal.t2i_models import load_token_prior, token_prior_config
from aigc_lib.multimodal.t2i_scoring import proportion_line
from aigc_lib.multimodal.token_prior import TokenPrior, TokenPriorConfig, TokenPriorTask, rerank

QUIET = dict(progress=False, live_plot=False)
PAD = 0


def tiny_t2i(**kw) -> TextToImage:
    cfg = dict(image_size=16, ae_hidden=8, latent_channels=2, vocab_size=12, max_caption_len=6, text_dim=16,
               text_layers=1, text_heads=2, base_channels=16, channel_mults=(1, 2), num_res_blocks=1,
               attention_levels=(1,), num_heads=2, groups=4)
    cfg.update(kw)
    return TextToImage(TextToImageConfig(**cfg))


def captions(n: int, length: int = 6, vocab: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(1, vocab, (n, length), generator=g)
    lengths = torch.randint(2, length + 1, (n,), generator=g)
    tok[torch.arange(length)[None, :] >= lengths[:, None]] = PAD
    return tok


def fitted(model: TextToImage, n: int = 8) -> TextToImage:
    model.fit_latent_scale(torch.rand(n, 1, model.config.image_size, model.config.image_size))
    return model


# ------------------------------------------------------------------ cross-attention


def reference_cross_attention(block: CrossAttention, h, ctx, mask, use_mask=True):
    """torch.nn.MultiheadAttention on the same weights (key_padding_mask: True = padding)."""
    c = block.channels
    mha = nn.MultiheadAttention(c, block.attn.n_heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([block.attn.q_proj.weight, block.attn.kv_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([block.attn.q_proj.bias, block.attn.kv_proj.bias]))
        mha.out_proj.weight.copy_(block.attn.out_proj.weight)
        mha.out_proj.bias.copy_(block.attn.out_proj.bias)
    b, _, hh, ww = h.shape
    q = block.norm(h).flatten(2).transpose(1, 2)
    kv = block.context_proj(ctx)
    out, _ = mha(q, kv, kv, key_padding_mask=(~mask[:, 0]) if use_mask else None)
    return h + out.transpose(1, 2).reshape(b, c, hh, ww)


def make_cross_block(seed=0):
    torch.manual_seed(seed)
    block = CrossAttention(channels=16, context_dim=12, num_heads=4, groups=4)
    nn.init.normal_(block.attn.out_proj.weight, std=0.3)      # zero at init: make it do something
    nn.init.normal_(block.attn.out_proj.bias, std=0.1)
    h, ctx = torch.randn(3, 16, 4, 5), torch.randn(3, 7, 12)
    tokens = torch.tensor([[3, 4, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [9, 0, 0, 0, 0, 0, 0]])
    return block, h, ctx, caption_mask(tokens, pad_id=0)


def test_cross_attention_equals_torch_multihead_attention_with_padding_mask():
    block, h, ctx, mask = make_cross_block()
    with torch.no_grad():
        ours = block(h, ctx, mask)
        ref = reference_cross_attention(block, h, ctx, mask)
        broken = reference_cross_attention(block, h, ctx, mask, use_mask=False)   # padding not masked
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert (ours - broken).abs().max() > 1e-2


def test_cross_attention_ignores_padding_content_and_null_caption_adds_nothing():
    block, h, ctx, mask = make_cross_block(1)
    other = ctx.clone()
    other[~mask[:, 0]] = torch.randn(int((~mask).sum()), 12) * 10       # change only the padding
    with torch.no_grad():
        torch.testing.assert_close(block(h, ctx, mask), block(h, other, mask))
        changed_real = ctx.clone()
        changed_real[0, 0] += 5.0
        assert (block(h, changed_real, mask) - block(h, ctx, mask)).abs().max() > 1e-3
        none = torch.zeros_like(mask)                                     # the null caption: all padding
        torch.testing.assert_close(block(h, ctx, none), h)


# ------------------------------------------------------------------ the text U-Net


def test_text_unet_shapes_and_caption_changes_output():
    model = tiny_t2i()
    for p in model.unet.parameters():                      # zero-initialised outputs: make every layer active
        nn.init.normal_(p, std=0.05)
    z = torch.randn(4, 2, 4, 4)
    t = torch.rand(4) * 1000
    tok = captions(4)
    with torch.no_grad():
        v = model.velocity(z, t, tok)
        assert v.shape == z.shape
        assert (model.velocity(z, t, captions(4, seed=1)) - v).abs().max() > 1e-4
        # padding content does not matter: put other ids (not the pad) where the caption is padded...
        states, mask = model.text_encoder(tok)
        assert mask.shape == (4, 1, 6) and states.shape == (4, 6, 16)


def test_caption_encoder_and_unet_ignore_what_follows_the_caption():
    enc = CaptionEncoder(CaptionEncoderConfig(vocab_size=12, max_len=8, d_model=16, n_layers=1, n_heads=2))
    tok = captions(3, length=6)
    longer = torch.cat([tok, torch.zeros(3, 2, dtype=torch.long)], dim=1)     # two more pads
    with torch.no_grad():
        s1, m1 = enc(tok)
        s2, m2 = enc(longer)
    torch.testing.assert_close(s1[m1[:, 0]], s2[:, :6][m2[:, 0, :6]], rtol=1e-5, atol=1e-5)


def test_clear_errors():
    with pytest.raises(ValueError, match="cannot be halved"):
        TextUNetConfig(image_size=7, channel_mults=(1, 2), attention_levels=(1,))
    with pytest.raises(ValueError, match="divisible by 4"):
        tiny_t2i(image_size=18)
    with pytest.raises(ValueError, match="num_classes must be 0"):
        TextUNetConfig(num_classes=10)
    model = fitted(tiny_t2i())
    unet = model.unet
    with pytest.raises(ValueError, match="cannot be halved"):
        unet(torch.randn(1, 2, 5, 5), 1.0, torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match="longer than the text context max_len=6"):
        model.text_encoder(torch.ones(2, 9, dtype=torch.long))
    with pytest.raises(IndexError):
        model.text_encoder(torch.full((2, 3), 12))                        # unknown word id
    with pytest.raises(ValueError, match="guidance scale must be a finite number >= 0"):
        model.sample(captions(2), guidance_scale=-1.0)
    with pytest.raises(ValueError, match="guidance scale"):
        model.guided_velocity(captions(2), float("nan"))
    with pytest.raises(ValueError, match="needs the caption states"):
        unet(torch.randn(1, 2, 4, 4), 1.0)
    with pytest.raises(RuntimeError, match="latent scale is not set"):
        tiny_t2i().sample(captions(2))


def test_classifier_free_guidance_combines_the_two_velocities():
    torch.manual_seed(0)
    model = fitted(tiny_t2i())
    for p in model.unet.parameters():
        nn.init.normal_(p, std=0.05)
    z, t, tok = torch.randn(3, 2, 4, 4), torch.full((3,), 500.0), captions(3)
    with torch.no_grad():
        v_c = model.velocity(z, t, tok)
        v_u = model.velocity(z, t, model.null_tokens(3, 6))
        for w in (0.0, 1.0, 3.0):
            torch.testing.assert_close(model.guided_velocity(tok, w)(z, t), v_u + w * (v_c - v_u),
                                       rtol=1e-4, atol=1e-5)
        swapped = v_c + 3.0 * (v_u - v_c)                                  # a broken variant
        assert (model.guided_velocity(tok, 3.0)(z, t) - swapped).abs().max() > 1e-3
    assert not torch.allclose(v_c, v_u)


def test_caption_dropout_gives_null_captions_at_the_rate():
    torch.manual_seed(0)
    task = TextToImageTask(fitted(tiny_t2i()), caption_dropout=0.3)
    dropped = task.drop_captions(captions(4000, seed=2))
    rate = float((dropped == PAD).all(dim=1).float().mean())
    assert abs(rate - 0.3) < 0.03


def test_sample_shape_range_and_determinism():
    model = fitted(tiny_t2i())
    tok = captions(3)
    a = model.sample(tok, guidance_scale=2.0, num_steps=3, generator=torch.Generator().manual_seed(0))
    b = model.sample(tok, guidance_scale=2.0, num_steps=3, generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, 1, 16, 16) and float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b)


def test_text_to_image_trainer_resume_is_exact(tmp_path):
    images = torch.rand(24, 1, 16, 16)
    tok = captions(24)

    def make():
        torch.manual_seed(0)
        model = fitted(tiny_t2i())
        return TextToImageTask(model), model.encode(images)

    cfg = dict(max_steps=6, **QUIET)
    full_task, z = make()
    Trainer(**cfg).fit(full_task, TensorBatches(z, tok, batch_size=8, seed=1))
    task, z = make()
    Trainer(max_steps=3, checkpoint_dir=tmp_path, **QUIET).fit(task, TensorBatches(z, tok, batch_size=8, seed=1))
    torch.manual_seed(123)                      # another RNG state: the checkpoint must restore it
    task, z = make()
    Trainer(**cfg, checkpoint_dir=tmp_path).fit(task, TensorBatches(z, tok, batch_size=8, seed=1))
    for k, v in full_task.state_dict().items():
        assert torch.equal(v, task.state_dict()[k]), k


def test_autoencoder_overfits_a_batch():
    torch.manual_seed(0)
    ae = ConvAutoencoder(ConvAutoencoderConfig(image_size=16, hidden=8, latent_channels=2))
    x = (torch.rand(8, 1, 16, 16) > 0.7).float()
    task = AutoencoderTask(ae, lr=3e-3, latent_penalty=0.0)
    start = float(task.training_loss(x)["bce"])
    Trainer(max_steps=300, **QUIET).fit(task, TensorBatches(x, batch_size=8))
    assert float(task.training_loss(x)["bce"]) < 0.3 * start


# ------------------------------------------------------------------ the token prior


def tiny_prior(**kw) -> TokenPrior:
    cfg = dict(text_vocab_size=10, caption_len=4, codebook_size=6, image_tokens=5, n_layer=1, n_head=2, n_embd=16)
    cfg.update(kw)
    return TokenPrior(TokenPriorConfig(**cfg))


def test_token_prior_layout_and_loss_only_on_image_tokens():
    torch.manual_seed(0)
    prior = tiny_prior()
    cap = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 6]])
    codes = torch.tensor([[0, 1, 2, 3, 4], [5, 5, 0, 1, 2]])
    seq = prior.layout(cap, codes)
    assert seq.tolist() == [[1, 2, 0, 0, 10, 11, 12, 13, 14], [3, 4, 5, 6, 15, 15, 10, 11, 12]]
    assert prior.target_weights().tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    with torch.no_grad():
        logits = prior.gpt(seq[:, :-1])
    manual = nn.functional.cross_entropy(logits[:, 3:].reshape(-1, 16), seq[:, 4:].reshape(-1))
    torch.testing.assert_close(prior.loss(cap, codes), manual)
    everything = nn.functional.cross_entropy(logits.reshape(-1, 16), seq[:, 1:].reshape(-1))   # broken variant
    assert abs(float(everything) - float(manual)) > 1e-3
    with_text = tiny_prior(text_loss_weight=0.125)
    with_text.load_state_dict(prior.state_dict())
    assert with_text.target_weights().tolist() == [0.125] * 3 + [1.0] * 5
    # the same caption in a 3-d code grid (B, h, w) is the same sequence
    assert torch.equal(prior.layout(cap, codes.reshape(2, 1, 5)), seq)


def test_token_prior_clear_errors():
    prior = tiny_prior()
    with pytest.raises(ValueError, match="longer than the text context caption_len=4"):
        prior.loss(torch.ones(1, 5, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(IndexError):
        prior.loss(torch.ones(1, 4, dtype=torch.long), torch.full((1, 5), 6))     # code 6 >= codebook_size 6
    with pytest.raises(ValueError, match="5 image tokens"):
        prior.loss(torch.ones(1, 4, dtype=torch.long), torch.zeros(1, 6, dtype=torch.long))


def test_token_prior_sampling_with_cache_equals_full_forward_greedy():
    torch.manual_seed(1)
    prior = tiny_prior()
    cap = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 6]])
    codes = prior.sample_codes(cap, temperature=0.0)
    assert codes.shape == (2, 5) and int(codes.min()) >= 0 and int(codes.max()) < 6
    seq = cap
    with torch.no_grad():
        for _ in range(5):                         # greedy over image ids, no cache
            nxt = prior.gpt(seq)[:, -1, 10:].argmax(-1) + 10
            seq = torch.cat([seq, nxt[:, None]], dim=1)
    assert torch.equal(seq[:, 4:] - 10, codes)


def test_token_prior_overfits_a_batch_and_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    cap = torch.randint(1, 10, (8, 4))
    codes = torch.randint(0, 6, (8, 5))
    prior = tiny_prior(n_embd=32)
    task = TokenPriorTask(prior, lr=3e-3, weight_decay=0.0)
    Trainer(max_steps=300, **QUIET).fit(task, TensorBatches(cap, codes, batch_size=8))
    with torch.no_grad():
        assert float(prior.loss(cap, codes)) < 0.05
    assert torch.equal(prior.sample_codes(cap, temperature=0.0), codes)     # it learned the pairs

    def make():
        torch.manual_seed(0)
        return TokenPriorTask(tiny_prior(), lr=3e-3)

    full = make()
    Trainer(max_steps=6, **QUIET).fit(full, TensorBatches(cap, codes, batch_size=4, seed=1))
    part = make()
    Trainer(max_steps=3, checkpoint_dir=tmp_path, **QUIET).fit(part, TensorBatches(cap, codes, batch_size=4, seed=1))
    part = make()
    Trainer(max_steps=6, checkpoint_dir=tmp_path, **QUIET).fit(part, TensorBatches(cap, codes, batch_size=4, seed=1))
    for k, v in full.state_dict().items():
        assert torch.equal(v, part.state_dict()[k]), k


def test_rerank_keeps_the_best_scored_candidates():
    cand = torch.arange(2 * 3 * 4).float().reshape(2, 3, 4)
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.8]])
    best = rerank(cand, scores, keep=2)
    assert torch.equal(best[0], cand[0, [1, 2]]) and torch.equal(best[1], cand[1, [2, 0]])
    with pytest.raises(ValueError, match="keep must be"):
        rerank(cand, scores, keep=4)


def test_load_token_prior_refuses_another_codebook_size_and_a_wrong_checksum(tmp_path):
    import hashlib

    prior = TokenPrior(token_prior_config(text_vocab_size=10, codebook_size=6, image_tokens=5, caption_len=4))
    path = tmp_path / "prior.pt"
    torch.save(prior.state_dict(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="hold 6 image codes, but codebook_size=8"):
        load_token_prior(10, 8, 5, path=path, sha256=sha)
    with pytest.raises(Exception, match="sha256"):
        load_token_prior(10, 6, 5, path=path, sha256="0" * 64)


def test_proportion_line_is_the_course_headline():
    hits = torch.tensor([True] * 95 + [False] * 5)
    assert proportion_line("digit accuracy", hits) == "digit accuracy: 0.950 (95% interval 0.888–0.978; 100 samples, 1 seed)"


def test_text_unet_is_chapter_8s_unet_with_text_blocks_and_survives_deepcopy():
    import copy

    from aigc_lib.diffusion.unet import AttentionBlock, UNet
    from aigc_lib.multimodal.cross_attention import TextAttentionBlock

    model = tiny_t2i()
    assert isinstance(model.unet, UNet)
    text_blocks = [m for m in model.unet.modules() if isinstance(m, TextAttentionBlock)]
    plain = [m for m in model.unet.modules() if isinstance(m, AttentionBlock)]
    assert len(text_blocks) == len(plain) > 0          # every self-attention block got a cross-attention partner
    assert all(b.context is model.unet.caption for b in text_blocks)
    for p in model.unet.parameters():
        nn.init.normal_(p, std=0.05)
    twin = copy.deepcopy(model)                          # e.g. an EMA copy: its blocks must share *its* context
    assert all(b.context is twin.unet.caption for b in twin.unet.modules() if isinstance(b, TextAttentionBlock))
    z, t, tok = torch.randn(2, 2, 4, 4), torch.full((2,), 300.0), captions(2)
    with torch.no_grad():
        torch.testing.assert_close(twin.velocity(z, t, tok), model.velocity(z, t, tok))
    with pytest.raises(RuntimeError, match="outside TextUNet.forward"):
        text_blocks[0](torch.randn(1, text_blocks[0].cross_attn.channels, 2, 2))
