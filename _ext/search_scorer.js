/* The site search's scorer (Sphinx `html_search_scorer`, set in _config.yml; Sphinx copies this file into
 * _static/language_data.js, so it is not under _static/ itself).
 *
 * Sphinx's default scores an API object whose name holds the query (aigc_lib.diffusion.*: module priority 15
 * plus up to 11 for the name) above a page whose title holds it (15), so a search for "diffusion" listed 15 API
 * entries before the diffusion chapter. A reader of this course looks for the chapter first: an API entry
 * scores at most just below a title match, so pages with the word in their title come first, then the API
 * entries, then pages that only mention the word. scripts/check_site.py checks the order (SEARCHES). */
var Scorer = {
  // API objects are the results with a description ("Python class, in aigc_lib API reference"); the API page's
  // own headings ("Diffusion") count as API entries too.
  score: (result) => {
    const [docname, title, anchor, descr, score, filename] = result;
    return descr || docname.endsWith("/api") ? Math.min(score, 14) : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
