"""Download once, verify a checksum, keep in a cache."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path


class ChecksumError(RuntimeError):
    """A file's checksum is not the one expected."""


def cache_dir() -> Path:
    """Where data sets are cached: ``$AIGC_DATA_DIR`` or ``~/.cache/aigc_lib``."""
    root = os.environ.get("AIGC_DATA_DIR")
    return Path(root) if root else Path.home() / ".cache" / "aigc_lib"


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``algorithm`` is any name ``hashlib`` knows)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: str, algorithm: str = "sha256") -> None:
    """Raise :class:`ChecksumError` unless the file's digest equals ``expected``."""
    got = file_hash(path, algorithm)
    if got != expected:
        raise ChecksumError(f"{algorithm} of {Path(path).name} is {got}, expected {expected}")


def download(url: str, dest: str | os.PathLike, expected: str, algorithm: str = "sha256",
             timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest`` unless a verified copy is there already.

    The file is written to a temporary name, checked, and only then renamed,
    so ``dest`` never holds a partial or corrupt download.

    Raises:
        ChecksumError: the downloaded file has the wrong checksum.
        OSError (``urllib.error.URLError``): the network could not be reached.
    """
    dest = Path(dest)
    if dest.is_file():
        verify(dest, expected, algorithm)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        verify(tmp, expected, algorithm)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
