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


# --- resources from other hosts, the site without solutions, search ranking (no browser) ---

def test_external_resources_are_found(tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    (site / "ok.html").write_text('<html><head><script src="_static/a.js"></script>'
                                  '<link rel="stylesheet" href="_static/a.css"></head>'
                                  '<body><a href="https://github.com/x">a link a reader follows</a></body></html>')
    assert check_site.external_resources(site) == []
    for bad in ['<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js">'
                '</script>',
                '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">',
                '<img src="http://example.org/x.png">']:
        (site / "bad.html").write_text(f"<html><head>{bad}</head></html>")
        assert len(check_site.external_resources(site)) == 1, bad


ARTICLE = ('<html><body><nav>{nav}</nav><article class="bd-article"><h1>Ch</h1><p>Text{extra}.</p><ol>'
           '<li>Do this. <a class="reference internal" href="solutions/01_x_solutions.html#exercise-1">'
           '<span>Solution</span></a></li></ol></article></body></html>')


def two_sites(tmp_path, without_article: str) -> tuple[Path, Path]:
    full, without = tmp_path / "full", tmp_path / "without"
    for site, text in ((full, ARTICLE.format(nav="Solutions", extra="")), (without, without_article)):
        (site / "book").mkdir(parents=True)
        (site / "book" / "01_x.html").write_text(text)
    return full, without


def test_site_without_solutions_equals_the_full_site_less_its_links(tmp_path):
    good = ARTICLE.format(nav="", extra="").replace(
        ' <a class="reference internal" href="solutions/01_x_solutions.html#exercise-1"><span>Solution</span></a>', "")
    assert check_site.solutions_equivalence(*two_sites(tmp_path / "a", good)) == []   # the navigation may differ
    # any other difference in the article is caught: a changed word, a link left in
    assert check_site.solutions_equivalence(*two_sites(tmp_path / "b", good.replace("Text", "Txt")))
    assert check_site.solutions_equivalence(*two_sites(tmp_path / "c", ARTICLE.format(nav="", extra="")))
    # a passage between <!-- solutions --> markers is left out of the site without solutions
    full, without = two_sites(tmp_path / "d", good)
    (full / "book" / "01_x.html").write_text(ARTICLE.format(nav="", extra="<!-- solutions --> and more<!-- /solutions -->"))
    assert check_site.solutions_equivalence(full, without) == []
    (without / "book" / "02_y.html").write_text(good)   # a page the full site lacks
    assert check_site.solutions_equivalence(full, without)


def test_no_solutions_site_may_not_promise_solutions(tmp_path):
    site = make_site(tmp_path, chapter=CHAPTER.split('<a href="solutions')[0] + "</body></html>", solution=None)
    (site / "book" / "solutions").rmdir()
    assert check_site.solution_problems(site, solutions=False) == []
    (site / "index.html").write_text("<html><body><p>Each exercise links to a worked solution.</p></body></html>")
    assert any("promises" in p for p in check_site.solution_problems(site, solutions=False))
    (site / "index.html").write_text("<html><body><!-- worked solutions --><p>Try it.</p></body></html>")
    assert check_site.solution_problems(site, solutions=False) == []   # a comment is not shown


def test_search_ranking():
    assert check_site.search_ranking_problems("diffusion", ["book/08_diffusion", "book/api"], "book/08_diffusion") == []
    assert check_site.search_ranking_problems("diffusion", ["book/api"] * 15 + ["book/08_diffusion"], "book/08_diffusion")
    assert check_site.search_ranking_problems("diffusion", ["book/api"], "book/08_diffusion")
    assert check_site.search_ranking_problems("diffusion", [], "book/08_diffusion")


# --- the browser checks' page scripts, on synthetic pages in headless Chromium ---

STATIC = ROOT / "_static"


@pytest.fixture(scope="module")
def browser_page():
    playwright = pytest.importorskip("playwright.sync_api")
    try:
        chromium = check_site.find_chromium()
    except SystemExit:
        pytest.skip("Chromium is not installed (make test installs it before the unit tests)")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport=check_site.PHONE, is_mobile=True, has_touch=True)
        yield page
        browser.close()


def show(page, body: str, course: bool) -> None:
    """Load ``body`` as a page of the site, with the site's course.css and course.js or without them."""
    head = "<style>article { width: 300px; } .cell_output { overflow-x: auto; } div.math { overflow-x: auto; }</style>"
    if course:
        head += f"<style>{(STATIC / 'course.css').read_text()}</style>"
    page.goto("data:text/html,<html></html>")   # a new document and a new script scope (course.js has consts)
    page.set_content(f"<html><head>{head}</head><body>{body}</body></html>")
    if course:
        page.add_script_tag(content=(STATIC / "course.js").read_text())
        page.evaluate("() => { document.dispatchEvent(new Event('DOMContentLoaded')); "
                      "window.dispatchEvent(new Event('load')); }")
    page.wait_for_timeout(100)


WIDE_FIGURE = ('<article><div class="cell_output"><div class="output"><img width="800" height="50" src="data:image/svg+xml,'
               '%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 width=%22800%22 height=%2250%22/%3E"></div></div></article>')
WIDE_FORMULA = '<article><div class="math"><span style="display:inline-block; width:900px">x</span></div></article>'


@pytest.mark.parametrize("body", [WIDE_FIGURE, WIDE_FORMULA], ids=["figure", "formula"])
def test_scroll_cue_check(browser_page, body):
    show(browser_page, body, course=False)
    assert browser_page.evaluate(check_site._NO_SCROLL_CUE_JS)          # scrolls with no cue: caught
    show(browser_page, body, course=True)
    assert browser_page.evaluate(check_site._NO_SCROLL_CUE_JS) == []    # course.js and course.css give the cue
    narrow = body.replace("800", "200").replace("900px", "100px")
    show(browser_page, narrow, course=False)
    assert browser_page.evaluate(check_site._NO_SCROLL_CUE_JS) == []    # nothing scrolls, nothing to cue


CONTENTS = ('<dialog id="pst-secondary-sidebar-modal"><nav><a class="nav-link" href="#a">A</a>'
            '<a class="nav-link" href="#b">B</a></nav></dialog><article><h2 id="a">A</h2><h2 id="b">B</h2></article>')


def test_page_contents_close_check(browser_page):
    show(browser_page, CONTENTS, course=False)
    browser_page.evaluate("() => document.getElementById('pst-secondary-sidebar-modal').showModal()")
    assert check_site.contents_stay_open(browser_page)                  # the theme alone leaves it open
    show(browser_page, CONTENTS, course=True)
    browser_page.evaluate("() => document.getElementById('pst-secondary-sidebar-modal').showModal()")
    assert not check_site.contents_stay_open(browser_page)              # course.js closes it


def fake_mathjax(page, widths: list[int], column: int = 688) -> None:
    """A page with display formulas of the given widths in a column, registered as MathJax registers them."""
    boxes = "".join(f'<div class="math"><mjx-container display="true"><mjx-math style="display:inline-block; '
                    f'width:{w}px">x</mjx-math></mjx-container></div>' for w in widths)
    page.set_content(f'<html><body><article style="width:{column}px">{boxes}</article></body></html>')
    page.evaluate("""() => { window.MathJax = {startup: {document: {math: [...document.querySelectorAll(
        'mjx-container')].map((c, i) => ({display: true, typesetRoot: c, math: 'formula ' + i}))}}}; }""")


def test_wide_formula_check(browser_page):
    fake_mathjax(browser_page, [300, 688])
    assert browser_page.evaluate(check_site._WIDE_MATH_JS) == []
    fake_mathjax(browser_page, [300, 852])
    wide = browser_page.evaluate(check_site._WIDE_MATH_JS)
    assert [(w, c, tex) for w, c, tex in wide] == [(852, 688, "formula 1")]


def test_widget_check(browser_page):
    view = '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script>'
    browser_page.set_content(f"<html><body><div class='output'>{view}</div></body></html>")
    assert browser_page.evaluate(check_site._WIDGETS_JS) == [1, 0]        # saved but not drawn: caught
    browser_page.set_content(f"<html><body><div class='output'>{view}<div class='jupyter-widgets' "
                             f"style='height:30px'>slider</div></div></body></html>")
    assert browser_page.evaluate(check_site._WIDGETS_JS) == [1, 1]
