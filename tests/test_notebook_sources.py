"""Each chapter notebook is written by scripts/make_<chapter>.py: the two must not drift apart."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("make_[0-9][0-9]_*.py"))


def _cells(path: Path) -> list[tuple]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def test_every_chapter_has_a_script():
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert chapters == [s.stem[len("make_"):] for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_writes_the_committed_notebook(script, tmp_path):
    env = {**os.environ, "NBBUILD_OUT": str(tmp_path)}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True, cwd=ROOT)
    name = script.stem[len("make_"):] + ".ipynb"
    assert _cells(tmp_path / name) == _cells(ROOT / "book" / name), (
        f"book/{name} and {script.name} differ: regenerate the notebook or carry its edits back into the script")
