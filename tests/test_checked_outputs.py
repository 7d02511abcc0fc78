"""Checked notebook outputs must hold only what is stable across CPUs (issue 21, part 1).

A cell tagged ``nbval-check-output`` has its stored output compared by CI. Float round-off (``9.5e-07``)
differs between processors and BLAS kernels, so such a cell prints a pass line, a rounded value or a
threshold ("below 1e-5"), and its ``assert`` does the checking. This test reads every stored notebook and
fails on a number of round-off scale in a checked output:

- a number written with an exponent of -4 or less whose mantissa is not 1 (``9.5e-07``, ``5.453e-05``);
  a power of ten (``1e-05``, ``1.0e-08``) is a threshold or an input that the author wrote, and may stand;
- a fixed-point number below 1e-4 with two or more significant digits (``0.0000012``).

A few lines print exact constants (``torch.finfo`` values, a seeded input); they are listed in ``ALLOWED``
with the reason.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "book" / "solutions").glob("*.ipynb"))

SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?(\d+(?:\.\d*)?)[eE]([-+]?\d+)")
FIXED = re.compile(r"(?<![\w.])[-+]?0\.(\d+)")

# (notebook name, start of the output line): why the numbers on it are exact on every machine
ALLOWED = {
    ("01_training_loop.ipynb", "torch.float32   1/3"): "torch.finfo constants of the dtype",
    ("01_training_loop.ipynb", "torch.bfloat16  1/3"): "torch.finfo constants of the dtype",
    ("01_training_loop.ipynb", "torch.float16   1/3"): "torch.finfo constants of the dtype",
    ("01_training_loop.ipynb", "gradient sizes at step 1"): "a seeded float64 input, not a result",
}


def round_off_numbers(line: str) -> list[str]:
    """The numbers of round-off scale on one output line (see the module docstring)."""
    found = []
    for match in SCIENTIFIC.finditer(line):
        mantissa, exponent = match.group(1), int(match.group(2))
        if exponent <= -4 and mantissa.replace(".", "").strip("0") != "1":
            found.append(match.group(0))
    for match in FIXED.finditer(line):
        digits = match.group(1)
        if SCIENTIFIC.match(line, match.start()):  # already judged as scientific
            continue
        significant = digits.lstrip("0").rstrip("0")
        if len(digits) - len(digits.lstrip("0")) >= 4 and len(significant) >= 2:
            found.append(match.group(0))
    return found


def checked_outputs(notebook: dict) -> list[tuple[int, str]]:
    """(cell index, output text) for every code cell tagged nbval-check-output."""
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or "nbval-check-output" not in cell.get("metadata", {}).get("tags", []):
            continue
        text = ""
        for output in cell.get("outputs", []):
            if "text" in output:
                text += "".join(output["text"])
            elif "text/plain" in output.get("data", {}):
                text += "".join(output["data"]["text/plain"])
        cells.append((index, text))
    return cells


def problems(name: str, notebook: dict) -> list[str]:
    found = []
    for index, text in checked_outputs(notebook):
        for line in text.splitlines():
            if any(line.startswith(start) for (nb, start) in ALLOWED if nb == name):
                continue
            numbers = round_off_numbers(line)
            if numbers:
                found.append(f"{name} cell {index}: {numbers} in {line.strip()!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_checked_outputs_hold_no_round_off(path):
    found = problems(path.name, json.loads(path.read_text()))
    assert not found, "checked outputs print float round-off (print a pass line or a threshold):\n" + "\n".join(found)


@pytest.mark.parametrize("line, expected", [
    ("max |parallel - step by step| = 9.5e-07", ["9.5e-07"]),
    ("correct converter              3.0e-07         1.2e-07", ["3.0e-07", "1.2e-07"]),
    ("formula: +0.70334 5.453e-05", ["5.453e-05"]),
    ("difference 0.0000012", ["0.0000012"]),
    ("parallel == step by step (max difference below 1e-5)", []),
    ("h = 1e-04: error 1.0e-08, error / h^2 = 1.0019", []),
    ("GPTConfig(layer_norm_eps=1e-05, init_std=0.02)", []),
    ("t = 1000: alpha_bar = 0.00004, ratio 1.3e-02, D = 0.00034", []),
    ("difference 0.000012", ["0.000012"]),
])
def test_round_off_detector(line, expected):
    assert round_off_numbers(line) == expected


def test_a_broken_notebook_fails():
    """The committed chapter 3 cell, with the output it stored before issue 21, is caught."""
    broken = {"cells": [{"cell_type": "code", "metadata": {"tags": ["nbval-check-output"]},
                         "outputs": [{"output_type": "stream", "name": "stdout",
                                      "text": ["max |parallel - step by step| = 9.5e-07\n"]}]},
                        {"cell_type": "code", "metadata": {"tags": ["nbval-ignore-output"]},
                         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["noise 9.5e-07\n"]}]}]}
    found = problems("03_transformer.ipynb", broken)
    assert len(found) == 1 and "cell 0" in found[0]
    fixed = json.loads(json.dumps(broken))
    fixed["cells"][0]["outputs"][0]["text"] = ["parallel == step by step (max difference below 1e-5)\n"]
    assert problems("03_transformer.ipynb", fixed) == []
