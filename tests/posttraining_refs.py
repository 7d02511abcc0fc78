"""Tiny Hugging Face GPT-2 models, a character tokenizer and ``trl`` trainers for the chapter-11 reference tests.

The course's converter goes from Hugging Face to ours (:func:`aigc_lib.lm.gpt2.gpt_from_hf`), so each test
builds a random ``GPT2LMHeadModel``, runs ``trl`` on it, and runs our code on the converted copy.
"""
from __future__ import annotations

import copy

import torch

VOCAB = ["<pad>", "<eos>"] + list("abcdefghijklmnopqrstuvwxyz0123456789 +=?:")
PAD, EOS = 0, 1


def hf_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({c: i for i, c in enumerate(VOCAB)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def hf_gpt2(seed: int = 0, n_positions: int = 32):
    """A random 2-layer GPT-2 with random biases and layer-norm parameters (so a mix-up would show)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(VOCAB), n_positions=n_positions, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=EOS, eos_token_id=EOS, pad_token_id=PAD)
    model = GPT2LMHeadModel(config).eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def perturbed(model, seed: int, scale: float = 0.05):
    """A copy of ``model`` with every parameter moved by ``scale`` * N(0, 1) (a "trained" policy)."""
    out = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return out


def dpo_trainer(policy, reference, beta: float, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    ds = Dataset.from_dict({"prompt": ["ab", "cd"], "chosen": ["1", "2"], "rejected": ["3", "4"]})
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), report_to=[], disable_tqdm=True, use_cpu=True, per_device_train_batch_size=2,
                     max_steps=1, beta=beta, bf16=False)
    return DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=ds, processing_class=hf_tokenizer())


def grpo_trainer(policy, reference, tmp_path, **config):
    """A ``GRPOTrainer``; trl builds its reference model from a path, so ``reference`` is saved first.

    ``bf16=False``: trl's configs default to bf16 autocast, which accelerate wraps around the reference
    model's forward even on the CPU (logits then differ by ~1e-2).
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    path = tmp_path / "reference"
    reference.save_pretrained(path)
    policy.config._name_or_path = str(path)
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), report_to=[], disable_tqdm=True, use_cpu=True, per_device_train_batch_size=2,
                      num_generations=2, max_steps=1, bf16=False, **config)
    trainer = GRPOTrainer(model=policy, reward_funcs=lambda completions, **kw: [0.0] * len(completions), args=args,
                          train_dataset=Dataset.from_dict({"prompt": ["ab", "cd"]}), processing_class=hf_tokenizer())
    return trainer
