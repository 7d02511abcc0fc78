import datetime as dt

import pytest
import torch

from aigc_lib.transformer import MAX_SRC_LEN
from aigc_lib.transformer import (N_FORMATS, CharVocab, date_vocab, encode_pairs, format_date, load_dates,
                                  random_date_pairs, split_dates)


def test_every_format_of_a_date():
    d = dt.date(2031, 3, 4)
    texts = [format_date(d, s) for s in range(N_FORMATS)]
    assert "4 March 2031" in texts and "04.03.2031" in texts and "3/4/2031" in texts
    assert "Tuesday, March 4, 2031" in texts and "the 4th of March 2031" in texts
    assert len(set(texts)) == N_FORMATS
    assert format_date(dt.date(2031, 3, 22), 11) == "the 22nd of March 2031"
    assert format_date(dt.date(2031, 3, 12), 11, case="upper") == "THE 12TH OF MARCH 2031"
    with pytest.raises(ValueError, match="style"):
        format_date(d, N_FORMATS)
    with pytest.raises(ValueError, match="case"):
        format_date(d, 0, case="title")


def test_pairs_are_correct_and_deterministic():
    pairs = random_date_pairs(200, seed=3)
    assert pairs == random_date_pairs(200, seed=3)
    assert pairs != random_date_pairs(200, seed=4)
    for src, tgt in pairs:
        d = dt.date.fromisoformat(tgt)
        assert src.lower() in [format_date(d, s).lower() for s in range(N_FORMATS)]


def test_longest_input_fits():
    longest = max(len(format_date(dt.date(2000, 9, 27), s)) for s in range(N_FORMATS))
    assert longest <= MAX_SRC_LEN


def test_train_and_test_dates_are_disjoint():
    train, test = split_dates(test_fraction=0.1, seed=0)
    assert not set(train) & set(test)
    assert len(train) + len(test) == (dt.date(2099, 12, 31) - dt.date(1900, 1, 1)).days + 1
    data = load_dates(n_train=500, n_test=100)
    assert not {t for _, t in data.train_pairs} & {t for _, t in data.test_pairs}
    assert data.train_src.shape == (500, 32) and data.test_tgt.shape == (100, 12)


def test_vocab_round_trip_and_encoding():
    vocab = date_vocab()
    text = "Tuesday, March 4, 2031 / 04.03-x"
    assert vocab.decode(vocab.encode(text)) == text
    ids = vocab.encode("12", bos=True, eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids + [5, 6]) == "12"                       # stops at EOS
    assert vocab.encode("é") == [vocab.unk_id]
    src, tgt = encode_pairs([("3/4/2031", "2031-03-04")], vocab, 10, 12)
    assert vocab.decode(src[0]) == "3/4/2031" and vocab.decode(tgt[0]) == "2031-03-04"
    assert tgt[0, 0] == vocab.bos_id and tgt[0, 11] == vocab.eos_id
    with pytest.raises(ValueError, match="max_src_len=4"):
        encode_pairs([("3/4/2031", "2031-03-04")], vocab, 4, 12)
    with pytest.raises(ValueError, match="unique"):
        CharVocab("aa")


def test_decode_rejects_a_batch_with_a_clear_error():
    vocab = date_vocab()
    ids = torch.tensor(vocab.encode("2031-03-04", bos=True, eos=True))
    assert vocab.decode(ids) == "2031-03-04"
    with pytest.raises(ValueError, match=r"one sequence of integer ids \(T,\), got shape \(1, 12\)"):
        vocab.decode(ids[None])                   # e.g. the (1, T) output of a batched decoder
    with pytest.raises(ValueError, match="dtype torch.float32"):
        vocab.decode(ids.float())
    with pytest.raises(ValueError, match="nested list"):
        vocab.decode(ids[None].tolist())
