import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from aigc_lib import Trainer
from aigc_lib.transformer import KVCache, beam_search
from aigc_lib.data import RandomWindows
from aigc_lib.lm import GPT, GPTConfig, LanguageModelTask
from aigc_lib.lm import config_from_hf, convert_hf_gpt2_state_dict, from_pretrained, gpt_from_hf, SamplingConfig

QUIET = dict(progress=False, live_plot=False)
TINY = dict(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)


def tiny(**kw) -> GPT:
    return GPT(GPTConfig(**{**TINY, **kw})).eval()


def ids(b=3, t=10, v=23, seed=0):
    return torch.randint(0, v, (b, t), generator=torch.Generator().manual_seed(seed))


def test_shapes_and_parameter_count():
    model = tiny()
    assert model(ids()).shape == (3, 10, 23)
    c = model.config
    per_block = 12 * c.n_embd**2 + 13 * c.n_embd       # qkv, out, ff (4x) weights and biases, 2 layer norms
    expected = c.vocab_size * c.n_embd + c.n_layer * per_block + 2 * c.n_embd  # tied head, final norm
    assert model.num_parameters() == expected
    assert model.lm_head.weight is model.token_embedding.weight


def test_causality_future_tokens_do_not_change_earlier_logits():
    model = tiny()
    x = ids()
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 23
    torch.testing.assert_close(model(x)[:, :6], model(y)[:, :6])
    assert not torch.allclose(model(x)[:, 6:], model(y)[:, 6:])


def test_initialisation_scales_the_residual_projections():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**TINY, "n_embd": 256, "n_layer": 8}))
    std = model.blocks[0].self_attn.out_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(16)) < 1e-3
    assert abs(model.blocks[0].self_attn.qkv.weight.std().item() - 0.02) < 1e-3
    assert model.blocks[0].ff.linear1.bias.abs().max() == 0
    # At initialisation the model predicts close to uniformly: loss near ln(V).
    x = ids(8, 16, 23)
    assert abs(model.loss(x, ids(8, 16, 23, seed=1)).item() - math.log(23)) < 0.1


def test_fast_attention_path_equals_readable_path():
    fast = tiny(fast_attention=True)
    slow = tiny(fast_attention=False)
    slow.load_state_dict(fast.state_dict())
    x = ids(t=16)
    torch.testing.assert_close(fast(x), slow(x), atol=1e-5, rtol=1e-5)
    caches = [fast.new_caches(), slow.new_caches()]
    for m, c in zip((fast, slow), caches):
        m(x[:, :8], c)
    torch.testing.assert_close(fast(x[:, 8:9], caches[0]), slow(x[:, 8:9], caches[1]), atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_parameter():
    model = tiny().train()
    model.loss(ids(), ids(seed=1)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("threads", [1, 3], indirect=True)   # 3: one-token steps split across threads
@pytest.mark.parametrize("capacity", [None, 12, 16])
def test_cached_forward_equals_full_forward(capacity, threads):
    model = tiny()
    x = ids(t=12)
    full = model(x)
    caches = model.new_caches(capacity)
    parts = [model(x[:, :5], caches)] + [model(x[:, t:t + 1], caches) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(caches[0]) == 12


@pytest.mark.parametrize("sampling", [SamplingConfig(temperature=0), SamplingConfig(temperature=1.0),
                                      SamplingConfig(temperature=0.8, top_k=5, top_p=0.9, repetition_penalty=1.3)])
@pytest.mark.parametrize("threads", [1, 3], indirect=True)
def test_kv_cache_generation_gives_exactly_the_same_tokens(sampling, threads):
    model = tiny()
    prompt = ids(b=2, t=3)
    # 40 new tokens: also crosses block_size=16, where the window slides.
    outs = [model.generate(prompt, 40, sampling=sampling, use_cache=use,
                           generator=torch.Generator().manual_seed(7)) for use in (True, False)]
    assert outs[0].shape == (2, 43)
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(outs[0][:, :3], prompt)


def test_generate_is_deterministic_with_a_generator_and_restores_train_mode():
    model = tiny().train()
    a = model.generate(ids(1, 2), 10, generator=torch.Generator().manual_seed(0))
    b = model.generate(ids(1, 2), 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and model.training


def test_tiny_model_overfits_a_batch_through_the_trainer():
    torch.manual_seed(0)
    tokens = torch.randint(0, 23, (17,))
    data = RandomWindows(tokens, block_size=16, batch_size=1)   # always the same window
    task = LanguageModelTask(tiny().train(), lr=1e-2, weight_decay=0.0)
    history = Trainer(max_steps=150, log_every=1, **QUIET).fit(task, data)
    losses = history.values("train/loss")
    assert losses[0] > 2.5 and losses[-1] < 0.05


def test_beam_search_on_gpt_finds_at_least_the_greedy_likelihood():
    model = tiny()
    prompt = ids(1, 3)[0]
    greedy = model.generate(prompt[None], 6, temperature=0)[0]
    best = beam_search(model.next_log_probs_fn(), prompt, beam_width=4, max_new_tokens=6)[0]
    greedy_lp = model.sequence_log_prob(greedy[None], start=3).item()
    assert best.log_prob >= greedy_lp - 1e-6
    beam_tokens = torch.cat([prompt, torch.tensor(best.tokens)])
    assert abs(model.sequence_log_prob(beam_tokens[None], start=3).item() - best.log_prob) < 1e-4
    # Beam width 1 is greedy decoding.
    one = beam_search(model.next_log_probs_fn(), prompt, beam_width=1, max_new_tokens=6)[0]
    assert one.tokens == greedy[3:].tolist()


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="n_embd=30 is not divisible by n_head=4"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="activation must be one of"):
        GPTConfig(activation="swish")
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        GPTConfig(vocab_size=0)
    model = tiny()
    with pytest.raises(IndexError, match="token id 23 is outside the vocabulary: expected 0 <= id < vocab_size=23"):
        model(torch.tensor([[1, 23]]))
    with pytest.raises(IndexError, match="token id -1 is outside"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="sequence of length 17 is longer than the context block_size=16"):
        model(ids(1, 17))
    caches = model.new_caches()
    model(ids(1, 15), caches)
    with pytest.raises(ValueError, match=r"length 17 .*\(15 cached \+ 2 new tokens\)"):
        model(ids(1, 2), caches)
    with pytest.raises(ValueError, match="prompt of length 20 is longer than the context block_size=16"):
        model.generate(ids(1, 20), 5)
    with pytest.raises(ValueError, match="token ids must be an integer tensor"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        model.generate(ids(1, 2), 5, top_p=0)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(ids(1, 2), 5, temperature=-0.5)
    with pytest.raises(ValueError, match="need one KVCache per layer"):
        model(ids(1, 2), [KVCache()])


# ------------------------------------------------------------------ GPT-2 weights


def randomise_1d(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every 1-D parameter (biases, LayerNorm weights and biases) a random value.

    A fresh model has every bias 0 and every LayerNorm weight 1, so a mapping that
    mixes them up (e.g. ln_1 with ln_2) would still give the same logits.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if p.ndim == 1:   # LayerNorm weights around 1, everything else around 0
                    centre = 1.0 if isinstance(module, torch.nn.LayerNorm) and name == "weight" else 0.0
                    p.copy_(centre + 0.5 * torch.randn(p.shape, generator=g))
    return model


def hf_gpt2(randomise: bool = True) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=24, n_embd=32, n_layer=3, n_head=4,
                        bos_token_id=0, eos_token_id=1, pad_token_id=1)
    model = GPT2LMHeadModel(config).eval()
    return randomise_1d(model) if randomise else model


@pytest.fixture(scope="module")
def small_hf_gpt2():
    return hf_gpt2()


def test_gpt2_conversion_gives_the_same_logits(small_hf_gpt2):
    model = gpt_from_hf(small_hf_gpt2)
    assert model.config.activation == "gelu_tanh" and model.config.block_size == 24
    x = ids(2, 24, 50)
    with torch.no_grad():
        torch.testing.assert_close(model(x), small_hf_gpt2(x).logits, atol=1e-5, rtol=1e-5)


def max_logit_difference(model: GPT, hf_model: GPT2LMHeadModel) -> float:
    x = ids(2, 24, 50)
    with torch.no_grad():
        return (model(x) - hf_model(x).logits).abs().max().item()


@pytest.fixture
def swapped_layer_norms(monkeypatch):
    """A broken converter: each block's ln_1 and ln_2 change places."""
    import aigc_lib.lm.gpt2 as gpt2_mod
    swap = {"ln_1": "ln_2", "ln_2": "ln_1"}
    broken = [(ours, ".".join(swap.get(part, part) for part in theirs.split(".")), t)
              for ours, theirs, t in gpt2_mod._BLOCK_MAP]
    assert broken != gpt2_mod._BLOCK_MAP
    monkeypatch.setattr(gpt2_mod, "_BLOCK_MAP", broken)


def test_gpt2_check_catches_swapped_layer_norms_only_with_random_1d_parameters(swapped_layer_norms):
    # With the fresh model's 1-D parameters (LayerNorm weights 1, biases 0) the broken
    # converter passes: that check could not fail. With random ones it fails.
    fresh = hf_gpt2(randomise=False)
    assert max_logit_difference(gpt_from_hf(fresh), fresh) < 1e-5
    randomised = hf_gpt2(randomise=True)
    assert max_logit_difference(gpt_from_hf(randomised), randomised) > 1e-3   # tolerance: 1e-5
    with pytest.raises(AssertionError, match="Tensor-likes are not close"):
        test_gpt2_conversion_gives_the_same_logits(randomised)


def shared_storages(model: GPT, hf_model: GPT2LMHeadModel) -> set[int]:
    theirs = {t.untyped_storage().data_ptr() for t in hf_model.state_dict().values()}
    return theirs & {t.untyped_storage().data_ptr() for t in model.state_dict().values()}


def test_gpt2_converted_model_shares_no_memory_with_huggingface():
    hf = hf_gpt2()
    model = gpt_from_hf(hf)
    assert not shared_storages(model, hf)
    assert model.lm_head.weight is model.token_embedding.weight          # still tied to each other
    # Changing the Hugging Face model after the conversion must make the comparison fail.
    with torch.no_grad():
        hf.transformer.ln_f.bias += 1.0                                    # an untransposed tensor
    assert max_logit_difference(model, hf) > 1e-2


def test_gpt2_memory_checks_fail_on_a_converter_that_shares_tensors():
    hf = hf_gpt2()
    model = gpt_from_hf(hf)
    model.final_norm.bias = hf.transformer.ln_f.bias     # what the converter did before it copied tensors
    assert shared_storages(model, hf)
    with torch.no_grad():
        hf.transformer.ln_f.bias += 1.0
    assert max_logit_difference(model, hf) < 1e-5          # the change reached both: the comparison passes


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_gpt2_generation_matches_huggingface_generate(small_hf_gpt2, threads):
    model = gpt_from_hf(small_hf_gpt2)
    prompt = ids(2, 4, 50)
    ours = model.generate(prompt, 12, temperature=0)
    theirs = small_hf_gpt2.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12,
                                    min_new_tokens=12, do_sample=False)
    assert torch.equal(ours, theirs)


def test_gpt2_state_dict_errors(small_hf_gpt2):
    config = config_from_hf(small_hf_gpt2.config)
    state = dict(small_hf_gpt2.state_dict())
    bad = dict(state)
    bad["transformer.h.1.attn.c_attn.weight"] = torch.zeros(32, 64)
    with pytest.raises(ValueError, match=r"'transformer.h.1.attn.c_attn.weight' has shape \(32, 64\), "
                                         r"expected \(32, 96\)"):
        convert_hf_gpt2_state_dict(bad, config)
    bad = dict(state)
    bad["transformer.wte.weight"] = torch.zeros(51, 32)
    with pytest.raises(ValueError, match=r"'transformer.wte.weight' has shape \(51, 32\), expected \(50, 32\)"):
        convert_hf_gpt2_state_dict(bad, config)
    bad = {k: v for k, v in state.items() if not k.startswith("transformer.h.2.")}
    with pytest.raises(KeyError, match="no 'transformer.h.2.ln_1.weight'"):
        convert_hf_gpt2_state_dict(bad, config)


def test_from_pretrained_says_clearly_when_the_hub_cannot_be_reached(tmp_path):
    with pytest.raises(ConnectionError, match="could not load 'gpt2' from the Hugging Face hub or the local cache"):
        from_pretrained("gpt2", local_files_only=True, cache_dir=str(tmp_path))


def test_from_pretrained_fails_fast_when_offline(tmp_path, monkeypatch):
    import aigc_lib.lm.gpt2 as gpt2_mod
    monkeypatch.setattr(gpt2_mod, "hub_reachable", lambda timeout_s: False)
    with pytest.raises(ConnectionError, match="huggingface.co cannot be reached within 3.0 s"):
        from_pretrained("gpt2", cache_dir=str(tmp_path))


def test_from_pretrained_loads_a_local_folder(small_hf_gpt2, tmp_path):
    small_hf_gpt2.save_pretrained(tmp_path)
    model = from_pretrained(str(tmp_path))
    x = ids(1, 8, 50)
    with torch.no_grad():
        torch.testing.assert_close(model(x), small_hf_gpt2(x).logits, atol=1e-5, rtol=1e-5)


def test_token_id_and_target_errors():
    model = tiny()
    for dtype in (torch.int16, torch.uint8):   # accepted before, then failed inside nn.Embedding
        with pytest.raises(ValueError, match=rf"dtype torch.long or torch.int32, got shape \(1, 3\) and dtype {dtype}"):
            model(torch.tensor([[1, 2, 3]], dtype=dtype))
    assert model(torch.tensor([[1, 2, 3]], dtype=torch.int32)).shape == (1, 3, 23)
    x = ids(2, 3)
    with pytest.raises(ValueError, match=r"targets must have the shape of idx \(B, T\) = \(2, 3\), got \(3, 2\)"):
        model.loss(x, ids(3, 2))                  # same number of elements: was silently misaligned
    with pytest.raises(ValueError, match=r"token ids must be an integer tensor \(B, T\), got shape \(3,\)"):
        model.sequence_log_prob(torch.tensor([1, 2, 3]), start=1)
    with pytest.raises(IndexError, match="token id 30 is outside the vocabulary"):
        model.sequence_log_prob(torch.tensor([[1, 2, 30]]), start=1)   # only the last token is out of range
    with pytest.raises(IndexError, match="token id -1 is outside the vocabulary"):
        model.sequence_log_prob(torch.tensor([[1, 2, -1]]), start=1)
    with pytest.raises(IndexError, match="token id 30 is outside the vocabulary"):
        model.generate(torch.tensor([[1, 30]]), 0)          # no forward pass runs, the prompt is still checked
    with pytest.raises(ValueError, match="dtype torch.float32"):
        model.generate(torch.tensor([[1.0, 2.0]]), 0)
    full = ids(1, 17)                             # T = block_size + 1: the model reads 16 tokens
    assert model.sequence_log_prob(full, start=1).shape == (1,)


def test_flops_per_token_counts_six_per_matrix_weight_plus_attention():
    # PaLM (Chowdhery et al., 2022, appendix B) as nanoGPT's estimate_mfu: 6 N + 12 L T C.
    config = GPTConfig(**{**TINY, "bias": False})
    model = GPT(config)
    matrices = sum(p.numel() for name, p in model.named_parameters()
                   if p.ndim == 2 and not name.startswith("position_embedding"))   # tied output layer counted once
    attention = 12 * config.n_layer * config.block_size * config.n_embd
    assert config.num_flops_per_token() == 6 * matrices + attention
    assert config.num_flops_per_token(with_attention=False) == 6 * matrices
    gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    # 12 x 12 x 768^2 + 50257 x 768 = 123.5M matrix weights; attention 12 x 12 x 1024 x 768 = 113.2 MFLOP.
    assert abs(gpt2.num_flops_per_token() / 1e6 - (6 * 123.53 + 113.25)) < 0.1


# ------------------------------------------------------------------ chapter 4's checks


def reference_forward(W: dict, idx: torch.Tensor, n_layer: int, n_head: int, causal: bool = True,
                      norms: tuple[str, str] = ("norm1", "norm2")) -> torch.Tensor:
    """Chapter 4's hand-written GPT forward pass (linear layers without biases); ``causal``
    and ``norms`` make the broken variants that the check must catch."""
    B, T = idx.shape
    h = W["token_embedding.weight"][idx] + W["position_embedding.embedding.weight"][:T]
    C = h.shape[-1]
    d = C // n_head
    mask = torch.ones(T, T, dtype=torch.bool).tril() if causal else torch.ones(T, T, dtype=torch.bool)
    for i in range(n_layer):
        def p(name):
            return W[f"blocks.{i}.{name}"]
        a = torch.nn.functional.layer_norm(h, (C,), p(f"{norms[0]}.weight"), p(f"{norms[0]}.bias"))
        q, k, v = (a @ p("self_attn.qkv.weight").T).split(C, dim=-1)
        q, k, v = (t.view(B, T, n_head, d).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(d)).masked_fill(~mask, float("-inf")).softmax(dim=-1)
        h = h + (att @ v).transpose(1, 2).reshape(B, T, C) @ p("self_attn.out_proj.weight").T
        a = torch.nn.functional.layer_norm(h, (C,), p(f"{norms[1]}.weight"), p(f"{norms[1]}.bias"))
        h = h + torch.nn.functional.gelu(a @ p("ff.linear1.weight").T) @ p("ff.linear2.weight").T
    h = torch.nn.functional.layer_norm(h, (C,), W["final_norm.weight"], W["final_norm.bias"])
    return h @ W["token_embedding.weight"].T


def test_hand_written_forward_matches_gpt_and_its_check_catches_broken_variants():
    model = randomise_1d(tiny(bias=False))
    x = ids(2, 16)
    with torch.no_grad():
        ours, W = model(x), model.state_dict()
        torch.testing.assert_close(reference_forward(W, x, 2, 2), ours, atol=1e-5, rtol=1e-5)
        for broken in (dict(causal=False), dict(norms=("norm2", "norm1"))):
            assert (reference_forward(W, x, 2, 2, **broken) - ours).abs().max() > 1e-3, broken
        # With a fresh model's LayerNorms (weights 1, biases 0) swapping them changes nothing:
        fresh = tiny(bias=False)
        W = fresh.state_dict()
        torch.testing.assert_close(reference_forward(W, x, 2, 2, norms=("norm2", "norm1")), fresh(x))


def test_flop_counter_gives_num_flops_per_token_exactly():
    # Chapter 4 counts the FLOPs of one training step with PyTorch's FLOP counter
    # (readable attention path: the CPU SDPA kernel has no FLOP formula).
    from torch.utils.flop_counter import FlopCounterMode
    config = GPTConfig(**{**TINY, "bias": False, "fast_attention": False})
    model = GPT(config)
    x = ids(2, 16)
    with FlopCounterMode(display=False) as counter:
        model.loss(x, ids(2, 16, seed=1)).backward()
    per_token = counter.get_total_flops() / x.numel()
    assert per_token == config.num_flops_per_token()
    # broken estimates are caught: no attention term, or forward only (2N instead of 6N)
    assert per_token != config.num_flops_per_token(with_attention=False)
    assert per_token != config.num_flops_per_token() / 3
