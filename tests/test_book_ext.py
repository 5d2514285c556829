"""The book's build extension, piece by piece (book/bookext): stored widgets drawn static, Chinese text marked,
diagrams described, the smallest plotly bundle chosen. Needs the book stack (Sphinx): ``make test-browser``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))

from bookext import a11y, apiref, assets, remarks, widgets  # noqa: E402


def _model(name, module="@jupyter-widgets/controls", **state):
    return {"model_name": name, "model_module": module, "state": state}


STATE = {
    "layout": _model("LayoutModel", "@jupyter-widgets/base", width="50%"),
    "style": _model("SliderStyleModel", description_width="120px"),
    "slider": _model("FloatLogSliderModel", description="learning rate", value=0.01, base=10.0, min=-4, max=0,
                     step=0.1, readout_format=".1e", layout="IPY_MODEL_layout", style="IPY_MODEL_style"),
    "drop": _model("DropdownModel", description="model", _options_labels=["rnn", "gru"], index=1),
    "go": _model("ButtonModel", description="Train", button_style="success", icon="play"),
    "html": _model("HTMLModel", value="<b>loss</b> 2.0"),
    "out": _model("OutputModel", "@jupyter-widgets/output", outputs=[
        {"output_type": "stream", "name": "stdout", "text": "a < b\n"},
        {"output_type": "display_data", "data": {"text/html": "<i>figure</i>", "text/plain": "fig"}, "metadata": {}},
    ]),
    "bar": _model("FloatProgressModel", value=3.0, max=10.0, bar_style="success"),
    "box": _model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_drop", "IPY_MODEL_go", "IPY_MODEL_html",
                                         "IPY_MODEL_out"]),
    "progress": _model("HBoxModel", children=["IPY_MODEL_bar", "IPY_MODEL_html"]),
}


def test_inputs_are_drawn_disabled_with_their_values():
    drawn = widgets.WidgetRenderer({"state": STATE}).render("box")
    html = drawn.html
    assert drawn.inputs == ["learning rate", "model", "button Train"]
    assert html.count(" disabled ") == 3 and html.count('aria-disabled="true"') == 3
    assert 'type="range" min="-4" max="0" step="0.1" value="-2.0"' in html  # the log slider's exponent
    assert '<output class="bw-readout">1.0e-02</output>' in html
    assert '<option selected>gru</option>' in html and "<option>rnn</option>" in html
    assert 'style="width:120px"' in html and 'style="width:50%"' in html
    assert "<b>loss</b> 2.0" in html  # HTML values are HTML
    assert '<pre class="bw-stream">a &lt; b\n</pre>' in html and "<i>figure</i>" in html


def test_a_widget_without_inputs_needs_no_note():
    renderer = widgets.WidgetRenderer({"state": STATE})
    page, drawn = widgets.render_view(renderer, "progress", widgets.note_html("x.ipynb", None, None))
    assert drawn.inputs == [] and "book-widget-note" not in page and "needs-kernel" not in page
    assert '<progress max="10.0" value="3.0"></progress>' in page


def test_the_note_links_where_the_notebook_runs():
    note = widgets.note_html("../_sources/ch.ipynb", "https://colab/x", "https://binder/x")
    assert 'href="https://colab/x">open it on Colab</a>, <a href="https://binder/x">on Binder</a> or ' in note
    assert 'href="../_sources/ch.ipynb" download>download the notebook</a>' in note
    page, _ = widgets.render_view(widgets.WidgetRenderer({"state": STATE}), "box", note)
    assert page.startswith('<div class="book-widget book-widget-static book-widget-needs-kernel"') and note in page
    assert json.loads(page.split('data-controls="')[1].split('"')[0].replace("&quot;", '"')) == [
        "learning rate", "model", "button Train"]


def test_missing_and_unknown_models_say_so():
    renderer = widgets.WidgetRenderer({"state": {"odd": _model("MysteryModel")}})
    assert "shown only in a running notebook" in renderer.render("odd").html
    assert "state was not saved" in renderer.render("gone").html


def test_view_model_id_reads_myst_nb_output():
    raw = '<script type="application/vnd.jupyter.widget-view+json">{"version_major": 2, "model_id": "abc"}</script>'
    assert widgets.view_model_id(raw) == "abc" and widgets.view_model_id("<p>no</p>") is None


def test_chinese_runs_get_lang_zh_once():
    page = ('<html><head><title>背景</title><script>var s = "这是";</script></head><body>'
            '<h1>1 Background (背景介绍)</h1><p title="核心">The prompt 这是一个, and 核心概念与联系。</p>'
            '<pre class="mermaid">a["核心"] --> b</pre><div lang="zh">已标记</div></body></html>')
    marked = a11y.mark_chinese(page)
    assert '<h1>1 Background (<span lang="zh">背景介绍</span>)</h1>' in marked
    assert '<span lang="zh">这是一个</span>, and <span lang="zh">核心概念与联系。</span>' in marked
    assert '<title>背景</title>' in marked and 'var s = "这是";' in marked and 'title="核心"' in marked
    assert '<pre class="mermaid">a["核心"] --> b</pre>' in marked and '<div lang="zh">已标记</div>' in marked
    assert a11y.mark_chinese(marked) == marked


def test_diagrams_are_described_in_words():
    code = '''flowchart LR
    core["Core concepts<br/>核心概念"] --> nn["Neural networks"]
    nn -- "leads to" --> arch["Architecture"]
    subgraph P["1 preprocess"]
        T["tokenize"]
    end
    P --> core'''
    text = a11y.describe_mermaid(code)
    assert text == ("Flowchart: Core concepts / 核心概念 → Neural networks; Neural networks → Architecture (leads to); "
                    "1 preprocess → Core concepts / 核心概念.")
    assert a11y.describe_mermaid("flowchart TB\n  accDescr: Three boxes in a row\n  a --> b") == "Three boxes in a row"


def _figure_html(*types):
    fig = {"data": [{"type": t} for t in types], "layout": {}, "frames": [{"data": [{"type": "bar"}]}]}
    return (f'<div id="p" class="plotly-graph-div lmlib-plotly"></div><script>(function () {{\n'
            f'  var fig = {json.dumps(fig)};\n  function draw() {{}}\n}})();</script>')


def test_the_smallest_plotly_bundle_that_draws_the_page():
    assert assets.trace_types(_figure_html("scatter", "heatmap")) == {"scatter", "heatmap", "bar"}
    assert assets.trace_types('<div class="plotly-graph-div"></div><script>Plotly.newPlot("p", [])</script>') is None

    class Config:
        offline_plotly_cartesian_js = "small.js"
        offline_plotly_js = "full.js"

    class App:
        config = Config()

    cartesian = {"traces": {"scatter", "contour", "heatmap", "bar"}, "unknown_traces": False}
    assert assets.plotly_bundle(App(), cartesian) == "small.js"
    assert assets.plotly_bundle(App(), {"traces": {"scatter3d"}, "unknown_traces": False}) == "full.js"
    assert assets.plotly_bundle(App(), {"traces": set(), "unknown_traces": True}) == "full.js"


def test_css_imports_are_inlined_with_their_urls_rebased(tmp_path):
    styles = tmp_path / "_static" / "styles"
    styles.mkdir(parents=True)
    (tmp_path / "_static" / "basic.css").write_text(
        'div.a { background-image: url(file.png); }\nb { background: url("x/y.svg") }\n'
        "c { background: url(data:image/png;base64,AAA) }\nd { src: url(https://e.org/f.woff) }\n")
    theme = styles / "theme.css"
    theme.write_text('/* from the basic theme */\n@import "../basic.css";\n@import url("missing.css");\n')
    assert assets.inline_css_imports(theme)
    text = theme.read_text()
    assert "@import \"../basic.css\"" not in text and "url(../file.png)" in text and 'url("../x/y.svg")' in text
    assert "url(data:image/png;base64,AAA)" in text and "url(https://e.org/f.woff)" in text
    assert '@import url("missing.css");' in text  # a file that is not there stays an import
    assert not assets.inline_css_imports(theme)  # nothing left to do


def test_consecutive_stylesheets_become_one_bundle_in_order(tmp_path):
    static = tmp_path / "_static"
    (static / "styles").mkdir(parents=True)
    (static / "basic.css").write_text("a { background: url(file.png) }\n")
    (static / "styles" / "theme.css").write_text('@import "../basic.css";\n')
    (static / "styles" / "main.css").write_text("b { src: url(../vendor/f.woff2) }\n")
    (static / "book.css").write_text("c { color: red }\n")
    (static / "print.css").write_text("d {}\n")
    links = ('<link href="{p}_static/styles/theme.css?digest=1" rel="stylesheet" />\n'
             '<link href="{p}_static/styles/main.css?digest=1" rel="stylesheet" />\n'
             '<link rel="stylesheet" type="text/css" href="{p}_static/book.css?v=2" />\n'
             '<link rel="stylesheet" href="{p}_static/print.css" media="print" />\n'
             '<link rel="stylesheet" href="https://cdn.example/x.css" />')
    (tmp_path / "chapters").mkdir()
    for page, prefix in (("intro.html", ""), ("chapters/c.html", "../")):
        (tmp_path / page).write_text(f"<html><head>{links.format(p=prefix)}</head>"
                                     f'<body><link rel="stylesheet" href="{prefix}_static/book.css">x</body></html>')
    assert assets.bundle_stylesheets(tmp_path) == 2
    bundles = list((tmp_path / assets.BUNDLES).glob("*.css"))
    assert len(bundles) == 1  # the same run on both pages: one file
    text = bundles[0].read_text()
    assert text.index("url(../../file.png)") < text.index("url(../../vendor/f.woff2)") < text.index("color: red")
    assert "@import" not in text and "d {}" not in text
    chapter = (tmp_path / "chapters/c.html").read_text()
    assert f'href="../_static/styles/bundles/{bundles[0].name}"' in chapter
    assert 'media="print"' in chapter and "https://cdn.example/x.css" in chapter  # left alone
    assert chapter.count("rel=\"stylesheet\"") == 4  # bundle, print, remote, and the one in <body>
    assert assets.bundle_stylesheets(tmp_path) == 0  # idempotent
    (static / "book.css").write_text("c { color: blue }\n")  # an incremental build: pages not rewritten
    assert assets.bundle_stylesheets(tmp_path) == 0
    assert "color: blue" in bundles[0].read_text() and "color: red" not in bundles[0].read_text()


def test_every_figure_in_the_chapters_draws_with_the_small_bundle():
    """A chapter figure with another trace type would load the 4.8 MB bundle: say so here, on purpose."""
    found = set()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                html = out.get("data", {}).get("text/html", "")
                types = assets.trace_types("".join(html) if isinstance(html, list) else html)
                assert types is not None, f"{path.name}: a figure not made by lmlib.plotting"
                found |= types
    assert found <= assets.CARTESIAN_TRACES, found - assets.CARTESIAN_TRACES


# ----------------------------------------------------------------- test remarks out of the shown code
def test_a_test_remark_leaves_the_code_and_keeps_its_reason():
    source = ("# nbval-ignore-output: losses vary in the last digits with the CPU;\n"
              "# the assertions check what matters.\n# a comment about the code\nx = 1")
    reason, code = remarks.split_remark(source)
    assert reason == "losses vary in the last digits with the CPU; the assertions check what matters."
    assert code == "# a comment about the code\nx = 1"
    assert remarks.split_remark("# timings vary\nx = 1") == (None, "# timings vary\nx = 1")
    one_line = remarks.split_remark("# nbval-ignore-output: the sizes depend on the versions installed\nimport os")
    assert one_line == ("the sizes depend on the versions installed", "import os")


def test_move_remarks_changes_only_code_cells():
    from docutils import nodes
    from docutils.utils import new_document
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser

    doc = new_document("page", get_default_settings(Parser))
    code = "# nbval-ignore-output: timings depend on the machine.\nprint(1)"
    cell = nodes.container(classes=["cell"], cell_metadata={})
    cell_input = nodes.container(classes=["cell_input"])
    cell_input += nodes.literal_block(code, code)
    cell += cell_input
    by_metadata = nodes.container(classes=["cell"], cell_metadata={"nbval-ignore-output": "the time varies"})
    other_input = nodes.container(classes=["cell_input"])
    other_input += nodes.literal_block("print(2)", "print(2)")
    by_metadata += other_input
    prose = nodes.literal_block(code, code)  # a code block in prose is left alone
    doc += [cell, by_metadata, prose]
    assert remarks.move_remarks(doc) == 2
    assert cell_input.children[1].astext() == "print(1)" and cell_input.children[1].rawsource == "print(1)"
    assert "Timings depend on the machine." in cell_input.children[0].astext()
    assert "The time varies" in other_input.children[0].astext()
    assert prose.astext() == code


# ------------------------------------------------------------------ appendix C, the lmlib reference (apiref)
PIPELINE = ["data", "tokenizers", "models", "layers", "train", "train_config", "train_callbacks", "train_hardware",
            "optim", "distributed", "generate", "checkpoint"]


def _sphinx_text(tmp_path, modules: list[str], extra_path: Path | None = None) -> tuple[str, str]:
    """(text output, warnings) of a minimal Sphinx project, nitpicky, whose one page is ``lmlib-module``
    directives, with the book's apiref extension and its autodoc settings."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    paths = [str(ROOT / "book"), str(ROOT)] + ([str(extra_path)] if extra_path else [])
    (src / "conf.py").write_text(
        f"import sys\nsys.path[:0] = {paths!r}\nextensions = ['bookext.apiref']\nnitpicky = True\n"
        "autodoc_member_order = 'bysource'\nautodoc_type_aliases = {'Params': 'lmlib.jax_twin.Params'}\n")
    (src / "index.rst").write_text("Reference\n=========\n\n" + "".join(f".. lmlib-module:: {m}\n\n" for m in modules))
    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "text", status=None,
                 warning=warnings, freshenv=True)
    app.build()
    return (tmp_path / "out" / "index.txt").read_text(encoding="utf-8"), warnings.getvalue()


def test_the_pipeline_reference_documents_every_public_name_and_every_config_field(tmp_path):
    import importlib

    sys.path.insert(0, str(ROOT / "book"))
    from bookext import fieldnotes

    modules = [f"lmlib.{m}" for m in PIPELINE]
    text, warnings = _sphinx_text(tmp_path, modules + ["lmlib.runtime"])  # train re-exports seed_everything
    assert warnings == "", warnings  # clean under nitpicky: lmlib's references resolve, docstrings parse
    for name in modules:
        own, constants, elsewhere = apiref.module_members(name)
        assert own, name
        for member in own + constants:
            assert f"{name}.{member}" in text, f"{name}.{member} is not in the reference"
        for member in elsewhere:  # re-exports: documented where defined, named here
            assert member in text
        for obj in vars(importlib.import_module(name)).values():
            if fieldnotes.is_config(obj) and obj.__module__ == name:
                for row in fieldnotes.field_rows(obj):
                    assert row.name in text and " ".join(row.meaning.split()[:4]) in " ".join(text.split()), row
    # documented once: train re-exports TrainConfig, documented in train_config
    assert text.count("class lmlib.train_config.TrainConfig(") == 1 and "lmlib.train.TrainConfig" not in text


def test_a_config_field_without_a_comment_fails_the_build(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "lmlib_tiny.py").write_text(
        '"""A tiny module."""\nfrom dataclasses import dataclass\n\n__all__ = ["TinyConfig"]\n\n\n@dataclass\n'
        'class TinyConfig:\n    """Tiny."""\n\n    width: int = 2  # how wide\n    depth: int = 3\n')
    text, warnings = _sphinx_text(tmp_path, ["lmlib_tiny"], extra_path=tmp_path / "pkg")
    assert "TinyConfig: fields without a comment saying what they mean: ['depth']" in warnings


def test_lmlib_docstrings_plain_text_arithmetic_is_escaped():
    assert apiref.escape_rst("Largest |a - b| over ``n|m`` inputs") == r"Largest \|a - b\| over ``n|m`` inputs"
    assert apiref.escape_rst("+, *, powers; x**2; *word* and **bold**") == r"+, \*, powers; x\*\*2; *word* and **bold**"
    assert apiref.escape_rst("a * b and * bullet") == "a * b and * bullet"
    lines = ["Example::", "", "    |x| * y", "", "back |here|", ">>> a|b"]
    assert apiref.escape_docstring(lines) == ["Example::", "", "    |x| * y", "", r"back \|here\|", ">>> a|b"]


def test_external_types_are_recognised_and_lmlib_names_never_are():
    assert apiref.is_external("torch.Tensor") and apiref.is_external("pathlib.Path") and apiref.is_external("Tensor")
    assert apiref.is_external("numpy.ndarray") and apiref.is_external("~torch.nn.Module")
    assert not apiref.is_external("lmlib.models.GPT") and not apiref.is_external("GPTConfig")
