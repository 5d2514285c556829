"""Stored ipywidgets, drawn at build time as plain HTML: nothing on the static page pretends to be live.

A notebook stores each widget's last state (``metadata.widgets``, written by book/execute_notebooks.py)
and, in each output that showed one, a view that points at it. The usual way to show them is the
JavaScript widget manager (3.6 MB, plus require.js) on every such page, which draws sliders and buttons
that look usable and do nothing without a kernel. Instead this module replaces each stored view by
HTML drawn from the saved state:

* what shows results (HTML, labels, progress bars, ``Output`` areas with their figures and text) is
  drawn as it was left, and stays interactive where it can be without a kernel (plotly figures);
* what takes input (sliders, text boxes, drop-downs, buttons, ...) is drawn *disabled*, showing its last
  value, and the widget gets a one-line note saying it needs a kernel, with links to run the notebook
  (download; Colab and Binder when the book names a repository).

A chapter that wants a control to work on the static page replaces it instead: it shows the same
result as a plotly figure with precomputed slider frames (``lmlib.plotting.slider_figure``) and tags the
live widget's cell ``remove-output`` so the static page shows the frames only (README, "Widgets").
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_REF = "IPY_MODEL_"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Model names (ipywidgets 7 and 8) by what the static page does with them.
BOXES = {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"}
SLIDERS = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
           "FloatRangeSliderModel", "SelectionSliderModel", "SelectionRangeSliderModel", "PlayModel"}
TEXTS = {"TextModel", "TextareaModel", "PasswordModel", "ComboboxModel"}
NUMBERS = {"IntTextModel", "FloatTextModel", "BoundedIntTextModel", "BoundedFloatTextModel"}
CHOICES = {"DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel", "SelectMultipleModel"}
CHECKS = {"CheckboxModel", "ToggleButtonModel"}
BUTTONS = {"ButtonModel"}
OTHER_INPUTS = {"ColorPickerModel", "DatePickerModel", "DatetimeModel", "TimeModel", "FileUploadModel",
                "ControllerModel", "TagsInputModel", "ColorsInputModel", "IntsInputModel", "FloatsInputModel"}
INPUTS = SLIDERS | TEXTS | NUMBERS | CHOICES | CHECKS | BUTTONS | OTHER_INPUTS
DISPLAYS = {"HTMLModel", "HTMLMathModel", "LabelModel", "OutputModel", "IntProgressModel", "FloatProgressModel",
            "ValidModel", "ImageModel"}
LAYOUT_KEYS = ("width", "max_width", "min_width", "height", "max_height", "min_height", "margin", "padding",
               "display", "flex", "flex_flow", "align_items", "align_content", "justify_content", "overflow",
               "visibility", "border", "grid_gap", "grid_template_columns", "grid_template_rows")
OUTPUT_ORDER = (WIDGET_VIEW, "text/html", "image/svg+xml", "image/png", "image/jpeg", "text/latex", "text/plain")


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _d3_format(value: float, spec: str | None, default: str) -> str:
    """A number formatted like the widget's readout (ipywidgets uses d3-format specs such as '.2f', '.1e')."""
    spec = (spec or default).strip()
    try:
        return format(value, spec.replace("~", "")) if spec else str(value)
    except (ValueError, TypeError):
        return str(value)


@dataclass
class Rendered:
    """The HTML for one view, and what it contains."""

    html: str
    inputs: list[str] = field(default_factory=list)  # descriptions of the controls that need a kernel
    math: bool = False


class WidgetRenderer:
    """Draws stored widget views of one notebook as static HTML."""

    def __init__(self, state: dict[str, Any]):
        self.models: dict[str, dict] = state.get("state", {}) if "state" in state else state
        self._ids = 0

    # ------------------------------------------------------------------ helpers
    def _model(self, ref: Any) -> dict | None:
        if not isinstance(ref, str):
            return None
        return self.models.get(ref[len(_MODEL_REF):] if ref.startswith(_MODEL_REF) else ref)

    def _style_attr(self, state: dict) -> str:
        layout = (self._model(state.get("layout")) or {}).get("state", {})
        css = [f"{k.replace('_', '-')}:{layout[k]}" for k in LAYOUT_KEYS if layout.get(k) not in (None, "")]
        return f' style="{_e(";".join(css))}"' if css else ""

    def _widget_style(self, state: dict) -> dict:
        return (self._model(state.get("style")) or {}).get("state", {})

    def _new_id(self, model_id: str) -> str:
        self._ids += 1
        return f"bw-{model_id[:8]}-{self._ids}"

    def _label(self, state: dict, for_id: str | None = None) -> str:
        text = state.get("description") or ""
        if not text:
            return ""
        width = self._widget_style(state).get("description_width") or ""
        style = f' style="width:{_e(width)}"' if width else ""
        body = text if state.get("description_allow_html") else _e(text)
        target = f' for="{for_id}"' if for_id else ""
        return f'<label class="bw-label"{target}{style}>{body}</label>'

    # ------------------------------------------------------------------ views
    def render(self, model_id: str, depth: int = 0) -> Rendered:
        """The HTML of the view of ``model_id`` (and of its children)."""
        model_id = model_id[len(_MODEL_REF):] if isinstance(model_id, str) and model_id.startswith(_MODEL_REF) else model_id
        model = self._model(model_id)
        if model is None or depth > 50:
            return Rendered('<div class="bw-missing">(a widget whose state was not saved)</div>')
        name = model.get("model_name", "")
        state = model.get("state", {})
        if name in BOXES:
            return self._box(name, state, depth)
        if name in INPUTS:
            return self._input(model_id, name, state)
        return self._display(name, state, depth)

    def _box(self, name: str, state: dict, depth: int) -> Rendered:
        parts = [self.render(ref, depth + 1) for ref in state.get("children", [])]
        kind = {"HBoxModel": "bw-hbox", "GridBoxModel": "bw-grid"}.get(name, "bw-vbox")
        titles = state.get("titles") or state.get("_titles") or []
        if name in ("TabModel", "AccordionModel") and titles:
            titles = titles.values() if isinstance(titles, dict) else titles
            body = "".join(f'<div class="bw-section"><div class="bw-section-title">{_e(t)}</div>{p.html}</div>'
                           for t, p in zip(titles, parts))
        else:
            body = "".join(p.html for p in parts)
        return Rendered(f'<div class="bw-box {kind}"{self._style_attr(state)}>{body}</div>',
                        [i for p in parts for i in p.inputs], any(p.math for p in parts))

    def _input(self, model_id: str, name: str, state: dict) -> Rendered:
        uid = self._new_id(model_id)
        described = state.get("description") or state.get("tooltip") or name.removesuffix("Model")
        aria = f'aria-label="{_e(described)}" ' if not state.get("description") else ""
        common = f'id="{uid}" {aria}disabled aria-disabled="true" title="needs a running kernel"'
        if name in SLIDERS:
            control = self._slider(name, state, common)
        elif name in TEXTS:
            tag = "textarea" if name == "TextareaModel" else None
            value = state.get("value", "")
            control = (f'<textarea class="bw-text" {common}>{_e(value)}</textarea>' if tag else
                       f'<input class="bw-text" type="text" value="{_e(value)}" {common}>')
        elif name in NUMBERS:
            control = f'<input class="bw-number" type="number" value="{_e(state.get("value", ""))}" {common}>'
        elif name in CHOICES:
            labels = state.get("_options_labels") or []
            index = state.get("index")
            chosen = set(index) if isinstance(index, (list, tuple)) else {index}
            options = "".join(f'<option{" selected" if i in chosen else ""}>{_e(label)}</option>'
                              for i, label in enumerate(labels))
            control = f'<select class="bw-select" {common}>{options}</select>'
        elif name in CHECKS:
            checked = " checked" if state.get("value") else ""
            control = f'<input class="bw-check" type="checkbox"{checked} {common}>'
        elif name in BUTTONS:
            style = state.get("button_style") or "default"
            icon = state.get("icon") or ""
            glyph = f'<i class="fa-solid fa-{_e(icon)}" aria-hidden="true"></i> ' if icon else ""
            text = _e(state.get("description") or state.get("tooltip") or "")
            colour = self._widget_style(state).get("button_color")
            paint = f' style="background:{_e(colour)}"' if colour else ""
            control = (f'<button type="button" class="bw-button bw-button-{_e(style)}"{paint} {common}>'
                       f'{glyph}{text}</button>')
            return Rendered(f'<div class="bw-control bw-disabled"{self._style_attr(state)}>{control}</div>',
                            [f"button {state.get('description') or state.get('tooltip') or ''}".strip()])
        else:
            control = f'<span class="bw-unsupported" {common}>{_e(name.removesuffix("Model"))}</span>'
        html_ = (f'<div class="bw-control bw-disabled"{self._style_attr(state)}>{self._label(state, uid)}'
                 f'{control}</div>')
        return Rendered(html_, [described])

    def _slider(self, name: str, state: dict, common: str) -> str:
        lo, hi, step = state.get("min", 0), state.get("max", 100), state.get("step", 1)
        value = state.get("value", lo)
        if name == "FloatLogSliderModel":
            import math

            base = state.get("base", 10.0)
            position = round(math.log(value, base), 6) if isinstance(value, (int, float)) and value > 0 else lo
            shown = _d3_format(value, state.get("readout_format"), ".3g")
        elif name in ("SelectionSliderModel", "SelectionRangeSliderModel"):
            labels = state.get("_options_labels") or []
            index = state.get("index", 0)
            lo, hi, step = 0, max(len(labels) - 1, 0), 1
            position = index[0] if isinstance(index, (list, tuple)) else index
            shown = " – ".join(labels[i] for i in (index if isinstance(index, (list, tuple)) else [index])
                               if isinstance(i, int) and i < len(labels))
        elif isinstance(value, (list, tuple)):  # range sliders
            position = value[0]
            fmt = ".2f" if name.startswith("Float") else "d"
            shown = " – ".join(_d3_format(v, state.get("readout_format"), fmt) for v in value)
        else:
            position = value
            shown = _d3_format(value, state.get("readout_format"), ".2f" if name.startswith("Float") else "d")
        readout = f'<output class="bw-readout">{_e(shown)}</output>' if state.get("readout", True) else ""
        return (f'<input class="bw-slider" type="range" min="{_e(lo)}" max="{_e(hi)}" step="{_e(step)}" '
                f'value="{_e(position)}" {common}>{readout}')

    def _display(self, name: str, state: dict, depth: int) -> Rendered:
        style = self._style_attr(state)
        if name in ("HTMLModel", "HTMLMathModel"):
            label = self._label(state)
            math = name == "HTMLMathModel"
            cls = "bw-html bw-math tex2jax_process" if math else "bw-html"
            return Rendered(f'<div class="{cls}"{style}>{label}<div class="bw-value">{state.get("value", "")}'
                            f'</div></div>', math=math)
        if name == "LabelModel":
            return Rendered(f'<div class="bw-label-widget"{style}>{_e(state.get("value", ""))}</div>')
        if name in ("IntProgressModel", "FloatProgressModel"):
            bar = state.get("bar_style") or ""
            colour = self._widget_style(state).get("bar_color")
            colour_css = f' style="accent-color:{_e(colour)}"' if colour else ""
            return Rendered(
                f'<div class="bw-progress bw-progress-{_e(bar or "default")}"{style}>{self._label(state)}'
                f'<progress max="{_e(state.get("max", 100))}" value="{_e(state.get("value", 0))}"{colour_css}>'
                f'</progress></div>')
        if name == "ValidModel":
            ok = state.get("value")
            mark = "✔" if ok else "✘"
            return Rendered(f'<div class="bw-valid"{style}>{self._label(state)}<span>{mark} '
                            f'{_e(state.get("readout", ""))}</span></div>')
        if name == "OutputModel":
            parts = [self.render_output(out, depth + 1) for out in state.get("outputs", [])]
            return Rendered(f'<div class="bw-output"{style}>{"".join(p.html for p in parts)}</div>',
                            [i for p in parts for i in p.inputs], any(p.math for p in parts))
        return Rendered(f'<div class="bw-unsupported"{style}>({_e(name.removesuffix("Model"))} widget: '
                        f'shown only in a running notebook)</div>')

    # ------------------------------------------------------------------ outputs inside Output widgets
    def render_output(self, out: dict, depth: int = 0) -> Rendered:
        """One nbformat output (as stored in an Output widget) as HTML."""
        kind = out.get("output_type")
        if kind == "stream":
            text = _ANSI.sub("", "".join(out.get("text", "")))
            cls = "bw-stderr" if out.get("name") == "stderr" else "bw-stream"
            return Rendered(f'<pre class="{cls}">{_e(text)}</pre>')
        if kind == "error":
            text = _ANSI.sub("", "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}")
            return Rendered(f'<pre class="bw-error">{_e(text)}</pre>')
        data = out.get("data", {})
        for mime in OUTPUT_ORDER:
            if mime not in data:
                continue
            value = data[mime]
            value = "".join(value) if isinstance(value, list) else value
            if mime == WIDGET_VIEW:
                ref = value.get("model_id") if isinstance(value, dict) else json.loads(value).get("model_id")
                return self.render(ref, depth + 1)
            if mime in ("text/html", "image/svg+xml"):
                return Rendered(f'<div class="bw-html-output">{value}</div>')
            if mime in ("image/png", "image/jpeg"):
                return Rendered(f'<img class="bw-image" alt="" src="data:{mime};base64,{_e(value.strip())}">')
            if mime == "text/latex":
                return Rendered(f'<div class="bw-latex tex2jax_process">{_e(value)}</div>', math=True)
            return Rendered(f'<pre class="bw-plain">{_e(_ANSI.sub("", value))}</pre>')
        return Rendered("")


def note_html(download: str | None, colab: str | None, binder: str | None) -> str:
    """The one-line note above a widget whose controls need a kernel."""
    links = []
    if colab:
        links.append(f'<a href="{_e(colab)}">open it on Colab</a>')
    if binder:
        links.append(f'<a href="{_e(binder)}">on Binder</a>')
    if download:
        links.append(f'<a href="{_e(download)}" download>download the notebook</a>')
    where = ", ".join(links[:-1]) + (" or " if len(links) > 1 else "") + links[-1] if links else \
        "run this chapter as a notebook"
    return ('<p class="book-widget-note" role="note"><i class="fa-solid fa-circle-info" aria-hidden="true"></i> '
            f'These controls need a running Python kernel and are shown as the notebook left them: {where} '
            'to use them.</p>')


def render_view(renderer: WidgetRenderer, model_id: str, note: str) -> tuple[str, Rendered]:
    """A stored view as the static page shows it: the note (if it takes input) and the drawn widget."""
    drawn = renderer.render(model_id)
    live = bool(drawn.inputs)
    cls = "book-widget book-widget-static" + (" book-widget-needs-kernel" if live else "")
    inputs = _e(json.dumps(drawn.inputs, ensure_ascii=False)) if live else ""
    data = f' data-controls="{inputs}"' if live else ""
    return (f'<div class="{cls}" data-model-id="{_e(model_id)}"{data}>{note if live else ""}'
            f'<div class="book-widget-body">{drawn.html}</div></div>'), drawn


def view_model_id(raw_html: str) -> str | None:
    """The model id in myst-nb's ``<script type="application/vnd.jupyter.widget-view+json">`` (else None)."""
    match = re.search(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', raw_html, re.S)
    if not match:
        return None
    try:
        return json.loads(match.group(1).replace("<\\/", "</")).get("model_id")
    except json.JSONDecodeError:
        return None
