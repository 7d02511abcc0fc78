"""Tiny Shakespeare: 1 MB of Shakespeare's plays (Karpathy's char-rnn data set).

The text is public domain and ships inside this package, so it loads
offline. If the file is missing (say, a partial install) it is downloaded
once and cached; either way its SHA-256 checksum is verified.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .download import cache_dir, download, verify

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
NUM_BYTES = 1_115_394


def shakespeare_path() -> Path:
    """Path of a verified copy of the text: the shipped one, else a cached download."""
    shipped = Path(str(resources.files("aigc_lib.data").joinpath("files/tinyshakespeare.txt")))
    if shipped.is_file():
        verify(shipped, SHA256)
        return shipped
    return download(URL, cache_dir() / "tinyshakespeare.txt", SHA256)


def load_tiny_shakespeare() -> str:
    """The whole text, 1,115,394 characters (65 distinct)."""
    return shakespeare_path().read_text(encoding="utf-8")
