"""Tokenizers: text to integer ids and back.

* :class:`CharTokenizer`: one id per distinct character of a training text.
* :class:`ByteBPETokenizer`: byte-level byte-pair encoding (BPE), built from
  scratch. It starts from the 256 possible byte values, so *any* string can be
  encoded, and learns merges of frequent neighbouring pairs (Sennrich et al.,
  2016; the byte-level form of GPT-2, Radford et al., 2019).

Both satisfy ``decode(encode(s)) == s`` (for the character tokenizer: for any
``s`` made of characters it has seen).
"""
from __future__ import annotations

import operator
import re
from collections import Counter
from typing import Iterable, Sequence

from ..core.checks import check_choice, check_int

__all__ = ["CharTokenizer", "ByteBPETokenizer", "GPT2_SPLIT_PATTERN"]

#: Pre-tokenisation pattern in the spirit of GPT-2's: English contractions,
#: words with one optional leading space, numbers, runs of other symbols, and
#: white space. It uses only the standard ``re`` module: ``[^\W\d_]`` is "a
#: letter". Every character of a string falls into exactly one chunk, so
#: joining the chunks gives the string back.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def _as_id(i: object) -> int:
    if isinstance(i, bool) or getattr(i, "dtype", None) == "bool" or (
            hasattr(i, "dtype") and str(getattr(i, "dtype")) in ("torch.bool", "bool")):
        raise TypeError(f"token ids must be integers (a flat list or a 1-D integer tensor), got the bool {i!r}")
    try:
        return operator.index(i)          # ints, numpy ints, one-element integer tensors
    except TypeError:
        what = f"dtype {i.dtype}" if hasattr(i, "dtype") else f"{type(i).__name__} {i!r}"
        raise TypeError(f"token ids must be integers (a flat list or a 1-D integer tensor), got {what}") from None


def _check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"decode expects token ids, got a {type(ids).__name__}: {ids[:20]!r}")
    if getattr(ids, "ndim", 1) != 1:
        raise ValueError(f"decode expects a flat sequence of token ids (1-D), got shape {tuple(ids.shape)}; "
                         f"decode one row at a time")
    ids = [_as_id(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise IndexError(f"token id {bad[0]} is outside the vocabulary: expected 0 <= id < {vocab_size}")
    return ids


class CharTokenizer:
    """One token per character: the vocabulary is the sorted set of characters of ``text``.

    Args:
        text: the training text, e.g. Tiny Shakespeare (65 distinct characters).
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string (the training text), got {type(text).__name__}; "
                            f"join a list of texts first, e.g. CharTokenizer(''.join(texts))")
        if not text:
            raise ValueError("text must be a non-empty string to build the vocabulary, got ''")
        self.chars: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; a character not in the vocabulary raises ``ValueError``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary of {self.vocab_size} "
                             f"characters this tokenizer was built from") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; an id outside ``[0, vocab_size)`` raises ``IndexError``."""
        return "".join(self.chars[i] for i in _check_ids(ids, self.vocab_size))


def _pair_counts(words: dict[tuple[int, ...], int]) -> Counter:
    counts: Counter = Counter()
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] += freq
    return counts


def _merge(word: Sequence[int], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of ``pair`` in ``word`` (left to right) by ``new_id``."""
    out: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i < n - 1 and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def split_covering(pattern: re.Pattern, text: str) -> list[str]:
    """The matches of ``pattern`` in ``text``, which must cover every character (else ``decode(encode(s)) != s``).

    Raises:
        ValueError: naming the first character that no match covers and its position.
    """
    chunks, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() != pos or (m.end() == m.start() and m.start() < len(text)):
            at = pos if m.start() != pos else m.start()
            raise ValueError(f"pattern must match every character of the text, so that decode(encode(s)) == s; "
                             f"it skipped {text[at]!r} at position {at} (pattern {pattern.pattern!r})")
        if m.end() > m.start():
            chunks.append(m.group())
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"pattern must match every character of the text, so that decode(encode(s)) == s; it "
                         f"skipped {text[pos]!r} at position {pos} (pattern {pattern.pattern!r})")
    return chunks


class ByteBPETokenizer:
    """Byte-level BPE: ids 0-255 are bytes; each learned merge adds one id.

    Training (:meth:`train`) splits the text into chunks with
    :data:`GPT2_SPLIT_PATTERN` (so merges never cross a word boundary), then
    repeatedly finds the most frequent pair of neighbouring ids and replaces it
    by a new id. Ties go to the smallest pair of ids, so training is
    deterministic. Encoding applies the learned merges in the order they were
    learned; decoding concatenates the bytes of each id and decodes UTF-8.

    Example::

        tok = ByteBPETokenizer.train(text, vocab_size=512)
        ids = tok.encode("To be, or not to be")
        assert tok.decode(ids) == "To be, or not to be"
    """

    def __init__(self, merges: Sequence[tuple[int, int]] = (), pattern: str = GPT2_SPLIT_PATTERN) -> None:
        self.merges: dict[tuple[int, int], int] = {}
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a regular expression string, got {type(pattern).__name__}")
        for merge in merges:
            if not isinstance(merge, (tuple, list)) or len(merge) != 2:
                raise TypeError(f"merges must be pairs of token ids (a, b), got {merge!r}")
            a, b = (check_int(m, "merge id", min=0) for m in merge)
            if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
                raise ValueError(f"merge ({a}, {b}) refers to an id that does not exist yet "
                                 f"(ids so far: 0..{len(self.vocab) - 1})")
            self.merges[(a, b)] = len(self.vocab)
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.pattern = pattern
        try:
            self._split = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"pattern must be a valid regular expression, got {pattern!r} ({e})") from None
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = GPT2_SPLIT_PATTERN) -> "ByteBPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text``.

        Training stops early if no pair occurs at least twice.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string (the training text), got {type(text).__name__}")
        vocab_size = check_int(vocab_size, "vocab_size", min=256, note=" (the byte alphabet)")
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a regular expression string, got {type(pattern).__name__}")
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"pattern must be a valid regular expression, got {pattern!r} ({e})") from None
        chunk_counts = Counter(split_covering(compiled, text))
        # Chunks as tuples of ids, with their frequency; dict order = first appearance in the text.
        words: dict[tuple[int, ...], int] = {}
        for chunk, freq in chunk_counts.items():
            key = tuple(chunk.encode("utf-8"))
            words[key] = words.get(key, 0) + freq
        merges: list[tuple[int, int]] = []
        counts = _pair_counts(words)
        for new_id in range(256, vocab_size):
            if not counts:
                break
            # Most frequent pair; ties go to the smallest pair of ids.
            pair, best = max(counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
            if best < 2:
                break
            merges.append(pair)
            # Update only the words that contain the pair, and the pair counts they contribute.
            changed: dict[tuple[int, ...], int] = {}
            for word, freq in list(words.items()):
                if len(word) < 2 or pair[0] not in word:
                    continue
                if not any(p == pair for p in zip(word, word[1:])):
                    continue
                new_word = _merge(word, pair, new_id)
                del words[word]
                for p in zip(word, word[1:]):
                    counts[p] -= freq
                    if counts[p] <= 0:
                        del counts[p]
                changed[new_word] = changed.get(new_word, 0) + freq
            for word, freq in changed.items():
                words[word] = words.get(word, 0) + freq
                for p in zip(word, word[1:]):
                    counts[p] += freq
        return cls(merges, pattern)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        word = tuple(chunk.encode("utf-8"))
        while len(word) >= 2:
            # The pair learned earliest (smallest new id) is merged first.
            pair = min(zip(word, word[1:]), key=lambda p: self.merges.get(p, 1 << 62))
            if pair not in self.merges:
                break
            word = _merge(word, pair, self.merges[pair])
        if len(self._cache) < 100_000:
            self._cache[chunk] = word
        return word

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (any Python string)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        ids: list[int] = []
        for chunk in split_covering(self._split, text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The raw bytes of ``ids``; an id outside ``[0, vocab_size)`` raises ``IndexError``."""
        return b"".join(self.vocab[i] for i in _check_ids(ids, self.vocab_size))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """The text of ``ids``.

        A slice of ids may end in the middle of a multi-byte character; such
        bytes become U+FFFD with ``errors="replace"`` (use ``"strict"`` to raise).
        """
        check_choice(errors, "errors", ("replace", "strict", "ignore", "backslashreplace"))
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id as readable text (bytes that are not valid UTF-8 on their own show as U+FFFD)."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in _check_ids(ids, self.vocab_size)]
