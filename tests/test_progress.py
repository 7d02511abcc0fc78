"""aigc_lib.core.progress: inside a notebook a progress bar is one display updated in place, so a saved notebook
(and the site) keeps one line, not every redraw (chapter 3 had 71; ../shared/reviews/reader-routes.md)."""
from __future__ import annotations

import io

import nbformat
import pytest
from tqdm import tqdm

from aigc_lib.core.progress import NotebookLine, progress_bar


class FakeDisplay:
    """Stands in for IPython's display(): records the displays made and their updates."""

    def __init__(self) -> None:
        self.displays = 0
        self.updates = 0
        self.text = ""

    def __call__(self, data, raw, display_id):
        assert raw and display_id
        self.displays += 1
        self.text = data["text/plain"]
        return self

    def update(self, data, raw):
        self.updates += 1
        self.text = data["text/plain"]



@pytest.fixture(autouse=True)
def _bars_enabled(monkeypatch):
    """These tests need bars drawn: a TQDM_DISABLE set after tqdm's import, or inherited by the kernel started
    here, would hide them."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)

def test_notebook_line_keeps_one_display_with_the_last_state():
    shown = FakeDisplay()
    for _ in tqdm(range(30), file=NotebookLine(display=shown), mininterval=0, desc="training"):
        pass
    assert shown.displays == 1 and shown.updates >= 10       # redrawn in place, many times
    assert shown.text.startswith("training: 100%") and "30/30" in shown.text and "\r" not in shown.text


def test_a_plain_stream_stores_every_redraw():
    """The broken variant: what tqdm leaves in a stream output, one frame per redraw."""
    stream = io.StringIO()
    for _ in tqdm(range(30), file=stream, mininterval=0, desc="training"):
        pass
    assert stream.getvalue().count("\r") > 10


def test_outside_a_notebook_the_bar_is_plain_tqdm():
    bar = progress_bar(range(3), notebook=False, file=io.StringIO())
    assert not isinstance(bar.fp, NotebookLine)
    bar.close()


def test_saved_notebook_keeps_one_progress_line(tmp_path, monkeypatch):
    """Execute a notebook as the real runs do (nbclient, a fresh kernel) and read what it stored."""
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from aigc_lib.core.progress import progress_bar\n"
        "for _ in progress_bar(range(300), desc='training', mininterval=0):\n"
        "    pass")])
    nbclient.NotebookClient(nb, timeout=120, iopub_timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    streams = [o for o in outputs if o.output_type == "stream"]
    displays = [o for o in outputs if o.output_type == "display_data"]
    assert not any("\r" in o.text for o in streams), streams
    assert len(displays) == 1 and "300/300" in displays[0].data["text/plain"], outputs
