/* Phone navigation for this site's theme versions (sphinx-book-theme 1.3.0 on pydata-sphinx-theme 0.17.1).
 *
 * pydata-sphinx-theme issue #2451: since 0.17.0 each page has two buttons of class `primary-toggle` (chapter
 * list) and two of class `secondary-toggle` (page contents): a hidden one in the theme's top bar and the visible
 * one of sphinx-book-theme. The themes wire up only the first of each (document.querySelector), so on a phone
 * the visible buttons did nothing. This forwards a click on any other button of the class to the wired one,
 * which opens the sidebar as a dialog on narrow screens and (sphinx-book-theme) hides the chapter list on wide
 * ones. Remove this file when the themes are fixed; scripts/check_site.py tests the buttons at 390 px.
 */
document.addEventListener("DOMContentLoaded", () => {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const buttons = document.querySelectorAll(selector);
    const wired = buttons[0];
    buttons.forEach((button) => {
      if (button === wired) return;
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        wired.click();
      });
    });
  }
});

/* Figures at phone width: a figure squeezed into a 360 px column loses its labels (a 1272 px plot would be
 * shown at 28 %). Keep every output image at MIN_SCALE of its drawn width or more; a wider one then scrolls
 * inside its own output box (course.css), not the page. MIN_SCALE is explained in scripts/check_site.py
 * (MIN_FIGURE_SCALE), which checks the result. */
const MIN_SCALE = 0.7;
function keepFigureLegible(img) {
  if (img.naturalWidth > 0) img.style.minWidth = `${Math.round(img.naturalWidth * MIN_SCALE)}px`;
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("article .cell_output img").forEach((img) => {
    if (img.complete) keepFigureLegible(img);
    else img.addEventListener("load", () => keepFigureLegible(img), { once: true });
  });
});

/* Phone: choosing a section in the page-contents panel (a <dialog> on narrow screens) scrolls there and closes
 * the panel, as the chapter list's links do by loading a new page. scripts/check_site.py checks it at 390 px. */
document.addEventListener("click", (event) => {
  const link = event.target.closest("#pst-secondary-sidebar-modal a[href]");
  const dialog = document.getElementById("pst-secondary-sidebar-modal");
  if (link && dialog && dialog.open) dialog.close();
});

/* Scroll cue: a box that scrolls sideways (a formula, a figure, a code line or a table wider than the column)
 * gets the class `scroll-cue`, which course.css draws as a shadow at its right edge and a visible scroll bar; a
 * phone hides scroll bars, so without it half of a 2x2 figure grid or the end of a formula was cut off with no
 * hint. Every element of the article that scrolls sideways is marked (the theme's, MathJax's and the widgets'
 * boxes alike), again when MathJax has typeset the page, when content is added (widgets draw after the load
 * event) and when the width changes. scripts/check_site.py fails on a box that scrolls without the cue. */
function scrollsSideways(box) {
  if (box.scrollWidth <= box.clientWidth + 1 || box.clientWidth === 0) return false;
  const overflow = getComputedStyle(box).overflowX;
  return overflow === "auto" || overflow === "scroll";
}
function markScrollBoxes() {
  const article = document.querySelector("article");
  if (!article) return;
  article.querySelectorAll("*").forEach((box) => {
    if (box.classList.contains("scroll-hint")) return;
    const scrolls = scrollsSideways(box);
    if (scrolls !== box.classList.contains("scroll-cue")) box.classList.toggle("scroll-cue", scrolls);
    // A figure covers the shadow: it gets a line of text above it as well.
    const hint = box.previousElementSibling;
    const hasHint = hint && hint.classList.contains("scroll-hint");
    if (scrolls && box.querySelector("img") && !hasHint) {
      const line = document.createElement("div");
      line.className = "scroll-hint";
      line.textContent = "\u21c6 wider than the screen: swipe sideways to see all of it";
      box.before(line);
    } else if (!scrolls && hasHint) {
      hint.remove();
    }
  });
}
let markPending = false;
function markSoon() {   // at most once per frame
  if (markPending) return;
  markPending = true;
  requestAnimationFrame(() => { markPending = false; markScrollBoxes(); });
}
function legibleWhenLoaded(img) {
  if (img.complete) keepFigureLegible(img);
  img.addEventListener("load", () => { keepFigureLegible(img); markSoon(); }, { once: true });
}
document.addEventListener("DOMContentLoaded", () => {
  const article = document.querySelector("article");
  if (!article) return;
  // figures drawn after this (the widgets' outputs, after the load event) stay legible and get their cue too
  new MutationObserver((changes) => {
    for (const change of changes) {
      change.addedNodes.forEach((node) => {
        if (node.nodeType !== 1) return;
        (node.tagName === "IMG" ? [node] : node.querySelectorAll("img")).forEach(legibleWhenLoaded);
      });
    }
    markSoon();
  }).observe(article, { childList: true, subtree: true });
});
window.addEventListener("load", () => {
  document.querySelectorAll("article .cell_output img").forEach(legibleWhenLoaded);
  markScrollBoxes();
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(markScrollBoxes);
  window.addEventListener("resize", markSoon);
});

/* @jupyter-widgets/html-manager (the widgets of chapters 2, 5-7) typesets widget text with MathJax 2's
 * MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the site runs MathJax 3, which has no Hub, so every widget
 * threw "Cannot read properties of undefined (reading 'Queue')". This gives MathJax 3 that one call. MathJax (a
 * deferred script) has replaced its configuration object by itself before DOMContentLoaded; the widgets are drawn
 * after the load event. */
document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub) return;
  mathjax.Hub = {
    Queue: (...jobs) => jobs.forEach((job) => {
      const element = Array.isArray(job) ? job[2] : null;
      if (!element) return;
      const typeset = () => (mathjax.typesetPromise ? mathjax.typesetPromise([element]) : Promise.resolve());
      (mathjax.startup && mathjax.startup.promise ? mathjax.startup.promise.then(typeset) : typeset())
        .catch(() => {});
    }),
  };
});
