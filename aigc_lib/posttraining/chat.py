"""A chat format: special tokens, a template, and a tokenizer that knows them.

A *base* language model continues text. An *assistant* is the same network
trained to continue a conversation in a fixed format. The format marks who
speaks with **special tokens**, ids that no ordinary text encodes to::

    <|user|>Reverse the word candle.<|end|><|assistant|>eldnac<|end|>

* :class:`ChatTokenizer` adds the special tokens to a character tokenizer:
  each special string becomes **one** id after the base vocabulary.
* :class:`ChatTemplate` says how a user turn and an assistant turn are
  written. The assistant format must hold the answer marker ``{content}``;
  what comes before it is the *generation prompt* (the model starts writing
  after it), what comes after it (``<|end|>``) is where the model must stop.
* :func:`encode_conversation` gives the ids of a conversation and a
  **loss mask**: ``True`` on the tokens of the assistant's replies (their text
  and their closing ``<|end|>``), the only tokens whose prediction is trained
  in masked supervised fine-tuning (:mod:`aigc_lib.posttraining.sft`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..core.checks import check_str
from ..lm.tokenizers import CharTokenizer, _check_ids

__all__ = ["USER", "ASSISTANT", "END", "SPECIAL_TOKENS", "ChatTokenizer", "ChatTemplate", "Message",
           "render_conversation", "encode_conversation", "encode_prompt"]

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
#: The special tokens of the course's chat format, in id order (after the base vocabulary).
SPECIAL_TOKENS = (USER, ASSISTANT, END)
#: The answer marker a template's assistant format must contain (once).
CONTENT = "{content}"

Message = dict  # {"role": "user" | "assistant", "content": str}


class ChatTokenizer:
    """A :class:`~aigc_lib.lm.tokenizers.CharTokenizer` plus special tokens, one id each.

    Ids ``0 .. base.vocab_size - 1`` are the base characters; the special
    tokens follow in the order given. :meth:`encode` first splits the text at
    the special strings, so ``"<|end|>"`` is one id, never seven characters.

    Args:
        base: the character tokenizer.
        special_tokens: strings such as ``"<|end|>"``; none may be a single
            character of the base vocabulary.
    """

    def __init__(self, base: CharTokenizer, special_tokens: Sequence[str] = SPECIAL_TOKENS) -> None:
        if not isinstance(base, CharTokenizer):
            raise TypeError(f"base must be a CharTokenizer, got {type(base).__name__}")
        if isinstance(special_tokens, str) or not isinstance(special_tokens, (list, tuple)):
            raise TypeError(f"special_tokens must be a list or tuple of strings, got {type(special_tokens).__name__}")
        if not special_tokens:
            raise ValueError("special_tokens must not be empty (a chat format needs at least an end token)")
        for s in special_tokens:
            check_str(s, "each special token")
            if len(s) < 2:
                raise ValueError(f"special token {s!r} must be at least 2 characters long, so that it cannot be "
                                 f"confused with an ordinary character")
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"special_tokens has duplicates: {list(special_tokens)}")
        self.base = base
        self.special_tokens: tuple[str, ...] = tuple(special_tokens)
        self.special_ids: dict[str, int] = {s: base.vocab_size + i for i, s in enumerate(self.special_tokens)}
        # Longest first, so that no special token is cut by a shorter one it contains.
        alternatives = sorted(self.special_tokens, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(re.escape(s) for s in alternatives) + ")")

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size + len(self.special_tokens)

    def token_id(self, special: str) -> int:
        """The id of one special token, e.g. ``token_id("<|end|>")``."""
        if special not in self.special_ids:
            raise KeyError(f"{special!r} is not a special token of this tokenizer; it has {list(self.special_tokens)}")
        return self.special_ids[special]

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``: special strings become their one id, every other character its base id."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        ids: list[int] = []
        for piece in self._split.split(text):
            if piece in self.special_ids:
                ids.append(self.special_ids[piece])
            elif piece:
                ids.extend(self.base.encode(piece))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (special ids written as their strings)."""
        out = []
        n = self.base.vocab_size
        for i in _check_ids(ids, self.vocab_size):
            out.append(self.base.chars[i] if i < n else self.special_tokens[i - n])
        return "".join(out)


@dataclass(frozen=True)
class ChatTemplate:
    """How the turns of a conversation are written.

    Attributes:
        user_format: a user turn; ``{content}`` is replaced by the user's text.
        assistant_format: an assistant turn; must contain ``{content}`` (the answer
            marker) once. The text before it is the generation prompt; the text
            after it must be non-empty: it is how the model says it has finished.
        system: optional text put before the first turn (no loss on it).
    """

    user_format: str = USER + CONTENT + END
    assistant_format: str = ASSISTANT + CONTENT + END
    system: str = ""

    def __post_init__(self) -> None:
        for name in ("user_format", "assistant_format"):
            value = getattr(self, name)
            check_str(value, name)
            count = value.count(CONTENT)
            if count != 1:
                raise ValueError(f"{name} must contain the answer marker {CONTENT} exactly once (where the "
                                 f"{'answer' if name == 'assistant_format' else 'user text'} goes), found it "
                                 f"{count} times in {value!r}")
        if not self.assistant_suffix:
            raise ValueError(f"assistant_format {self.assistant_format!r} must end with a stop marker after "
                             f"{CONTENT} (e.g. {END!r}); without it the model cannot learn where its answer ends")
        if not isinstance(self.system, str):
            raise TypeError(f"system must be a string, got {type(self.system).__name__}")

    @property
    def assistant_prefix(self) -> str:
        """The generation prompt: what is written before the answer, e.g. ``"<|assistant|>"``."""
        return self.assistant_format.split(CONTENT)[0]

    @property
    def assistant_suffix(self) -> str:
        """The stop marker after the answer, e.g. ``"<|end|>"``."""
        return self.assistant_format.split(CONTENT)[1]

    def user_turn(self, content: str) -> str:
        return self.user_format.replace(CONTENT, check_str(content, "content", non_empty=False))

    def assistant_turn(self, content: str) -> str:
        return self.assistant_format.replace(CONTENT, check_str(content, "content", non_empty=False))


def _check_messages(messages: Sequence[Message]) -> None:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError(f"messages must be a non-empty list of {{'role': ..., 'content': ...}} dicts, got {messages!r}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise ValueError(f"messages[{i}] must be a dict with exactly the keys 'role' and 'content', got {m!r}")
        if m["role"] not in ("user", "assistant"):
            raise ValueError(f"messages[{i}]['role'] must be 'user' or 'assistant', got {m['role']!r}")
        if not isinstance(m["content"], str):
            raise TypeError(f"messages[{i}]['content'] must be a string, got {type(m['content']).__name__}")


def render_conversation(messages: Sequence[Message], template: ChatTemplate = ChatTemplate(),
                        add_generation_prompt: bool = False) -> str:
    """The text of a conversation; with ``add_generation_prompt`` it ends with the assistant prefix."""
    _check_messages(messages)
    parts = [template.system]
    for m in messages:
        parts.append(template.user_turn(m["content"]) if m["role"] == "user" else template.assistant_turn(m["content"]))
    if add_generation_prompt:
        parts.append(template.assistant_prefix)
    return "".join(parts)


def encode_conversation(messages: Sequence[Message], tokenizer: ChatTokenizer,
                        template: ChatTemplate = ChatTemplate()) -> tuple[list[int], list[bool]]:
    """Ids of a conversation and its loss mask.

    Returns:
        ``(ids, mask)``, two lists of the same length ``L``. ``mask[i]`` is ``True``
        when token ``i`` belongs to an assistant reply: its text and its stop
        marker (not the assistant prefix, which the format supplies).
    """
    _check_messages(messages)
    ids = tokenizer.encode(template.system)
    mask = [False] * len(ids)
    for m in messages:
        if m["role"] == "user":
            piece = tokenizer.encode(template.user_turn(m["content"]))
            ids += piece
            mask += [False] * len(piece)
        else:
            prefix = tokenizer.encode(template.assistant_prefix)
            answer = tokenizer.encode(m["content"] + template.assistant_suffix)
            ids += prefix + answer
            mask += [False] * len(prefix) + [True] * len(answer)
    return ids, mask


def encode_prompt(prompt: str, tokenizer: ChatTokenizer, template: ChatTemplate = ChatTemplate()) -> list[int]:
    """Ids of a one-turn prompt followed by the generation prompt: what the model reads before answering."""
    return tokenizer.encode(render_conversation([{"role": "user", "content": prompt}], template,
                                                add_generation_prompt=True))
