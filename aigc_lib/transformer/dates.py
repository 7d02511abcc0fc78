"""A sequence-to-sequence task generated offline: dates written many ways -> ISO 8601.

``"Tuesday, March 4, 2031"``, ``"04.03.2031"``, ``"4-mar-2031"`` all map to
``"2031-03-04"``. The data are produced on the fly from a seed (no download),
so every reader gets the same examples. Every format states the year with four
digits and fixes the order of day and month, so each input has one right answer.

Held-out examples use **dates that never occur in training** (in any format).
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import torch

from ..core.checks import check_float, check_int

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)


def _formats(d: dt.date) -> list[str]:
    day, month, year = d.day, MONTHS[d.month - 1], d.year
    mon, wd = month[:3], WEEKDAYS[d.weekday()]
    return [
        f"{day} {month} {year}",                 # 4 March 2031
        f"{day:02d} {month} {year}",             # 04 March 2031
        f"{month} {day}, {year}",                # March 4, 2031
        f"{mon} {day}, {year}",                  # Mar 4, 2031
        f"{mon} {day:02d} {year}",               # Mar 04 2031
        f"{wd}, {month} {day}, {year}",          # Tuesday, March 4, 2031
        f"{wd[:3]} {day} {mon} {year}",          # Tue 4 Mar 2031
        f"{day:02d}.{d.month:02d}.{year}",       # 04.03.2031 (day first)
        f"{d.month}/{day}/{year}",               # 3/4/2031 (US: month first)
        f"{day}-{mon.lower()}-{year}",           # 4-mar-2031
        f"{year}/{d.month:02d}/{day:02d}",       # 2031/03/04
        f"the {day}{_suffix(day)} of {month} {year}",   # the 4th of March 2031
    ]


def _suffix(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


N_FORMATS = len(_formats(FIRST_DAY))


def format_date(d: dt.date, style: int, case: str = "as is") -> str:
    """Write ``d`` in format number ``style`` (0..N_FORMATS-1); ``case`` is "as is", "lower" or "upper"."""
    if not isinstance(d, dt.date):
        raise TypeError(f"d must be a datetime.date, got {type(d).__name__}")
    style = check_int(style, "style")
    if not 0 <= style < N_FORMATS:
        raise ValueError(f"style must be in 0..{N_FORMATS - 1}, got {style}")
    text = _formats(d)[style]
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case != "as is":
        raise ValueError(f"case must be 'as is', 'lower' or 'upper', got {case!r}")
    return text


def random_date_pairs(n: int, seed: int = 0, dates: list[dt.date] | None = None) -> list[tuple[str, str]]:
    """``n`` pairs ``(human-written date, ISO date)`` with random dates, formats and letter case.

    Args:
        dates: draw the dates from this list (default: any day of 1900–2099).
    """
    n = check_int(n, "n", min=0)
    seed = check_int(seed, "seed")
    if dates is not None:
        if isinstance(dates, (str, dt.date)) or not hasattr(dates, "__len__") or len(dates) == 0 or not all(
                isinstance(d, dt.date) for d in dates):
            raise ValueError(f"dates must be a non-empty list of datetime.date, got {str(dates)[:60]!r}")
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days
    pairs = []
    for _ in range(n):
        d = rng.choice(dates) if dates is not None else FIRST_DAY + dt.timedelta(days=rng.randrange(span + 1))
        case = rng.choices(["as is", "lower", "upper"], weights=[0.7, 0.15, 0.15])[0]
        pairs.append((format_date(d, rng.randrange(N_FORMATS), case), d.isoformat()))
    return pairs


def split_dates(test_fraction: float = 0.1, seed: int = 0) -> tuple[list[dt.date], list[dt.date]]:
    """Split the days of 1900–2099 into disjoint train and test lists."""
    test_fraction = check_float(test_fraction, "test_fraction", min=0.0, max=1.0, min_open=True, max_open=True)
    seed = check_int(seed, "seed")
    days = [FIRST_DAY + dt.timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    random.Random(seed).shuffle(days)
    n_test = int(len(days) * test_fraction)
    return days[n_test:], days[:n_test]


class CharVocab:
    """A character vocabulary with the special tokens ``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2), ``<unk>`` (3).

    Args:
        chars: the characters, in id order after the special tokens.
    """

    SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, chars: str) -> None:
        if not isinstance(chars, str):
            raise TypeError(f"chars must be a string of distinct characters, got {type(chars).__name__}")
        if len(set(chars)) != len(chars):
            raise ValueError("characters of a CharVocab must be unique")
        self.itos = self.SPECIALS + list(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Character ids; unknown characters become ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """Text of ``ids``: stops at the first ``<eos>``, skips ``<pad>`` and ``<bos>``."""
        batch_hint = "decode a batch row by row: [vocab.decode(row) for row in ids]"
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1 or ids.is_floating_point():
                raise ValueError(f"decode expects one sequence of integer ids (T,), got shape {tuple(ids.shape)} "
                                 f"and dtype {ids.dtype}; {batch_hint}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, (list, tuple)):
                raise ValueError(f"decode expects one sequence of integer ids, got a nested list; {batch_hint}")
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"decode expects integer ids, got {i!r}")
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else "<unk>")
        return "".join(out)


def date_vocab() -> CharVocab:
    """Every character any date format can produce (shared by source and target)."""
    import string
    return CharVocab(string.digits + string.ascii_letters + " ,./-")


def encode_pairs(pairs: list[tuple[str, str]], vocab: CharVocab, max_src_len: int,
                 max_tgt_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad pairs into ``src (N, max_src_len)`` and ``tgt (N, max_tgt_len)`` = ``<bos> target <eos> <pad>...``."""
    max_src_len = check_int(max_src_len, "max_src_len", min=1)
    max_tgt_len = check_int(max_tgt_len, "max_tgt_len", min=2, note=" (<bos> and <eos>)")
    if not isinstance(vocab, CharVocab):
        raise TypeError(f"vocab must be a CharVocab, got {type(vocab).__name__}")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise TypeError(f"pairs must be (source text, target text) string pairs, got {pair!r} at index {i}")
    src = torch.full((len(pairs), max_src_len), vocab.pad_id, dtype=torch.long)
    tgt = torch.full((len(pairs), max_tgt_len), vocab.pad_id, dtype=torch.long)
    for i, (s, t) in enumerate(pairs):
        s_ids, t_ids = vocab.encode(s), vocab.encode(t, bos=True, eos=True)
        if len(s_ids) > max_src_len or len(t_ids) > max_tgt_len:
            raise ValueError(f"pair {i} ({s!r} -> {t!r}) needs lengths {len(s_ids)} and {len(t_ids)}, "
                             f"more than max_src_len={max_src_len} / max_tgt_len={max_tgt_len}")
        src[i, :len(s_ids)] = torch.tensor(s_ids)
        tgt[i, :len(t_ids)] = torch.tensor(t_ids)
    return src, tgt


@dataclass
class DateData:
    """Train and test pairs, their tensors and the vocabulary (see :func:`load_dates`)."""

    vocab: CharVocab
    train_pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]]
    train_src: torch.Tensor
    train_tgt: torch.Tensor
    test_src: torch.Tensor
    test_tgt: torch.Tensor


#: Longest input of any format ("Wednesday, September 30, 2031" has 29 characters) and target (BOS + 10 + EOS).
MAX_SRC_LEN, MAX_TGT_LEN = 32, 12


def load_dates(n_train: int = 20000, n_test: int = 1000, seed: int = 0) -> DateData:
    """The dates task: ``n_train`` training and ``n_test`` held-out pairs on disjoint dates."""
    n_train = check_int(n_train, "n_train", min=1)
    n_test = check_int(n_test, "n_test", min=1)
    seed = check_int(seed, "seed")
    train_days, test_days = split_dates(seed=seed)
    vocab = date_vocab()
    train = random_date_pairs(n_train, seed=seed + 1, dates=train_days)
    test = random_date_pairs(n_test, seed=seed + 2, dates=test_days)
    return DateData(vocab, train, test, *encode_pairs(train, vocab, MAX_SRC_LEN, MAX_TGT_LEN),
                    *encode_pairs(test, vocab, MAX_SRC_LEN, MAX_TGT_LEN))
