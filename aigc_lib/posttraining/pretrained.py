"""The course's small assistant: its tokenizer, its GPT shape, its pretraining text and shipped weights.

* :func:`assistant_tokenizer`: characters of Tiny Shakespeare, the digits and
  ``+ =`` (for the tasks of :mod:`~aigc_lib.posttraining.tasks`), plus the chat
  format's special tokens (:data:`~aigc_lib.posttraining.chat.SPECIAL_TOKENS`).
* :func:`assistant_gpt_config`: chapter 4's GPT, 4 layers, width 96, context 64.
* :func:`pretraining_text`: Tiny Shakespeare plus as much generated *skill text*
  (:func:`~aigc_lib.posttraining.tasks.skill_text`: "candle backwards is eldnac.",
  "23 plus 45 is 68.") on the training instances of the tasks only. A base model
  learns its skills in pretraining; instruction tuning teaches it to use them when
  asked, in the chat format.
* :func:`load_assistant_base` / :func:`load_assistant_sft`: the shipped weights
  (``aigc_lib/data/files/assistant_*.pt``), checked against their sha256.
  The base model was trained by ``scripts/train_assistant_base.py``, the SFT
  model (chapter 11's starting point) by ``scripts/train_assistant_sft.py``;
  :data:`BASE_TRAINING_RECORD` and :data:`SFT_TRAINING_RECORD` say how.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.download import verify
from ..data.shakespeare import load_tiny_shakespeare
from ..lm.gpt import GPT, GPTConfig
from ..lm.tokenizers import CharTokenizer
from .chat import SPECIAL_TOKENS, ChatTokenizer

__all__ = ["assistant_tokenizer", "assistant_gpt_config", "pretraining_text", "load_assistant_base",
           "load_assistant_sft", "BASE_WEIGHTS_PATH", "SFT_WEIGHTS_PATH", "BASE_WEIGHTS_SHA256",
           "SFT_WEIGHTS_SHA256", "BASE_TRAINING_RECORD", "SFT_TRAINING_RECORD"]

FILES = Path(__file__).resolve().parent.parent / "data" / "files"
BASE_WEIGHTS_PATH = FILES / "assistant_base_gpt.pt"
SFT_WEIGHTS_PATH = FILES / "assistant_sft_gpt.pt"
#: sha256 of the shipped weights; the loaders refuse any other file.
BASE_WEIGHTS_SHA256 = "84de02f465fb8dad38bdcecab2d2ec9263c17a9ce2d1d16fc26fe821de19eb92"
SFT_WEIGHTS_SHA256 = "893c2b56643d86b9f5878501ed81c3dcf422e34baf6585fccb3dd54540ebfd3c"
#: how the shipped weights were trained.
BASE_TRAINING_RECORD: dict = {
    "steps": 3000, "batch_size": 32, "block_size": 64, "device": "cpu", "threads": 1, "train_seconds": 620,
    "validation_loss": 0.984,
    "note": "scripts/train_assistant_base.py --write-weights (seed 0, lr 2e-3 cosine, 2026-12-07); one CPU thread "
            "of a 2-core machine shared with other jobs (about 330 s when the machine is quiet); the validation "
            "loss is on the last 5 % of the text, which is skill text"}
SFT_TRAINING_RECORD: dict = {
    "steps": 1500, "batch_size": 32, "device": "cpu", "threads": 1, "train_seconds": 274, "loss_on": "answer",
    "heldout_exact_match": 0.255,
    "note": "scripts/train_assistant_sft.py --write-weights (masked SFT of the shipped base on "
            "make_split(SplitConfig()).train, seed 0, lr 2e-3 cosine, 2026-12-07); one CPU thread of a 2-core "
            "machine shared with other jobs"}

#: characters added to Tiny Shakespeare's 65 for the tasks.
EXTRA_CHARS = "0123456789+="


def assistant_tokenizer() -> ChatTokenizer:
    """Tiny Shakespeare's characters + digits + ``+=`` (76 ids), then ``<|user|>``, ``<|assistant|>``, ``<|end|>``."""
    base = CharTokenizer(load_tiny_shakespeare() + EXTRA_CHARS)
    return ChatTokenizer(base, SPECIAL_TOKENS)


def assistant_gpt_config(vocab_size: int | None = None) -> GPTConfig:
    """The shipped model's shape: 4 layers, 4 heads, width 96, context 64 tokens (about 0.46 M parameters)."""
    if vocab_size is None:
        vocab_size = assistant_tokenizer().vocab_size
    return GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=96, dropout=0.0)


#: characters of skill text in the pretraining mixture (Tiny Shakespeare has 1,115,394).
SKILL_TEXT_CHARS = 1_100_000


def pretraining_text() -> str:
    """Tiny Shakespeare followed by as many characters of skill text (:func:`~.tasks.skill_text`).

    The skill text shows the eight tasks in plain text (``"23 plus 45 is 68."``) on the
    *training* instances of ``make_split(SplitConfig())`` (seed 0) only: the held-out
    words and number pairs never occur with their answers.
    """
    from .tasks import SplitConfig, make_split, skill_text
    held = make_split(SplitConfig(n_train_per_task=1)).heldout_instances
    return load_tiny_shakespeare() + "\n" + skill_text(SKILL_TEXT_CHARS, exclude=held, seed=0)


def _load(path: Path, sha256: str, device: torch.device | str) -> GPT:
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise ValueError(f"sha256 must be the 64-character hex digest of the weights file (a checksum is never "
                         f"optional), got {sha256!r}")
    verify(path, sha256, "sha256")
    model = GPT(assistant_gpt_config())
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def load_assistant_base(path: str | Path | None = None, sha256: str | None = None,
                        device: torch.device | str = "cpu") -> GPT:
    """The shipped pretrained base GPT (or the file ``path`` with its ``sha256``), in evaluation mode."""
    return _load(Path(path) if path is not None else BASE_WEIGHTS_PATH,
                 sha256 if sha256 is not None else BASE_WEIGHTS_SHA256, device)


def load_assistant_sft(path: str | Path | None = None, sha256: str | None = None,
                       device: torch.device | str = "cpu") -> GPT:
    """The shipped instruction-tuned GPT (masked SFT of the base; chapter 11 starts from it)."""
    return _load(Path(path) if path is not None else SFT_WEIGHTS_PATH,
                 sha256 if sha256 is not None else SFT_WEIGHTS_SHA256, device)
