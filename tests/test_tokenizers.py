import json
import random

import pytest
import torch

from aigc_lib.data import load_tiny_shakespeare
from aigc_lib.lm import GPT2_SPLIT_PATTERN, ByteBPETokenizer, CharTokenizer

# Code points from several scripts and planes: ASCII, Latin-1, Greek, CJK, emoji,
# combining marks, digits of other scripts, surrogate-free astral characters, white space.
_RANGES = [(0x20, 0x7E), (0xA0, 0xFF), (0x370, 0x3FF), (0x4E00, 0x4E80), (0x1F600, 0x1F64F),
           (0x300, 0x36F), (0x660, 0x669), (0x10000, 0x1007F), (0x2160, 0x2188)]
_SPACES = [" ", "\n", "\t", "\r", "  ", "\u3000"]


def random_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 40)):
            if rng.random() < 0.2:
                parts.append(rng.choice(_SPACES))
            else:
                lo, hi = rng.choice(_RANGES)
                parts.append(chr(rng.randint(lo, hi)))
        out.append("".join(parts))
    return out


@pytest.fixture(scope="module")
def text() -> str:
    return load_tiny_shakespeare()[:200_000]


@pytest.fixture(scope="module")
def bpe(text) -> ByteBPETokenizer:
    return ByteBPETokenizer.train(text, vocab_size=400)


def test_char_tokenizer_round_trip_and_vocab():
    tok = CharTokenizer("hello world")
    assert tok.vocab_size == 8 and tok.chars == sorted(set("hello world"))
    assert tok.decode(tok.encode("hold the door"[:4])) == "hold"
    assert tok.encode("eh") == [tok.stoi["e"], tok.stoi["h"]]


def test_char_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        tok.encode("abz")
    with pytest.raises(IndexError, match="token id 3 is outside the vocabulary: expected 0 <= id < 3"):
        tok.decode([0, 3])
    with pytest.raises(IndexError, match="token id -1"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")


def test_split_pattern_covers_every_character():
    import re
    for s in random_strings(300, seed=1):
        assert "".join(re.findall(GPT2_SPLIT_PATTERN, s)) == s


def test_bpe_round_trip_on_random_unicode(bpe):
    for s in random_strings(500, seed=2):
        ids = bpe.encode(s)
        assert all(0 <= i < bpe.vocab_size for i in ids)
        assert bpe.decode(ids, errors="strict") == s


def test_bpe_round_trip_and_compression_on_shakespeare(bpe, text):
    sample = load_tiny_shakespeare()[500_000:520_000]  # not in the training slice
    ids = bpe.encode(sample)
    assert bpe.decode(ids) == sample
    assert len(ids) < 0.65 * len(sample.encode("utf-8"))  # the merges compress unseen text


def test_bpe_training_merges_the_most_frequent_pair_first():
    tok = ByteBPETokenizer.train("aaab aaab aaab cd", vocab_size=257)
    assert tok.vocab[256] == b"aa"
    # "aaa" -> (aa, a): non-overlapping, left to right.
    assert tok.encode("aaa") == [256, ord("a")]
    assert tok.token_strings(tok.encode("aaab")) == ["aa", "a", "b"]


def test_bpe_is_deterministic_and_rebuildable_from_merges(bpe, text):
    again = ByteBPETokenizer.train(text, vocab_size=400)
    assert again.vocab == bpe.vocab
    rebuilt = ByteBPETokenizer(list(bpe.merges))
    assert rebuilt.vocab == bpe.vocab
    s = text[:3000]
    assert rebuilt.encode(s) == bpe.encode(s)


def test_bpe_errors(bpe):
    with pytest.raises(IndexError, match=f"token id {bpe.vocab_size} is outside the vocabulary: "
                                         f"expected 0 <= id < {bpe.vocab_size}"):
        bpe.decode([1, bpe.vocab_size])
    with pytest.raises(ValueError, match="vocab_size must be >= 256"):
        ByteBPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="refers to an id that does not exist yet"):
        ByteBPETokenizer([(0, 300)])


def test_decode_of_a_cut_multibyte_character():
    tok = ByteBPETokenizer()
    ids = tok.encode("é")  # two bytes
    assert tok.decode(ids[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")


def _hf_bpe(text: str, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator([text], trainer)
    return hf


def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, reversed (char -> byte)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def test_bpe_learns_the_same_merges_as_huggingface_tokenizers(bpe, text):
    """Same algorithm, same data: the same set of merges (ties may be ordered differently)
    and the same tokens on held-out text."""
    hf = _hf_bpe(text, 400)
    assert hf.get_vocab_size() == bpe.vocab_size
    to_byte = _gpt2_byte_decoder()
    as_bytes = lambda s: bytes(to_byte[c] for c in s)  # noqa: E731
    hf_merges = [as_bytes(a) + as_bytes(b) for a, b in json.loads(hf.to_str())["model"]["merges"]]
    assert set(hf_merges) == set(bpe.vocab[256:])
    held_out = load_tiny_shakespeare()[600_000:610_000]
    hf_tokens = [as_bytes(hf.id_to_token(i)) for i in hf.encode(held_out).ids]
    ours = [bpe.vocab[i] for i in bpe.encode(held_out)]
    assert ours == hf_tokens


def test_decode_rejects_float_ids_strings_and_2d_batches(bpe):
    for tok in (CharTokenizer("abc"), bpe):
        with pytest.raises(TypeError, match="token ids must be integers .* got float 1.5"):
            tok.decode([0, 1.5])
        with pytest.raises(TypeError, match="got dtype torch.float32"):
            tok.decode(torch.tensor([0.0, 1.0]))
        with pytest.raises(TypeError, match="got a str"):
            tok.decode("012")
        with pytest.raises(ValueError, match=r"flat sequence of token ids \(1-D\), got shape \(2, 2\)"):
            tok.decode(torch.tensor([[0, 1], [1, 2]]))
    assert CharTokenizer("abc").decode(torch.tensor([2, 0], dtype=torch.int32)) == "ca"
