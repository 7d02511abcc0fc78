"""Every exercise of every chapter has a worked solution, linked both ways (issue 13).

The format (CONTRIBUTING.md, "Exercises and solutions"): a chapter ``book/NN_topic.md`` has a heading
``## Exercises`` followed by a numbered list; item K ends with ``[Solution](solutions/NN_topic_solutions.ipynb#exercise-K)``.
``book/solutions/NN_topic_solutions.md`` has one section ``## Exercise K`` per exercise, each with the line
``[Back to the exercise](../NN_topic.ipynb#exercises)``. ``_ext/solutions.py`` (the no-solutions build) and
``scripts/check_site.py`` rely on exactly this form. The checks are tested on broken variants below.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))
ITEM = re.compile(r"^(\d+)\. ", re.M)
LINK = re.compile(r"\[Solution\]\(solutions/([^)#\s]+)#exercise-(\d+)\)")

sys.path.insert(0, str(ROOT / "_ext"))
import solutions as solutions_ext  # noqa: E402  (the Sphinx extension of the no-solutions build)


def exercise_items(chapter_text: str) -> list[tuple[int, str]]:
    """The numbered items ``(K, text)`` of the ``## Exercises`` section (up to the next heading of level <= 2)."""
    match = re.search(r"^## Exercises[ \t]*\n(.*?)(?=^#{1,2} |\Z)", chapter_text, re.M | re.S)
    if not match:
        raise AssertionError("no '## Exercises' section")
    body = match.group(1)
    starts = list(ITEM.finditer(body))
    return [(int(m.group(1)), body[m.start():(starts[i + 1].start() if i + 1 < len(starts) else len(body))])
            for i, m in enumerate(starts)]


def link_problems(stem: str, chapter_text: str, solution_text: str) -> list[str]:
    """What is wrong with the exercise <-> solution links of one chapter (empty: nothing)."""
    problems: list[str] = []
    try:
        items = exercise_items(chapter_text)
    except AssertionError as err:
        return [f"{stem}: {err}"]
    if [k for k, _ in items] != list(range(1, len(items) + 1)) or not items:
        problems.append(f"{stem}: exercises numbered {[k for k, _ in items]}, expected 1..N")
    for k, text in items:
        links = LINK.findall(text)
        if links != [(f"{stem}_solutions.ipynb", str(k))]:
            problems.append(f"{stem}: exercise {k} links {links}, expected one link to "
                            f"solutions/{stem}_solutions.ipynb#exercise-{k}")
    outside = len(LINK.findall(chapter_text)) - sum(len(LINK.findall(t)) for _, t in items)
    if outside:
        problems.append(f"{stem}: {outside} solution links outside the exercise list")
    sections = [int(k) for k in re.findall(r"^## Exercise (\d+)[ \t]*$", solution_text, re.M)]
    if sections != [k for k, _ in items]:
        problems.append(f"{stem}: solution sections {sections}, exercises {[k for k, _ in items]}")
    back = solution_text.count(f"[Back to the exercise](../{stem}.ipynb#exercises)")
    if back != len(sections):
        problems.append(f"{stem}: {back} links back to the exercises for {len(sections)} solutions")
    return problems


def test_there_are_chapters():
    assert len(CHAPTERS) >= 9, [p.name for p in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_linked_solution(chapter: Path):
    solution = BOOK / "solutions" / f"{chapter.stem}_solutions.md"
    assert solution.exists(), f"no worked solutions for {chapter.name}: {solution.relative_to(ROOT)}"
    assert (solution.with_suffix(".ipynb")).exists(), f"{solution.name} has no .ipynb half (with its outputs)"
    problems = link_problems(chapter.stem, chapter.read_text(encoding="utf-8"), solution.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


GOOD_CHAPTER = """# Ch

## Exercises

1. Do this. [Solution](solutions/01_x_solutions.ipynb#exercise-1)
2. Do that,
   on two lines. [Solution](solutions/01_x_solutions.ipynb#exercise-2)

## References
"""
GOOD_SOLUTION = """# Solutions

## Exercise 1

[Back to the exercise](../01_x.ipynb#exercises)

## Exercise 2

[Back to the exercise](../01_x.ipynb#exercises)
"""


def test_link_check_passes_the_good_example():
    assert link_problems("01_x", GOOD_CHAPTER, GOOD_SOLUTION) == []


@pytest.mark.parametrize("chapter, solution", [
    (GOOD_CHAPTER.replace(" [Solution](solutions/01_x_solutions.ipynb#exercise-2)", ""), GOOD_SOLUTION),   # a link missing
    (GOOD_CHAPTER.replace("#exercise-2", "#exercise-1"), GOOD_SOLUTION),                                    # wrong anchor
    (GOOD_CHAPTER.replace("01_x_solutions", "02_y_solutions"), GOOD_SOLUTION),                             # wrong notebook
    (GOOD_CHAPTER, GOOD_SOLUTION.replace("## Exercise 2", "## Exercise 3")),                               # wrong section
    (GOOD_CHAPTER, GOOD_SOLUTION.split("## Exercise 2")[0]),                                               # a solution missing
    (GOOD_CHAPTER, GOOD_SOLUTION.replace("[Back to the exercise](../01_x.ipynb#exercises)", "", 1)),       # no way back
    (GOOD_CHAPTER.replace("## Exercises", "**Exercises**"), GOOD_SOLUTION),                                # no heading
    (GOOD_CHAPTER.replace("# Ch\n", "# Ch\nSee [Solution](solutions/01_x_solutions.ipynb#exercise-1).\n"),
     GOOD_SOLUTION),                                                                                       # link outside
])
def test_link_check_fails_on_broken_variants(chapter, solution):
    assert link_problems("01_x", chapter, solution)


def test_no_solutions_build_strips_exactly_the_solution_links():
    text = GOOD_CHAPTER + "A [link](other.ipynb) stays; so does [Solution](https://example.org)."
    stripped = solutions_ext.strip_solution_links(text)
    assert "solutions/" not in stripped
    assert "[link](other.ipynb)" in stripped and "[Solution](https://example.org)" in stripped
    assert "1. Do this.\n" in stripped      # the exercise text itself is kept
    # in the notebook's JSON (what Sphinx reads for an .ipynb) the link sits inside a string
    json_text = '"source": ["1. Do this. [Solution](solutions/01_x_solutions.ipynb#exercise-1)\\n"]'
    assert solutions_ext.strip_solution_links(json_text) == '"source": ["1. Do this.\\n"]'


def test_no_solutions_toc_drops_only_the_solutions_part():
    toc = {"format": "jb-book", "root": "book/intro",
           "parts": [{"caption": "A", "chapters": [{"file": "book/01_x"}]},
                     {"caption": "Solutions", "chapters": [{"glob": "book/solutions/*_solutions"}]}]}
    assert solutions_ext.toc_without_solutions(toc)["parts"] == toc["parts"][:1]
    with pytest.raises(ValueError, match="no part captioned 'Solutions'"):
        solutions_ext.toc_without_solutions({"parts": toc["parts"][:1]})


def test_the_real_toc_has_a_solutions_part_last():
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["parts"][-1]["caption"] == "Solutions"
    solutions_ext.toc_without_solutions(toc)


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False)])
def test_solutions_switch(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv(solutions_ext.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(solutions_ext.ENV_VAR, value)
    assert solutions_ext.solutions_enabled() is enabled


@pytest.mark.parametrize("value", ["no", "false", "2", ""])
def test_solutions_switch_rejects_other_values(monkeypatch, value):
    monkeypatch.setenv(solutions_ext.ENV_VAR, value)
    with pytest.raises(ValueError, match="must be 0"):
        solutions_ext.solutions_enabled()
