"""Progress bars that leave one line in a saved notebook.

In a terminal, :func:`progress_bar` is an ordinary tqdm bar. Inside a Jupyter kernel, tqdm's redraws would each be
stored as a stream output when the notebook is executed and saved (``jupyter nbconvert --execute``, the course's
real runs): the site then showed every redraw, a wall of up to 71 lines (chapter 3). There the bar writes into one
display output instead (:class:`NotebookLine`), which each redraw replaces: JupyterLab shows it moving, and the
saved notebook and the site keep its last state, one line.
"""
from __future__ import annotations

import io
from typing import Any, Callable, Iterable

from tqdm import tqdm

from .trainer_config import _in_notebook


class NotebookLine(io.TextIOBase):
    """A text file for tqdm that shows what it writes as ONE updating display output in a Jupyter kernel.

    tqdm writes each redraw as ``"\\r" + bar``; the display shows the text after the last carriage return or
    newline that has something after it. ``display`` is IPython's ``display`` (a stand-in for tests).
    """

    def __init__(self, display: Callable[..., Any] | None = None) -> None:
        super().__init__()
        if display is None:
            from IPython.display import display
        self._display = display
        self._handle: Any = None
        self.text = ""

    def write(self, text: str) -> int:
        frames = [f.rstrip() for f in text.replace("\n", "\r").split("\r") if f.strip()]
        if frames and frames[-1] != self.text:
            self.text = frames[-1]
            data = {"text/plain": self.text}
            if self._handle is None:
                self._handle = self._display(data, raw=True, display_id=True)
            else:
                self._handle.update(data, raw=True)
        return len(text)

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:   # tqdm draws its Unicode bar only for a file that says it takes UTF-8
        return "utf-8"


def progress_bar(iterable: Iterable | None = None, *, notebook: bool | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar (``kwargs`` as for tqdm) that, in a notebook, keeps one line in the saved outputs.

    ``notebook``: None decides by whether this runs inside a Jupyter kernel."""
    if _in_notebook() if notebook is None else notebook:
        if not kwargs.get("disable"):
            kwargs["file"] = NotebookLine()
        kwargs.setdefault("ncols", 100)        # (a display has no terminal width to ask)
        kwargs.setdefault("mininterval", 1.0)  # each redraw is one message to the browser
        kwargs.pop("dynamic_ncols", None)
    else:
        kwargs.setdefault("mininterval", 2.0)
    return tqdm(iterable, **kwargs)
