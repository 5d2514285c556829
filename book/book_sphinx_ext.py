"""Local Sphinx extension for the book build (loaded via _config.yml local_extensions).

1. Offline assets: adds the vendored plotly.min.js (``offline_plotly_js``,
   relative to _static) to every page that contains a figure written by
   lmlib.plotting.show() (4.6 MB, so not to the others), and fails the build
   early, with a hint, if any vendored file the configuration points at is
   missing (run ``python book/fetch_assets.py``).
2. Sphinx 7.4 workaround: inline (body-only) scripts registered after the
   builder is initialised (sphinx-thebe's ``const THEBE_JS_URL = ...``) are
   emitted twice - once with filename None, once with '' - which throws
   "Identifier 'THEBE_JS_URL' has already been declared" on every page.
   Duplicate inline scripts are dropped per page.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError


def _required_files(app: Sphinx) -> list[str]:
    cfg = app.config
    files = [cfg.offline_plotly_js, cfg.mathjax_path]
    files += list(getattr(cfg, "nb_ipywidgets_js", {}))
    files.append(getattr(cfg, "mermaid_use_local", ""))
    return [f for f in files if f and "://" not in f and not f.startswith("/")]


def _check_and_register(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    static_dirs = [Path(app.confdir, p) for p in app.config.html_static_path]
    missing = [f for f in _required_files(app) if not any((d / f).is_file() for d in static_dirs)]
    if missing:
        raise ConfigError(
            f"book_sphinx_ext: missing static files {missing} in html_static_path "
            f"{app.config.html_static_path}; run `python book/fetch_assets.py` first."
        )


def _add_plotly(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or not app.config.offline_plotly_js:
        return
    for raw in doctree.findall(nodes.raw):
        if 'class="plotly-graph-div' in raw.astext():
            # priority 200: before require.js (500, added by myst-nb on widget
            # pages), in case a UMD bundle ever sees require.js' define().
            app.add_js_file(app.config.offline_plotly_js, priority=200)
            return


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, keep = set(), []
    for js in scripts:
        if not js.filename:  # inline script: identify by body + attributes
            key = (js.priority, tuple(sorted(js.attributes.items())))
            if key in seen:
                continue
            seen.add(key)
        keep.append(js)
    scripts[:] = keep


def setup(app: Sphinx) -> dict:
    app.add_config_value("offline_plotly_js", "", "html", types=[str])
    app.connect("builder-inited", _check_and_register)
    app.connect("html-page-context", _add_plotly)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
