"""Preference pairs built by rules, and their tensors.

A *preference pair* is a prompt with two answers, one preferred (``chosen``)
and one not (``rejected``). Human labellers make them for InstructGPT
(Ouyang et al., 2022); here simple rules make them from tasks whose correct
answer is known, so every label is right and every pair is reproducible:

* ``"correct"``: the correct answer over a wrong one (one digit or letter changed);
* ``"format"``: the answer in the requested format over the same answer in a broken
  format (digits or letters spaced out, separators changed, case changed);
* ``"concise"``: the answer alone over the answer padded with filler words.

:func:`judge` is the matching deterministic rule judge, used to measure a win
rate between two models. :func:`encode_pairs` turns pairs into the padded
token tensors the reward model and DPO read.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from ..core.checks import check_int, check_str

__all__ = ["PreferencePair", "RULES", "wrong_answer", "broken_format", "padded_answer", "make_pairs",
           "split_by_prompt", "encode_pairs", "response_score", "judge", "FILLERS"]

RULES = ("correct", "format", "concise")

#: Filler phrases that pad a concise answer (the "concise" rule's rejected side).
FILLERS = (" i think", " ok", " well", " so yes", " that is it", " hmm")


@dataclass(frozen=True)
class PreferencePair:
    """A prompt, the preferred answer, the other answer, and the rule that ranked them."""

    prompt: str
    chosen: str
    rejected: str
    rule: str

    def __post_init__(self) -> None:
        for name in ("prompt", "chosen", "rejected"):
            check_str(getattr(self, name), name)
        if self.chosen == self.rejected:
            raise ValueError(f"chosen and rejected must differ, both are {self.chosen!r}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")


def wrong_answer(answer: str, rng: random.Random) -> str:
    """A plausible wrong answer: an integer off by 1 to 9, else one character replaced or two swapped."""
    check_str(answer, "answer")
    s = answer.strip()
    if s.lstrip("-").isdigit():
        value = int(s)
        offset = rng.choice([d for d in range(-9, 10) if d != 0 and value + d >= 0] or [1])
        return str(value + offset)
    chars = list(answer)
    for _ in range(20):
        i = rng.randrange(len(chars))
        if chars[i].isalnum():
            pool = "0123456789" if chars[i].isdigit() else "abcdefghijklmnopqrstuvwxyz"
            new = rng.choice([c for c in pool if c != chars[i].lower()])
            out = chars[:i] + [new] + chars[i + 1:]
            return "".join(out)
    return answer + answer[-1]   # no letter or digit to change: a duplicated last character is wrong too


def broken_format(answer: str, rng: random.Random) -> str:
    """The same content in a broken format.

    Comma lists lose their commas; words or numbers get their characters
    spaced out; if that changes nothing (one character), the answer is quoted.
    """
    check_str(answer, "answer")
    if ", " in answer:
        return answer.replace(", ", " ")
    if " " not in answer and len(answer) > 1:
        return " ".join(answer)
    if any(c.isalpha() for c in answer) and answer.upper() != answer:
        return answer.upper()
    return answer + "."


def padded_answer(answer: str, rng: random.Random, n_fillers: int = 1) -> str:
    """The answer followed by ``n_fillers`` filler phrases."""
    check_str(answer, "answer")
    n_fillers = check_int(n_fillers, "n_fillers", min=1)
    return answer + "".join(rng.choice(FILLERS) for _ in range(n_fillers))


_MAKERS: dict[str, Callable[[str, random.Random], str]] = {
    "correct": wrong_answer, "format": broken_format, "concise": padded_answer}


def make_pairs(examples: Iterable[tuple[str, str]], rules: Sequence[str] = RULES, seed: int = 0) -> list[PreferencePair]:
    """One pair per example and rule: ``examples`` are ``(prompt, correct answer)`` string pairs.

    The rules cycle over the examples (example ``i`` gets rule ``rules[i % len(rules)]``),
    so each rule covers a third of the data when all three are used.
    """
    rules = tuple(rules)
    if not rules:
        raise ValueError(f"rules must name at least one of {RULES}")
    for r in rules:
        if r not in RULES:
            raise ValueError(f"unknown rule {r!r}; expected one of {RULES}")
    rng = random.Random(check_int(seed, "seed"))
    pairs = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, (tuple, list)) or len(ex) != 2:
            raise TypeError(f"examples must be (prompt, answer) string pairs, got {ex!r} at position {i}")
        prompt, answer = ex
        check_str(prompt, f"examples[{i}] prompt")
        check_str(answer, f"examples[{i}] answer")
        rule = rules[i % len(rules)]
        rejected = _MAKERS[rule](answer, rng)
        if rejected == answer:         # cannot happen for the built-in rules; kept as a guard
            raise RuntimeError(f"rule {rule!r} did not change the answer {answer!r}")
        pairs.append(PreferencePair(prompt, answer, rejected, rule))
    if not pairs:
        raise ValueError("examples is empty: expected at least one (prompt, answer) pair")
    return pairs


def split_by_prompt(pairs: Sequence[PreferencePair], held_out_fraction: float = 0.2,
                    seed: int = 0) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split pairs into training and held-out sets so that no prompt is in both."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction!r}")
    prompts = sorted({p.prompt for p in pairs})
    random.Random(seed).shuffle(prompts)
    n_held = max(1, round(held_out_fraction * len(prompts)))
    held = set(prompts[:n_held])
    train = [p for p in pairs if p.prompt not in held]
    test = [p for p in pairs if p.prompt in held]
    if not train or not test:
        raise ValueError(f"cannot split {len(prompts)} distinct prompt(s) into two non-empty sets")
    return train, test


def _pad(rows: list[list[int]], length: int, pad_id: int) -> torch.Tensor:
    return torch.tensor([r + [pad_id] * (length - len(r)) for r in rows], dtype=torch.long)


def encode_pairs(pairs: Sequence[PreferencePair], encode: Callable[[str, str], tuple[list[int], list[int]]],
                 pad_id: int, max_length: int | None = None) -> tuple[torch.Tensor, ...]:
    """Token tensors for a list of pairs.

    Args:
        pairs: the preference pairs.
        encode: ``(prompt, answer) -> (prompt_ids, answer_ids)``: the chat template
            and tokenizer (the answer ids should end with the end-of-answer token).
        pad_id: the padding token id (right padding).
        max_length: the model's context; a longer sequence is an error.

    Returns:
        ``(chosen_ids, chosen_mask, rejected_ids, rejected_mask)``, each ``(N, T)``
        with one common ``T``; the masks are 1 on answer tokens (long dtype).
    """
    if not pairs:
        raise ValueError("pairs is empty")
    pad_id = check_int(pad_id, "pad_id", min=0)
    rows: dict[str, list[list[int]]] = {"chosen": [], "rejected": []}
    masks: dict[str, list[list[int]]] = {"chosen": [], "rejected": []}
    for i, p in enumerate(pairs):
        if not isinstance(p, PreferencePair):
            raise TypeError(f"pairs must hold PreferencePair objects, got {type(p).__name__} at position {i}")
        for side in ("chosen", "rejected"):
            prompt_ids, answer_ids = encode(p.prompt, getattr(p, side))
            prompt_ids, answer_ids = list(prompt_ids), list(answer_ids)
            if not prompt_ids or not answer_ids:
                raise ValueError(f"encode gave an empty prompt or answer for pair {i} ({side})")
            rows[side].append(prompt_ids + answer_ids)
            masks[side].append([0] * len(prompt_ids) + [1] * len(answer_ids))
    length = max(len(r) for side in rows.values() for r in side)
    if max_length is not None and length > max_length:
        raise ValueError(f"the longest encoded pair has {length} tokens, more than max_length={max_length}")
    return (_pad(rows["chosen"], length, pad_id), _pad(masks["chosen"], length, 0),
            _pad(rows["rejected"], length, pad_id), _pad(masks["rejected"], length, 0))


def response_score(response: str, answer: str) -> tuple[int, int, int]:
    """The rule judge's score of one response (compared lexicographically, higher is better).

    ``(correct, well_formatted, -extra_characters)``: ``correct`` is 1 when the
    response, stripped of surrounding white space, equals the answer; when it
    does not, ``well_formatted`` is 1 if the answer is still found in it
    unchanged (only padded), and ``extra_characters`` counts the characters
    beyond the answer's length (a shorter response wins among equals).
    """
    r = response.strip()
    correct = int(r == answer)
    well_formatted = int(correct or r.startswith(answer))
    return correct, well_formatted, -max(0, len(r) - len(answer))


def judge(response_a: str, response_b: str, answer: str) -> float:
    """1.0 if the rule judge prefers ``response_a``, 0.0 if it prefers ``response_b``, 0.5 for a tie."""
    a, b = response_score(response_a, answer), response_score(response_b, answer)
    return 1.0 if a > b else 0.0 if a < b else 0.5
