"""Download once, verify a checksum, keep in a cache."""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..core.checks import check_float


class ChecksumError(RuntimeError):
    """A file's checksum is not the one expected."""


class CacheNotWritableError(PermissionError):
    """The download cache folder (``$AIGC_DATA_DIR`` or ``root``) cannot be written."""


#: Errors that mean "the network or the server did not deliver" (as opposed to a local problem).
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, socket.timeout, http.client.HTTPException)


def cache_dir() -> Path:
    """Where data sets are cached: ``$AIGC_DATA_DIR`` or ``~/.cache/aigc_lib``."""
    root = os.environ.get("AIGC_DATA_DIR")
    return Path(root) if root and root.strip() else Path.home() / ".cache" / "aigc_lib"


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``algorithm`` is any name ``hashlib`` knows)."""
    if not isinstance(algorithm, str) or algorithm not in hashlib.algorithms_available:
        raise ValueError(f"algorithm must be a hash name hashlib knows, such as 'sha256' or 'md5', got {algorithm!r}")
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"path must be a file path (str or Path), got {path!r}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no file at {path}" + (" (it is a folder)" if Path(path).is_dir() else "")
                                + ": expected a file to hash")
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: str, algorithm: str = "sha256") -> None:
    """Raise :class:`ChecksumError` unless the file's digest equals ``expected``."""
    if not isinstance(expected, str) or not expected:
        raise TypeError(f"expected must be a hex digest string, got {expected!r}")
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
        CacheNotWritableError: the folder of ``dest`` cannot be written.
        OSError (``urllib.error.URLError``, ``TimeoutError``): the network or the server did not
            answer within ``timeout`` seconds.
    """
    if not isinstance(url, str) or not url:
        raise TypeError(f"url must be a non-empty string, got {url!r}")
    timeout = check_float(timeout, "timeout", min=0.0, min_open=True, note=" (seconds)")
    if not isinstance(expected, str) or not expected:
        raise TypeError(f"expected must be the file's hex digest (a checksum is never optional), got {expected!r}")
    dest = Path(dest)
    if dest.is_file():
        verify(dest, expected, algorithm)
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise CacheNotWritableError(f"cannot write the download folder {dest.parent} ({type(e).__name__}: "
                                    f"{e.strerror or e}): expected a writable folder; set AIGC_DATA_DIR to "
                                    f"one") from None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        verify(tmp, expected, algorithm)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
