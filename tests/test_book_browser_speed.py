"""Page weight and first paint of every page of the built book, on a local static server, cache off.

Budgets (issue 15):

* weight: a page transfers at most half of what the same page did before the book was slimmed
  (intro 3.7 MB, chapters 2-4 13.0-13.6 MB; a page without a measurement then gets half of 13.0 MB),
  counted after scrolling through the whole page, so what loads late (diagrams, fonts) is counted too;
* no script larger than 60 kB blocks rendering (heavy scripts are deferred, book/bookext/assets.py);
* first paint within 0.6 s. Timings on shared machines are noisy (DEVELOPERS_GUIDE), so the budget is
  checked against the best of five loads, and a page also passes when it paints within 3 times the time
  a bare page with the book's stylesheets takes in the same run (the machine's speed at that moment):
  0.6 s holds on a quiet machine, the ratio under load. Both numbers are in the failure message and in
  _build/browser-test/page-speed.json.
"""

from __future__ import annotations

import json

import pytest

from bookbrowser import ARTEFACTS, PAGES, Visit

BEFORE_MB = {"intro": 3.7, "chapters/02_core_concepts": 13.6, "chapters/03_core_algorithm": 13.6,
             "chapters/04_mathematical_model": 13.0}
OTHER_PAGE_BEFORE_MB = 13.0
PAINT_BUDGET_S = 0.6
PAINT_RATIO = 3.0
BLOCKING_SCRIPT_BYTES = 60_000
RESULTS: dict[str, dict] = {}


def _first_paint(browser, url: str) -> float:
    visit = Visit(browser, url)
    try:
        fcp = visit.page.evaluate(
            "() => new Promise(done => { const get = () => (performance.getEntriesByName('first-contentful-paint')[0]"
            " || {}).startTime; const t = get(); if (t) return done(t); new PerformanceObserver(() => done(get()))"
            ".observe({type: 'paint', buffered: true}); })")
    finally:
        visit.close()
    return fcp / 1000


@pytest.fixture(scope="module", autouse=True)
def _write_results():
    yield
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "page-speed.json").write_text(json.dumps(RESULTS, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("docname", PAGES)
def test_page_weight(browser, base_url, docname):
    visit = Visit(browser, f"{base_url}/{docname}.html")
    try:
        visit.settle()
        visit.scroll_through()
        visit.settle()
        requests, size = visit.transferred()
        blocking = visit.page.evaluate(
            """() => performance.getEntriesByType('resource')
                 .filter(e => e.renderBlockingStatus === 'blocking' && e.initiatorType === 'script')
                 .map(e => [e.name, e.encodedBodySize])""")
    finally:
        visit.close()
    budget = BEFORE_MB.get(docname, OTHER_PAGE_BEFORE_MB) / 2
    RESULTS.setdefault(docname, {}).update(requests=requests, MB=round(size / 1e6, 2), budget_MB=budget)
    assert size / 1e6 <= budget, f"{docname} transfers {size / 1e6:.2f} MB in {requests} requests; budget {budget} MB"
    heavy = [(name, n) for name, n in blocking if n > BLOCKING_SCRIPT_BYTES]
    assert not heavy, f"scripts that block the first paint: {heavy}"


@pytest.mark.parametrize("docname", PAGES)
def test_first_paint(browser, base_url, docname):
    page, calibration = [], []
    for _ in range(5):  # interleaved, so both see the same machine
        calibration.append(_first_paint(browser, f"{base_url}/__calibration__.html"))
        page.append(_first_paint(browser, f"{base_url}/{docname}.html"))
    best, reference = min(page), min(calibration)
    RESULTS.setdefault(docname, {}).update(first_paint_s=round(best, 3), bare_page_first_paint_s=round(reference, 3))
    assert best <= PAINT_BUDGET_S or best <= PAINT_RATIO * reference, (
        f"{docname} paints after {best:.2f} s (best of 5); budget {PAINT_BUDGET_S} s, or {PAINT_RATIO} x the "
        f"{reference:.2f} s a bare page with the book's stylesheets takes now")
