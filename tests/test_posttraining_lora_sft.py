"""LoRA against peft, merge/unmerge, SFT overfitting, resume, generation (tiny configs)."""
import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model

from aigc_lib import Trainer
from aigc_lib.lm.gpt import GPT, GPTConfig
from aigc_lib.posttraining import (LoRAConfig, LoRALinear, SFTBatches, SFTTask, SplitConfig, apply_lora,
                                   assistant_tokenizer, count_parameters, exact_match, generate_answers, headline,
                                   lora_layers, make_split, merge_lora, merged_state_dict, seed_bootstrap_interval,
                                   unmerge_lora)
from aigc_lib.posttraining.pretrained import load_assistant_base

QUIET = dict(progress=False, live_plot=False, device="cpu")
TARGETS = ("qkv", "out_proj", "linear1", "linear2")


def tiny(vocab=20, seed=0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, block_size=64, n_layer=2, n_head=2, n_embd=16))


def random_adapters(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=g))
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * 0.1)


def peft_twin(plain: GPT, ours: GPT, r: int, alpha: float):
    ref = get_peft_model(copy.deepcopy(plain), LoraConfig(r=r, lora_alpha=alpha, target_modules=list(TARGETS),
                                                          lora_dropout=0.0))
    params = dict(ref.named_parameters())
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            params[f"base_model.model.{name}.lora_A.default.weight"].copy_(layer.lora_A)
            params[f"base_model.model.{name}.lora_B.default.weight"].copy_(layer.lora_B)
    return ref


def test_lora_matches_peft_on_the_same_weights():
    plain = tiny()
    ours = copy.deepcopy(plain)
    apply_lora(ours, LoRAConfig(r=4, alpha=8.0, target_modules=TARGETS))
    x = torch.randint(20, (3, 12), generator=torch.Generator().manual_seed(0))
    # At initialisation B = 0: exactly the pretrained model.
    assert torch.equal(ours(x), plain(x))
    random_adapters(ours)
    ref = peft_twin(plain, ours, r=4, alpha=8.0)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)
    assert not torch.allclose(ours(x), plain(x), atol=1e-3)
    assert count_parameters(ours) == tuple(ref.get_nb_trainable_parameters())
    # Gradients agree too.
    ours(x).square().mean().backward()
    ref(x).square().mean().backward()
    name = "blocks.1.self_attn.qkv"
    grad_ref = dict(ref.named_parameters())[f"base_model.model.{name}.lora_A.default.weight"].grad
    assert torch.allclose(lora_layers(ours)[name].lora_A.grad, grad_ref, atol=1e-6)


def test_a_lora_with_the_wrong_scaling_fails_the_peft_comparison():
    plain = tiny()
    ours = copy.deepcopy(plain)
    apply_lora(ours, LoRAConfig(r=4, alpha=8.0, target_modules=TARGETS))
    random_adapters(ours)
    ref = peft_twin(plain, ours, r=4, alpha=8.0)
    for layer in lora_layers(ours).values():
        layer.scaling = layer.alpha              # broken: alpha instead of alpha / r
    x = torch.randint(20, (2, 8))
    assert not torch.allclose(ours(x), ref(x), atol=1e-4)


def test_merge_and_unmerge_are_exact_and_only_adapters_train():
    plain = tiny()
    model = copy.deepcopy(plain)
    names = apply_lora(model, LoRAConfig(r=2, alpha=4.0))
    assert names == [f"blocks.{i}.self_attn.{n}" for i in range(2) for n in ("qkv", "out_proj")]
    random_adapters(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    x = torch.randint(20, (2, 10))
    before = model(x)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    merge_lora(model)
    assert torch.allclose(model(x), before, atol=1e-5)
    unmerge_lora(model)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())   # bit for bit
    assert torch.equal(model(x), before)
    g = tiny(seed=5)
    g.load_state_dict(merged_state_dict(model))               # a plain GPT with the adapters merged in
    assert torch.allclose(g(x), before, atol=1e-5)
    with pytest.raises(RuntimeError, match="not merged"):
        unmerge_lora(model)


def test_lora_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="no nn.Linear layer is named"):
        apply_lora(tiny(), LoRAConfig(target_modules=("q_proj",)))
    model = tiny()
    apply_lora(model)
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(model)
    with pytest.raises(ValueError, match="r must be"):
        LoRAConfig(r=0)
    with pytest.raises(ValueError, match="larger than"):
        LoRALinear(torch.nn.Linear(4, 3), r=4)
    with pytest.raises(TypeError):
        LoRALinear(torch.nn.Conv1d(1, 1, 1))


@pytest.fixture(scope="module")
def tok():
    return assistant_tokenizer()


@pytest.fixture(scope="module")
def split():
    return make_split(SplitConfig(tasks=("reverse", "add"), n_train_per_task=200, n_eval_per_task=4))


def test_sft_tiny_model_overfits_a_batch_and_then_answers_it(tok, split):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=32))
    examples = split.train[:4]
    data = SFTBatches(examples, tok, batch_size=4, block_size=64, seed=0)
    task = SFTTask(model, lr=1e-2)
    x, y, answer, real = data.batch(0)
    first = task.training_loss((x, y, answer, real)).item()
    Trainer(max_steps=80, **QUIET).fit(task, data)
    last = task.training_loss((x, y, answer, real)).item()
    assert last < 0.05 < first
    result = exact_match(model, tok, examples)
    assert result.score == 1.0, list(zip(result.outputs, [e.answer for e in examples]))


def test_sft_resume_is_exact_and_lora_trains_only_adapters(tok, split, tmp_path):
    def run(steps, ckpt):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16))
        apply_lora(model, LoRAConfig(r=2, alpha=4.0))
        base_before = model.token_embedding.weight.clone()
        trainer = Trainer(max_steps=steps, checkpoint_dir=ckpt, checkpoint_every=3, **QUIET)
        trainer.fit(SFTTask(model, lr=1e-2), SFTBatches(split.train, tok, batch_size=4, block_size=64, seed=3))
        assert torch.equal(model.token_embedding.weight, base_before)
        return model.state_dict()

    whole = run(8, None)
    run(5, tmp_path)
    resumed = run(8, tmp_path)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert any(not torch.equal(whole[k], run(3, None)[k]) for k in whole if "lora_B" in k)


def test_sft_task_and_batches_reject_bad_input(tok, split):
    with pytest.raises(ValueError, match="loss_on"):
        SFTTask(tiny(tok.vocab_size), loss_on="prompt")
    frozen = tiny(tok.vocab_size)
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        SFTTask(frozen)
    with pytest.raises(ValueError, match="longest example"):
        SFTBatches(split.train, tok, batch_size=2, block_size=8)
    with pytest.raises(ValueError, match="do not belong together"):
        generate_answers(tiny(20), tok, ["Add 1 and 2."])


def test_generation_stops_at_end_and_matches_uncached_greedy(tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=16)).eval()
    prompts = ["Reverse the word candle.", "Add 12 and 30.", "Reverse the word sweets."]
    answers = generate_answers(model, tok, prompts, max_new_tokens=10)
    from aigc_lib.posttraining import encode_prompt
    for p, a in zip(prompts, answers):
        ids = torch.tensor([encode_prompt(p, tok)])
        full = model.generate(ids, 10, temperature=0.0, use_cache=False)[0, ids.shape[1]:].tolist()
        end = tok.token_id("<|end|>")
        expected = tok.decode(full[:full.index(end)] if end in full else full)
        assert a == expected


def test_seed_bootstrap_interval_and_headline():
    rows = [[True] * 8 + [False] * 2, [True] * 6 + [False] * 4, [True] * 9 + [False]]
    mean, lo, hi = seed_bootstrap_interval(rows)
    assert mean == pytest.approx(23 / 30) and lo < mean < hi
    one = seed_bootstrap_interval([[True] * 10])
    assert one == (1.0, 1.0, 1.0)
    text = headline("SFT held-out exact match", rows)
    assert text.startswith("SFT held-out exact match: 0.77 (95% interval ") and text.endswith("; 10 prompts, 3 seeds)")
    with pytest.raises(ValueError):
        seed_bootstrap_interval([])


def test_shipped_base_loads_only_with_its_checksum(tmp_path):
    with pytest.raises(ValueError, match="checksum is never optional"):
        load_assistant_base(sha256="")
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not the weights")
    with pytest.raises(Exception, match="(?i)sha256|checksum"):
        load_assistant_base(path=bad, sha256="0" * 64)
