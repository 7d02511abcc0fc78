"""Language models: the code of chapter 4 (GPT) and chapter 5 (decoding).

Character and byte-level BPE tokenizers, the GPT model and its task, loading
GPT-2 weights from Hugging Face, the sampling rules (temperature, top-k, top-p,
repetition penalty) and the distinct-n diversity metrics.
"""
from .tokenizers import GPT2_SPLIT_PATTERN, CharTokenizer, ByteBPETokenizer
from .text_metrics import ngrams, distinct_n_per_sample, distinct_n, distinct_n_pooled
from .sampling import (SamplingConfig, apply_repetition_penalty, apply_temperature, top_k_filter, top_p_filter,
                       sample_next_token)
from .gpt import GPT_ACTIVATIONS, GPTConfig, GPT, LanguageModelTask
from .gpt2 import config_from_hf, convert_hf_gpt2_state_dict, gpt_from_hf, hub_reachable, from_pretrained

__all__ = [
    "GPT2_SPLIT_PATTERN", "CharTokenizer", "ByteBPETokenizer", "ngrams", "distinct_n_per_sample", "distinct_n",
    "distinct_n_pooled", "SamplingConfig", "apply_repetition_penalty", "apply_temperature", "top_k_filter",
    "top_p_filter", "sample_next_token", "GPT_ACTIVATIONS", "GPTConfig", "GPT", "LanguageModelTask", "config_from_hf",
    "convert_hf_gpt2_state_dict", "gpt_from_hf", "hub_reachable", "from_pretrained",
]
