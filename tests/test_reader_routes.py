"""What readers hit outside the chapters' text (issue 21, part 4; ../shared/reviews/reader-routes.md): each check
here fails on the broken variant it guards against, shown in the test beside it.

- committed notebooks hold no wall of progress-bar redraws (chapter 3 had 71 lines);
- a site built without solutions keeps no sentence that promises them (the intro did), and the filter of
  ``_ext/solutions.py`` removes exactly the solution links from every page's source;
- JupyterLab opens a chapter's ``.md`` twin as a notebook on double-click (settings shipped in
  ``binder/overrides.json``, installed by ``make lab`` and by Binder);
- the pinned JupyterLab and jupyterlab-myst are a pair that ``jupyter labextension list`` accepts;
- Binder's self-check proves the course is installed (it used to import the checkout).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "_ext"))
import check_site  # noqa: E402
import clean_progress_outputs  # noqa: E402
import solutions as solutions_ext  # noqa: E402

NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if "_build" not in p.parts
                   and ".ipynb_checkpoints" not in p.parts)

# --- progress bars in committed outputs ---

MAX_PROGRESS_LINES = 2   # per cell: a bar's last state (and at most one more line, e.g. a resumed run's)
PROGRESS = re.compile(r"\d+%\|.*\||\bit/s\b|\bs/it\b")


def progress_lines(cell: dict) -> int:
    """How many progress-bar lines the site shows for ``cell``: every redraw stored in a stream output, each
    ``\\r`` or newline starting one (myst-nb prints them all), plus text displays that hold a bar."""
    count = 0
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
        else:
            text = str(out.get("data", {}).get("text/plain", ""))
        count += sum(bool(PROGRESS.search(line)) for line in re.split(r"[\r\n]", text))
    return count


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_progress_bar_walls(nb_path: Path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    walls = [(i, n) for i, cell in enumerate(nb["cells"]) if (n := progress_lines(cell)) > MAX_PROGRESS_LINES]
    assert not walls, (f"{nb_path.name}: cells (index, progress lines) {walls}: run "
                       f"`python scripts/clean_progress_outputs.py {nb_path.relative_to(ROOT)}`")


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def test_progress_check_and_cleaning_on_a_wall():
    frames = [f"\rtraining: {p:3d}%|##        | {p}/100 [00:0{p // 50}<00:01, 50.0it/s, loss=1.0]" for p in (0, 30, 60, 100)]
    wall = {"cell_type": "code", "outputs": [_stream(f) for f in frames] + [_stream("\nfinal loss 1.0\n")]}
    assert progress_lines(wall) == 4                       # the check fails on it
    cleaned = clean_progress_outputs.clean_outputs([nbformat.from_dict(o) for o in wall["outputs"]])
    assert len(cleaned) == 1 and cleaned[0]["text"] == frames[-1].lstrip("\r") + "\nfinal loss 1.0\n"
    assert progress_lines({"outputs": cleaned}) == 1       # the last state only, the text after it kept
    # a display the Trainer updates in place holds one line
    assert progress_lines({"outputs": [{"output_type": "display_data",
                                        "data": {"text/plain": frames[-1].lstrip("\r")}}]}) == 1


# --- the site without solutions ---

def _doc_sources() -> list[tuple[str, str]]:
    """(document, text as Sphinx reads it) of every page of the site without solutions."""
    out = []
    for doc in check_site.toc_pages(ROOT, solutions=False):
        for suffix in (".ipynb", ".md"):
            path = ROOT / (doc + suffix)
            if path.exists():
                out.append((doc + suffix, path.read_text(encoding="utf-8")))
                break
    return out


def filtered(name: str, text: str) -> str:
    """What ``_ext/solutions.py`` hands Sphinx for this source when the solutions are off."""
    text = solutions_ext.strip_solution_links(text)
    return solutions_ext.strip_solution_passages(text) if name.endswith(".md") else text


LEFT_OVER = re.compile(r"solutions/|worked solutions?", re.I)


def test_no_solutions_filter_is_exact_on_every_page():
    """Filtered, no page's source points into ``solutions/`` or promises a solution; and the filter removed only
    solution links and marked passages: each notebook keeps its cells, each cell its text but the links."""
    for name, text in _doc_sources():
        out = filtered(name, text)
        left = sorted({m.group(0) for m in LEFT_OVER.finditer(out)})
        assert not left, f"{name}: {left} left on the site without solutions"
        if name.endswith(".ipynb"):
            before, after = json.loads(text), json.loads(out)
            assert len(after["cells"]) == len(before["cells"])
            for a, b in zip(before["cells"], after["cells"]):
                assert solutions_ext.strip_solution_links("".join(a["source"])) == "".join(b["source"])
                assert a.get("outputs") == b.get("outputs")
        else:
            removed = len(text) - len(out)
            spans = sum(len(m.group(0)) for m in solutions_ext.SOLUTION_PASSAGE.finditer(
                solutions_ext.strip_solution_links(text))) + len(text) - len(solutions_ext.strip_solution_links(text))
            assert removed == spans


def test_no_solutions_filter_catches_what_it_misses():
    intro = "Each exercise links to a worked solution.\n"
    assert LEFT_OVER.search(filtered("intro.md", intro))                      # unmarked: caught
    assert not LEFT_OVER.search(filtered("intro.md", f"Try it.<!-- solutions --> {intro}<!-- /solutions -->"))
    assert LEFT_OVER.search(filtered("x.md", "See [the solution](solutions/01_x_solutions.ipynb#exercise-1)."))
    with pytest.raises(ValueError, match="markers"):
        solutions_ext.strip_solution_passages("<!-- solutions --> never closed")


# --- JupyterLab: .md twins open as notebooks; a pinned pair the extension list accepts ---

OVERRIDES = ROOT / "binder" / "overrides.json"
JUPYTEXT_FACTORY = "Jupytext Notebook"   # the document factory jupytext's JupyterLab extension registers


def viewer_problems(overrides: dict) -> list[str]:
    viewers = overrides.get("@jupyterlab/docmanager-extension:plugin", {}).get("defaultViewers", {})
    return [f"{t}: default viewer {viewers.get(t)!r}, expected {JUPYTEXT_FACTORY!r}"
            for t in ("markdown", "myst") if viewers.get(t) != JUPYTEXT_FACTORY]


def test_md_twins_open_as_notebooks():
    assert viewer_problems(json.loads(OVERRIDES.read_text(encoding="utf-8"))) == []
    assert viewer_problems({"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Editor"}}})
    # both routes install the file where JupyterLab reads it: <prefix>/share/jupyter/lab/settings/overrides.json
    assert "share/jupyter/lab/settings" in (ROOT / "Makefile").read_text()
    assert "share/jupyter/lab/settings" in (ROOT / "binder" / "postBuild").read_text()


def test_jupytext_registers_the_factory_we_name():
    lab = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-jupytext" / "static"
    if not lab.exists():
        pytest.skip("jupytext's JupyterLab extension is not installed here")
    assert any(f'FACTORY="{JUPYTEXT_FACTORY}"' in p.read_text(errors="replace") for p in lab.glob("*.js"))


def pinned(name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M)
    return match.group(1) if match else None


def incompatible_extensions(listing: str) -> list[str]:
    """Extensions ``jupyter labextension list`` marks as incompatible with the running JupyterLab."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listing)
    return re.findall(r'"([^"]+)" is not compatible with the current JupyterLab', plain)


def test_incompatible_extension_is_recognised():
    listing = ('        jupyterlab-myst v2.7.0 \x1b[32menabled\x1b[0m \x1b[31m X\x1b[0m (python, jupyterlab_myst)\n'
               '"jupyterlab-myst@2.7.0" is not compatible with the current JupyterLab\n')
    assert incompatible_extensions(listing) == ["jupyterlab-myst@2.7.0"]      # JupyterLab 4.6.6 with myst 2.7.0
    assert incompatible_extensions("        jupyterlab-myst v2.7.0 enabled OK (python, jupyterlab_myst)\n") == []


def test_pinned_jupyterlab_accepts_jupyterlab_myst():
    from importlib.metadata import PackageNotFoundError, version
    try:
        installed = (version("jupyterlab"), version("jupyterlab-myst"))
    except PackageNotFoundError:
        pytest.skip("JupyterLab or jupyterlab-myst is not installed here")
    if installed != (pinned("jupyterlab"), pinned("jupyterlab-myst")):
        pytest.skip(f"installed {installed} are not the pinned versions (make setup installs those)")
    jupyter = Path(sys.executable).with_name("jupyter")
    listing = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120)
    assert incompatible_extensions(listing.stdout + listing.stderr) == [], listing.stdout + listing.stderr


# --- Binder's self-check ---

def self_check(post_build: str) -> str:
    """The line of binder/postBuild that checks the install (marked with `# self-check`)."""
    lines = [line for line in post_build.splitlines() if "# self-check" in line]
    assert len(lines) == 1, "binder/postBuild needs exactly one line marked '# self-check'"
    return lines[0]


@pytest.mark.parametrize("variant, passes", [
    ("current", False),
    ('python -c "import aigc_lib; print(aigc_lib.__file__)"   # self-check', True),   # the old, empty check
])
def test_binder_self_check_fails_on_the_checkout(variant, passes):
    """Run from the repository root where aigc_lib is NOT installed in site-packages (the test environments hold
    it editable, or on PYTHONPATH): the real check must fail there, the old one passed."""
    import aigc_lib
    if "site-packages" in aigc_lib.__file__:
        pytest.skip("aigc_lib is installed here: the checkout cannot be told apart")
    line = self_check((ROOT / "binder" / "postBuild").read_text()) if variant == "current" else variant
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr


# --- citations in JupyterLab: the key is what a reader sees there ---

BIB_ENTRY = re.compile(r"^@\w+\{([^,\s]+),(.*?)(?=^@|\Z)", re.M | re.S)
READABLE_KEY = re.compile(r"^([a-z]+)(\d{4})[a-z0-9]*$")


def key_problems(bib: str) -> list[str]:
    """JupyterLab (jupyterlab-myst) shows a citation as its BibTeX key: each key must read as the first author's
    surname (lower case) and the year the entry gives (or its arXiv year), e.g. ``ho2020ddpm``, as the README
    promises."""
    problems = []
    for key, body in BIB_ENTRY.findall(bib):
        years = set(re.findall(r"\byear\s*=\s*[{\"]?(\d{4})", body))
        years |= {f"20{yy}" for yy in re.findall(r"arXiv:(\d\d)\d\d\.", body)}
        match = READABLE_KEY.match(key)
        if not match or match.group(2) not in years:
            problems.append(f"{key}: not surname + year ({', '.join(sorted(years)) or 'no year'}) + a word")
    return problems


def test_citation_keys_read_as_author_and_year():
    assert key_problems((ROOT / "references.bib").read_text(encoding="utf-8")) == []
    good = "@article{ho2020ddpm,\n  title = {x},\n  year = {2020}\n}\n"
    assert key_problems(good) == []
    assert key_problems(good.replace("ho2020ddpm", "ref12"))          # a key that says nothing
    assert key_problems(good.replace("{2020}", "{2021}"))             # a key with the wrong year
