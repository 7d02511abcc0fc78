"""Collapse the progress-bar redraws stored in committed notebooks to the line a reader's screen shows last.

A tqdm bar in a notebook run by ``jupyter nbconvert --execute`` is stored as one stream output per redraw, each
starting with a carriage return ("\\r"). JupyterLab draws them over each other; the site (myst-nb) shows every
one of them, a wall of up to 71 lines (chapter 3). The Trainer no longer writes such bars in a notebook
(aigc_lib's progress line is one display that it updates), so this is for outputs saved before that change:
it merges each run of stream outputs of the same name in a cell and keeps, of each line, what follows its last
carriage return, as a terminal would. Nothing else changes; no cell is run.

Usage: python scripts/clean_progress_outputs.py book/NN_topic.ipynb ...   (rewrites the files that change)
``tests/test_reader_routes.py`` fails on a committed notebook that still holds such a wall.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

_FRAME = re.compile(r"[^\r\n]*\r(?=[^\r\n])")   # a line's text before a later carriage return on the same line


def collapse_carriage_returns(text: str) -> str:
    """What a terminal shows of ``text``: of each line, the part after its last carriage return."""
    return _FRAME.sub("", text)


def clean_outputs(outputs: list) -> list:
    """``outputs`` with each run of same-name stream outputs that holds a carriage return merged and collapsed
    (other outputs, and runs without a carriage return, are kept as they are)."""
    runs: list[list] = []
    for out in outputs:
        if (out.get("output_type") == "stream" and runs and runs[-1][0].get("output_type") == "stream"
                and runs[-1][0]["name"] == out["name"]):
            runs[-1].append(out)
        else:
            runs.append([out])
    cleaned = []
    for run in runs:
        if run[0].get("output_type") == "stream" and any("\r" in out["text"] for out in run):
            merged = run[0]
            merged["text"] = collapse_carriage_returns("".join(out["text"] for out in run))
            cleaned.append(merged)
        else:
            cleaned.extend(run)
    return cleaned


def clean_notebook(path: Path) -> bool:
    """Rewrite ``path`` with its progress redraws collapsed; True if anything changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        before = [dict(o) for o in cell.outputs]
        cell.outputs = clean_outputs(cell.outputs)
        changed |= [dict(o) for o in cell.outputs] != before
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {'cleaned' if clean_notebook(Path(name)) else 'nothing to clean'}")
