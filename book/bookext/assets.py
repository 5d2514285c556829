"""What each page loads: heavy scripts only where they are used, none of them blocking the first paint.

Per page, from its content:

* plotly.js, deferred, only on pages with a figure: the *cartesian* bundle (1.5 MB: scatter, bar,
  heatmap, contour, histograms, box, violin, pie, image) when every trace on the page is one of those,
  else the full bundle (4.8 MB);
* MathJax only on pages with math, mermaid only on pages with a diagram;
* no widget manager and no widget-state JSON anywhere (stored widgets are drawn at build time, widgets.py);
* thebe's scripts only where "Live code" is offered (launch.py), and then the book's own launcher;
* book.css and book.js (small: small-screen figures, table scrolling, figure descriptions) everywhere;
* every other external script deferred (the theme's and its extensions' act on DOMContentLoaded), so
  nothing but the stylesheets and one small options file stands between the page and its first paint.

The search index and the FontAwesome script are left out of every page but the search page by the
template in book/templates/layout.html.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.builders.html._assets import _JavaScript
from sphinx.errors import ConfigError

from . import launch

# Trace types in plotly.js's cartesian bundle (plotly.js-cartesian-dist-min's README).
CARTESIAN_TRACES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                              "image", "pie", "scatter", "scatterternary", "violin"})
_FIGURE_JSON = re.compile(r"var fig = (\{.*?\});\n\s*function draw", re.S)
_MATH_IN_HTML = re.compile(r"\\\(|\\\[|\$\$|tex2jax_process")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def required_files(app: Sphinx) -> list[str]:
    """Vendored files (relative to _static) the configuration points at."""
    cfg = app.config
    files = [cfg.offline_plotly_js, cfg.offline_plotly_cartesian_js, cfg.mathjax_path,
             getattr(cfg, "mermaid_use_local", "")]
    if launch.repository(app):
        files.append(launch.THEBE_JS)
    return [f for f in files if f and "://" not in f and not f.startswith("/")]


def check_vendored(app: Sphinx) -> None:
    """builder-inited: fail early, with the fix, when a vendored asset is missing."""
    if app.builder.format != "html":
        return
    static_dirs = [Path(app.confdir, p) for p in app.config.html_static_path]
    missing = [f for f in required_files(app) if not any((d / f).is_file() for d in static_dirs)]
    if missing:
        raise ConfigError(f"book: missing static files {missing} in html_static_path {app.config.html_static_path}; "
                          "run `python book/fetch_assets.py` first.")


def trace_types(html: str) -> set[str] | None:
    """Trace types of the lmlib figures in ``html`` (data and animation frames); None if one can't be read."""
    types: set[str] = set()
    for match in _FIGURE_JSON.finditer(html):
        try:
            fig = json.loads(match.group(1).replace("<\\/", "</"))
        except json.JSONDecodeError:
            return None
        traces = list(fig.get("data", []))
        for frame in fig.get("frames", []):
            traces += frame.get("data", [])
        types |= {t.get("type", "scatter") for t in traces}
    if html.count('class="plotly-graph-div') > len(_FIGURE_JSON.findall(html)):
        return None  # a figure not made by lmlib.plotting: its traces are unknown
    return types


def page_features(doctree: nodes.document | None) -> dict:
    """What the page shows: math, plotly figures (and their trace types), mermaid diagrams."""
    features = {"math": False, "plotly": False, "traces": set(), "unknown_traces": False, "mermaid": False}
    if doctree is None:
        return features
    features["math"] = any(True for _ in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block))))
    for raw in doctree.findall(nodes.raw):
        text = raw.astext()
        if "html" not in raw.get("format", ""):
            continue
        if 'class="plotly-graph-div' in text:
            features["plotly"] = True
            types = trace_types(text)
            if types is None:
                features["unknown_traces"] = True
            else:
                features["traces"] |= types
        if not features["math"] and _MATH_IN_HTML.search(text):
            features["math"] = True
    features["mermaid"] = any(True for _ in doctree.findall(lambda n: type(n).__name__ == "mermaid"))
    return features


def plotly_bundle(app: Sphinx, features: dict) -> str:
    """The smallest vendored plotly.js that draws the page's figures."""
    small = app.config.offline_plotly_cartesian_js
    if small and not features["unknown_traces"] and features["traces"] <= CARTESIAN_TRACES:
        return small
    return app.config.offline_plotly_js


def _is(js: _JavaScript, *, filename: str | None = None, body_starts: str | None = None, attr: tuple | None = None):
    name = str(js.filename or "")
    if filename is not None and name.endswith(filename):
        return True
    body = js.attributes.get("body", "")
    if body_starts is not None and body.lstrip().startswith(body_starts):
        return True
    if attr is not None and js.attributes.get(attr[0]) == attr[1]:
        return True
    return False


def prune_page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """html-page-context (late): keep, per page, only the scripts its content needs."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    cfg = app.config
    features = page_features(doctree)
    widget_js = tuple(getattr(cfg, "nb_ipywidgets_js", {}) or {})
    live = launch.page_uses_live_code(app, context)
    keep = []
    for js in scripts:
        name = str(js.filename or "")
        if _is(js, attr=("type", WIDGET_STATE)) or any(name.endswith(w) for w in widget_js):
            continue  # widgets are drawn at build time
        if name.endswith(cfg.offline_plotly_js) or name.endswith(cfg.offline_plotly_cartesian_js):
            continue  # added below, deferred, with the right bundle
        if not features["math"] and (_is(js, filename=cfg.mathjax_path) or _is(js, body_starts="window.MathJax")):
            continue
        if not features["mermaid"] and ("mermaid" in name or "import mermaid" in js.attributes.get("body", "")):
            continue
        if _is(js, body_starts="const THEBE_JS_URL") or name.endswith("sphinx-thebe.js"):
            continue  # sphinx-thebe's loader fetches thebe from a CDN; book_live.js replaces it
        keep.append(js)
    if pagename != "search":  # the search page's inline scripts call doctools/searchtools as they load
        keep = [_deferred(js) for js in keep]
    if features["plotly"]:
        # deferred: runs after parsing, before DOMContentLoaded (when the figures draw), in this order
        keep.append(_JavaScript(f"_static/{plotly_bundle(app, features)}", priority=200, defer="defer"))
    keep.append(_JavaScript("_static/book.js", priority=800, defer="defer"))
    if live:
        config = launch.live_config(app, pagename).replace("</", "<\\/")
        keep.append(_JavaScript(None, priority=800, body=f"window.BOOK_LIVE = {config};"))
        keep.append(_JavaScript("_static/book_live.js", priority=801, defer="defer"))
    scripts[:] = _dedupe_inline(keep)
    context["book_features"] = features


# Scripts that must run as the parser reaches them: an inline script right after this one uses what it defines.
PARSER_SCRIPTS = ("documentation_options.js",)


def _deferred(js: _JavaScript) -> _JavaScript:
    """``js`` with ``defer`` if it is an external classic script that blocks parsing (and so the first paint).

    Every such script of the theme and its extensions (doctools, copybutton, togglebutton, design tabs, the
    theme's own) only acts on DOMContentLoaded, which deferred scripts still precede, in the same order.
    """
    attrs = js.attributes
    if not js.filename or attrs.get("defer") or attrs.get("async") or attrs.get("type") == "module":
        return js
    if str(js.filename).endswith(PARSER_SCRIPTS):
        return js
    return _JavaScript(js.filename, priority=js.priority, **{**attrs, "defer": "defer"})


def _dedupe_inline(scripts: list[_JavaScript]) -> list[_JavaScript]:
    """Drop repeated inline scripts.

    Sphinx 7.4 emits an inline (body-only) script registered after the builder is initialised twice
    (once with filename None, once with ''), which throws "Identifier ... has already been declared".
    """
    seen, keep = set(), []
    for js in scripts:
        if not js.filename:
            key = (js.priority, tuple(sorted(js.attributes.items())))
            if key in seen:
                continue
            seen.add(key)
        keep.append(js)
    return keep




_IMPORT = re.compile(r'^[ \t]*@import\s+(?:url\()?["\']?([^"\')]+)["\']?\)?\s*;[ \t]*$', re.M)
_URL = re.compile(r"url\((['\"]?)(?![a-z]+:|/|#)([^'\")]+)\1\)")
_STYLESHEET = r'<link\b(?=[^>]*\brel="stylesheet")(?![^>]*\bmedia=)[^>]*\bhref="([^"]+)"[^>]*/?>'
_STYLESHEET_RUN = re.compile(rf"{_STYLESHEET}(?:\s*{_STYLESHEET})+")
BUNDLES = "_static/styles/bundles"


def _rebased(text: str, source_dir: Path, target_dir: Path) -> str:
    """CSS ``text`` written for ``source_dir`` with its relative urls rewritten for ``target_dir``."""
    rel = Path(os.path.relpath(source_dir, target_dir))
    return _URL.sub(lambda u: f"url({u.group(1)}{(rel / u.group(2)).as_posix()}{u.group(1)})", text)


def _with_imports_inlined(css: Path) -> str:
    """``css``'s text with each local ``@import`` replaced by the imported file (its urls rebased)."""
    def inline(match: re.Match) -> str:
        target = css.parent / match.group(1)
        if "://" in match.group(1) or not target.is_file():
            return match.group(0)
        return _rebased(target.read_text(encoding="utf-8"), target.parent, css.parent)

    return _IMPORT.sub(inline, css.read_text(encoding="utf-8"))


def inline_css_imports(css_path: Path) -> bool:
    """Write ``css_path`` with its local ``@import``s inlined; return whether it changed.

    The theme's ``styles/theme.css`` is nothing but ``@import "../basic.css"``: the browser can only ask for
    basic.css once theme.css has arrived, a second round trip before the first paint."""
    text, new = css_path.read_text(encoding="utf-8"), _with_imports_inlined(css_path)
    if new != text:
        css_path.write_text(new, encoding="utf-8")
    return new != text


def _bundle_name(sources: list[str]) -> str:
    """The file name of the bundle of ``sources`` (paths relative to the output folder)."""
    return f"{hashlib.sha256(chr(0).join(sources).encode()).hexdigest()[:16]}.css"


def _write_bundle(outdir: Path, sources: list[str]) -> None:
    """Write the concatenation of ``sources``, imports inlined and urls rebased, to its bundle file."""
    folder = outdir / BUNDLES
    files = [outdir / f for f in sources]
    texts = [_rebased(_with_imports_inlined(f), f.parent, folder) for f in files]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _bundle_name(sources)).write_text("\n".join(f"/* {s} */\n{t}" for s, t in zip(sources, texts)),
                                                encoding="utf-8")


def bundle_stylesheets(outdir: Path) -> int:
    """Replace each run of consecutive local stylesheet links in a page's <head> by one link to their
    concatenation (same order, imports inlined, urls rebased) under ``_static/styles/bundles``; return the
    number of pages changed.

    A chapter page linked eleven stylesheets, each a request its first paint waited for; one file paints
    sooner. Links with a ``media`` attribute, remote ones and files holding an ``@import`` that cannot be
    inlined (only valid at the top of a stylesheet) are left alone. A bundle is named by its list of
    sources, which ``manifest.json`` keeps, and every bundle is rewritten from its sources on every build,
    so pages an incremental build did not rewrite still get the current styles."""
    folder = outdir / BUNDLES
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    changed = 0
    for page in outdir.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        head_end = html.find("</head>")
        if head_end < 0:
            continue

        def bundle(run: re.Match) -> str:
            hrefs = re.findall(_STYLESHEET, run.group(0))
            files = [page.parent / href.split("?")[0] for href in hrefs]
            if any("://" in href or not f.is_file() for href, f in zip(hrefs, files)):
                return run.group(0)
            if any(_IMPORT.search(_with_imports_inlined(f)) for f in files):
                return run.group(0)
            sources = [Path(os.path.relpath(f, outdir)).as_posix() for f in files]
            manifest[_bundle_name(sources)] = sources
            href = os.path.relpath(folder / _bundle_name(sources), page.parent)
            return f'<link rel="stylesheet" type="text/css" href="{href}" />'

        head = _STYLESHEET_RUN.sub(bundle, html[:head_end])
        if head != html[:head_end]:
            page.write_text(head + html[head_end:], encoding="utf-8")
            changed += 1
    for sources in manifest.values():  # once each, also those of pages this build did not rewrite
        if all((outdir / f).is_file() for f in sources):
            _write_bundle(outdir, sources)
    if manifest:
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return changed
