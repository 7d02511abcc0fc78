"""Captioned MNIST, its tokenizer and the attribute checker (chapter 12)."""
import numpy as np
import pytest
import torch

from aigc_lib.multimodal import captions as C
from aigc_lib.multimodal.captions import (HELD_OUT_COMBOS, HELD_OUT_TEMPLATES, TEXT_CONTEXT, TRAIN_TEMPLATES,
                                          CaptionTokenizer, describe, make_captioned_mnist, random_captions)
from aigc_lib.multimodal.checker import AttributeChecker, checker_ceiling


@pytest.fixture(scope="module")
def small_splits():
    return make_captioned_mnist("train", copies=1, verbose=False).subset(slice(0, 400)), \
        make_captioned_mnist("test", copies=1, verbose=False).subset(slice(0, 300))


def test_describe_and_templates():
    assert describe(TRAIN_TEMPLATES[0], 7, 0, 1, 0) == "a small thick 7 at the top left"
    assert describe(TRAIN_TEMPLATES[0], 7) == "a 7"
    assert describe(TRAIN_TEMPLATES[0], size=1) == "a large digit"
    with pytest.raises(ValueError, match="digit"):
        describe(TRAIN_TEMPLATES[0], 10)


def _phrasing(caption: str) -> set[str]:
    """Words of a caption that are not attribute values: the template's own words."""
    values = set(C.DIGITS) | set(C.SIZES) | set(C.THICKNESSES) | {w for p in C.POSITIONS for w in p.split()}
    return set(caption.split()) - values


def test_split_is_disjoint(small_splits):
    train, test = small_splits
    combos = {(int(d), int(p)) for d, p in zip(train.digits, train.positions)}
    assert not combos & HELD_OUT_COMBOS
    assert bool(test.held_out_combo.any()) and not bool(train.held_out_combo.any())
    train_words = set().union(*(_phrasing(c) for c in train.captions))
    test_words = set().union(*(_phrasing(c) for c in test.captions))
    assert train_words.isdisjoint({"placed", "image", "strokes", "of", "with", "size", "an"})
    assert {"placed"} <= test_words
    # no caption text is shared between the two phrasings
    assert not set(train.captions) & set(test.captions)


def test_data_is_seeded_and_shaped(small_splits):
    train, _ = small_splits
    again = make_captioned_mnist("train", copies=1, verbose=False).subset(slice(0, 400))
    assert torch.equal(train.images, again.images) and train.captions == again.captions
    assert train.images.shape == (400, 1, 32, 32) and train.images.dtype == torch.float32
    assert 0 <= float(train.images.min()) and float(train.images.max()) <= 1
    assert train.tokens().shape == (400, TEXT_CONTEXT)


def test_tokenizer_round_trip_and_errors():
    tok = CaptionTokenizer()
    ids = tok("a small thick 7 at the top left")
    assert ids.shape == (1, TEXT_CONTEXT) and ids[0, 0] == tok.bos_id and ids[0, -1] == tok.pad_id
    assert tok.decode(ids[0]) == "a small thick 7 at the top left"
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        tok("a purple 7")
    with pytest.raises(ValueError, match="unknown word '17'"):
        tok("a 17")
    with pytest.raises(ValueError, match="text context of 16"):
        tok(" ".join(["a"] * 15))
    with pytest.raises(TypeError):
        tok(7)


def test_random_captions_keep_something():
    data = make_captioned_mnist("test", copies=1, verbose=False).subset(slice(0, 50))
    caps = random_captions(data, np.random.default_rng(0), keep_prob=0.0)
    assert all(c not in ("a digit", "digit", "a number") for c in caps)


def test_checker_reads_real_images_and_catches_wrong_captions(small_splits):
    _, test = small_splits
    checker = AttributeChecker()
    ceiling = checker_ceiling(checker, test)
    assert ceiling["digit"] >= 0.99 and ceiling["position"] >= 0.99 and ceiling["size"] >= 0.99
    assert ceiling["thickness"] >= 0.95
    wrong = test.attributes().clone()
    wrong[:, 0] = (wrong[:, 0] + 1) % 10           # a broken caption: every digit off by one
    wrong[:, 3] = (wrong[:, 3] + 1) % 5
    agree = checker.agreement(test.images, wrong)
    assert float(agree["digit"].float().mean()) < 0.05 and float(agree["position"].float().mean()) < 0.05
    with pytest.raises(ValueError, match="32, 32"):
        checker.measure(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        checker.measure(torch.full((2, 1, 32, 32), float("nan")))


def test_shipped_unreadable_list_matches_the_code():
    """The shipped list of left-out digits is what readable_digits computes (first 150 test digits)."""
    from aigc_lib.data.mnist import _load_subset
    from aigc_lib.multimodal.captions import load_unreadable_list, readable_digits
    from aigc_lib.multimodal.strokes import skeletonize

    mnist = _load_subset("test")
    ok = readable_digits(skeletonize(mnist.images[:150, 0].numpy() > 0.5), mnist.labels[:150])
    shipped = load_unreadable_list()["test"]
    assert {i for i in range(150) if not ok[i]} == {i for i in shipped if i < 150}
    assert 0 < len(shipped) < 200
    from aigc_lib.data.download import ChecksumError
    with pytest.raises(ChecksumError):
        load_unreadable_list(sha256="0" * 64)


def test_bad_inputs():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        make_captioned_mnist("validation")
    with pytest.raises(ValueError, match="copies"):
        make_captioned_mnist("test", copies=0)
    with pytest.raises(TypeError, match="copies"):
        make_captioned_mnist("test", copies=1.5)
    with pytest.raises(ValueError, match="token id"):
        CaptionTokenizer().decode([1, 99])
    with pytest.raises(ValueError, match="keep_prob"):
        random_captions(make_captioned_mnist("test", copies=1, verbose=False).subset(slice(0, 2)),
                        np.random.default_rng(0), keep_prob=1.5)
