"""scripts/check_site.py's exercise/solution checks fail on broken sites (synthetic HTML, no browser, no build)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_site  # noqa: E402

CHAPTER = ('<html><body><h2 id="exercises">Exercises</h2>'
           '<a href="solutions/01_x_solutions.html#exercise-1">Solution</a>'
           '<a href="solutions/01_x_solutions.html#exercise-2">Solution</a></body></html>')
SOLUTION = ('<html><body><section id="exercise-1"><a href="../01_x.html#exercises">Back</a></section>'
            '<section id="exercise-2"><a href="../01_x.html#exercises">Back</a></section></body></html>')


def make_site(tmp_path: Path, chapter: str = CHAPTER, solution: str | None = SOLUTION, extra: str = "") -> Path:
    site = tmp_path / "html"
    (site / "book" / "solutions").mkdir(parents=True)
    (site / "index.html").write_text(f"<html><body>{extra}</body></html>")
    (site / "book" / "01_x.html").write_text(chapter)
    if solution is not None:
        (site / "book" / "solutions" / "01_x_solutions.html").write_text(solution)
    return site


def test_good_site_passes(tmp_path):
    # the navigation links every solution page (no fragment): that is not an exercise link
    site = make_site(tmp_path, chapter=CHAPTER.replace("<body>", '<body><a href="solutions/02_y_solutions.html">nav</a>'))
    (site / "book" / "solutions" / "02_y_solutions.html").write_text("<html></html>")
    assert check_site.solution_problems(site, solutions=True) == []
    assert check_site.broken_links(site) == []


@pytest.mark.parametrize("chapter, solution", [
    (CHAPTER.replace("#exercise-2", "#exercise-1"), SOLUTION),              # an exercise without its link
    (CHAPTER, SOLUTION.replace('id="exercise-2"', 'id="exercise-3"')),      # sections not 1..N
    (CHAPTER, SOLUTION.replace("../01_x.html#exercises", "../02_y.html")),  # no way back
    (CHAPTER, None),                                                        # no solutions page
    (CHAPTER.replace("</body>", '<a href="solutions/02_y_solutions.html#exercise-1">x</a></body>'),
     SOLUTION),                                                             # a link to another chapter's solution
])
def test_broken_solution_links_fail(tmp_path, chapter, solution):
    assert check_site.solution_problems(make_site(tmp_path, chapter, solution), solutions=True)


def test_no_solutions_site(tmp_path):
    site = make_site(tmp_path, chapter=CHAPTER.split('<a href="solutions')[0] + "</body></html>", solution=None)
    (site / "book" / "solutions").rmdir()
    assert check_site.solution_problems(site, solutions=False) == []
    # each leftover is caught: the solution pages, a chapter's link, the navigation caption, the search index
    assert check_site.solution_problems(make_site(tmp_path / "a"), solutions=False)
    site_b = make_site(tmp_path / "b", solution=None)
    (site_b / "book" / "solutions").rmdir()
    assert any("links to a solution" in p for p in check_site.solution_problems(site_b, solutions=False))
    (site / "index.html").write_text("<html><body><p>Solutions are not part of this site.</p></body></html>")
    assert check_site.solution_problems(site, solutions=False) == []   # the word in a text is not the TOC part
    (site / "index.html").write_text('<html><body><p class="caption" role="heading">'
                                     '<span class="caption-text">Solutions</span></p></body></html>')
    assert any("caption" in p for p in check_site.solution_problems(site, solutions=False))
    (site / "index.html").write_text("<html><body></body></html>")
    (site / "searchindex.js").write_text('Search.setIndex({"docnames": ["book/solutions/01_x_solutions"]})')
    assert any("searchindex" in p for p in check_site.solution_problems(site, solutions=False))


def test_toc_pages_expands_the_solutions_glob_only_with_solutions():
    with_solutions = check_site.toc_pages(ROOT, solutions=True)
    without = check_site.toc_pages(ROOT, solutions=False)
    assert [d for d in with_solutions if "solutions/" not in d] == without
    assert with_solutions == without + sorted(str(p.relative_to(ROOT).with_suffix(""))
                                              for p in (ROOT / "book" / "solutions").glob("*_solutions.ipynb"))
