"""From a language model to an assistant (chapters 10 and 11).

* :mod:`.tasks`: small instruction tasks checked by code, with held-out phrasings and instances.
* :mod:`.chat`: the chat format (special tokens, template, loss mask).
* :mod:`.sft`: supervised fine-tuning with loss masking (a Trainer task).
* :mod:`.evaluation`: answering prompts, exact match, intervals over seeds.
* :mod:`.lora`: LoRA adapters from scratch (Hu et al., 2022).
* :mod:`.pretrained`: the course assistant's tokenizer, shape and shipped weights.
"""
from .chat import (ASSISTANT, END, SPECIAL_TOKENS, USER, ChatTemplate, ChatTokenizer, encode_conversation,
                   encode_prompt, render_conversation)
from .evaluation import ExactMatch, exact_match, generate_answers, headline, seed_bootstrap_interval
from .lora import (LoRAConfig, LoRALinear, apply_lora, count_parameters, lora_layers, merge_lora, merged_state_dict,
                   unmerge_lora)
from .pretrained import (assistant_gpt_config, assistant_tokenizer, load_assistant_base, load_assistant_sft,
                         pretraining_text)
from .sft import SFTBatches, SFTTask, encode_example, masked_cross_entropy
from .tasks import TASKS, Example, InstructionSplit, SplitConfig, is_correct, make_split, normalise

__all__ = [
    "ASSISTANT", "END", "SPECIAL_TOKENS", "USER", "ChatTemplate", "ChatTokenizer", "encode_conversation",
    "encode_prompt", "render_conversation", "ExactMatch", "exact_match", "generate_answers", "headline",
    "seed_bootstrap_interval", "LoRAConfig", "LoRALinear", "apply_lora", "count_parameters", "lora_layers",
    "merge_lora", "merged_state_dict", "unmerge_lora", "assistant_gpt_config", "assistant_tokenizer",
    "load_assistant_base", "load_assistant_sft", "pretraining_text", "SFTBatches", "SFTTask", "encode_example",
    "masked_cross_entropy", "TASKS", "Example", "InstructionSplit", "SplitConfig", "is_correct", "make_split",
    "normalise",
]
