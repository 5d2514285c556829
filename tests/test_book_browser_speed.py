"""Page weight and what stands between every page of the built book and its first paint, on a local static
server, cache off.

Budgets (issue 15):

* weight: a page transfers at most half of what the same page did before the book was slimmed
  (intro 3.7 MB, chapters 2-4 13.0-13.6 MB; a page without a measurement then gets half of 13.0 MB),
  counted after scrolling through the whole page, so what loads late (diagrams, fonts) is counted too;
* no script larger than 60 kB blocks rendering (heavy scripts are deferred, book/bookext/assets.py);
* first paint within 0.6 s. A time is no unit test on a shared machine (DEVELOPERS_GUIDE: speed targets
  go in benchmarks): under CI's load a page painted in 0.60-0.68 s when a bare page took 0.17-0.21 s, and
  every page painted in 0.25-0.49 s on a quiet machine (2026-12-01). So the time is measured and checked by
  ``benchmarks/page_speed.py`` (best of five loads, interleaved with a bare page), and this test asserts
  what decides it, which no load changes: a page waits for nothing a bare page with the book's
  stylesheets does not wait for, except one small options script, and it does paint.
  The figures are in _build/browser-test/page-speed.json.
"""

from __future__ import annotations

import json

import pytest

from bookbrowser import ARTEFACTS, PAGES, Visit

BEFORE_MB = {"intro": 3.7, "chapters/02_core_concepts": 13.6, "chapters/03_core_algorithm": 13.6,
             "chapters/04_mathematical_model": 13.0}
OTHER_PAGE_BEFORE_MB = 13.0
BLOCKING_SCRIPT_BYTES = 60_000
SMALL_BLOCKING_SCRIPT_BYTES = 5_000  # documentation_options.js: 0.4 kB
STYLESHEET_BYTES = 600_000  # the one bundle every page links: 557 kB on 2026-12-01
RESULTS: dict[str, dict] = {}


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


def _critical_path(browser, url: str) -> dict:
    """What the page at ``url`` waited for before its first paint, and whether it painted."""
    visit = Visit(browser, url)
    try:
        assert not visit.problems["http"], f"{url}: {visit.problems['http']}"
        return visit.page.evaluate(
            """() => new Promise(done => {
                 const report = () => done({
                   painted: performance.getEntriesByName('first-contentful-paint').length > 0,
                   blocking: performance.getEntriesByType('resource')
                     .filter(e => e.renderBlockingStatus === 'blocking')
                     .map(e => ({name: new URL(e.name).pathname, type: e.initiatorType, bytes: e.encodedBodySize}))});
                 if (performance.getEntriesByName('first-contentful-paint').length) return report();
                 new PerformanceObserver(report).observe({type: 'paint', buffered: true});
                 setTimeout(report, 10000);  // a page that never paints is reported, not waited for
               })""")
    finally:
        visit.close()


@pytest.fixture(scope="module")
def bare_page(browser, base_url) -> dict:
    return _critical_path(browser, f"{base_url}/__calibration__.html")


def test_bare_page_waits_only_for_the_stylesheets(bare_page):
    assert bare_page["painted"]
    assert bare_page["blocking"] and all(r["type"] == "link" for r in bare_page["blocking"]), bare_page
    size = sum(r["bytes"] for r in bare_page["blocking"])
    assert size <= STYLESHEET_BYTES, f"the book's stylesheets weigh {size} bytes; budget {STYLESHEET_BYTES}"


@pytest.mark.parametrize("docname", PAGES)
def test_first_paint_waits_for_no_more_than_a_bare_page(browser, base_url, bare_page, docname):
    page = _critical_path(browser, f"{base_url}/{docname}.html")
    blocking_bytes = sum(r["bytes"] for r in page["blocking"])
    RESULTS.setdefault(docname, {}).update(render_blocking=page["blocking"], render_blocking_bytes=blocking_bytes)
    assert page["painted"], f"{docname} never painted"
    bare = {r["name"] for r in bare_page["blocking"]}
    extra = [r for r in page["blocking"] if r["name"] not in bare]
    scripts = [r for r in extra if r["type"] == "script" and r["bytes"] <= SMALL_BLOCKING_SCRIPT_BYTES]
    assert len(scripts) <= 1 and len(extra) == len(scripts), (
        f"{docname} waits before its first paint for {extra} besides the stylesheets a bare page waits for "
        f"({sorted(bare)}); allowed: one script of at most {SMALL_BLOCKING_SCRIPT_BYTES} bytes")
