"""Plotly figures that work in the static book, in Jupyter, VS Code and on Colab, and a live plot.

Chapters call ``show(fig)`` instead of ``fig.show()``, and ``LivePlot`` for curves that redraw while
training runs (chapter 5's dashboard, chapter 3's loss curve). ``slider_figure`` precomputes a figure for
each value of a parameter, so the static book has a working slider where the notebook has an ipywidget;
``book_layout`` gives a figure the book's legible defaults; ``show(fig, description=...)`` attaches a text
description for screen readers (the book's page script otherwise describes a figure by its title).

Three places a figure is seen, chosen automatically:

* **The book** (``LMLIB_BOOK_MODE=1``, set by the author's execution script and by the test run): a
  ``text/html`` div whose id is a hash of the figure, drawn by the ``Plotly`` the book serves from its
  own static folder. Same figure, same bytes: strict nbval comparison and offline pages both hold.
* **Colab**: Plotly's ``FigureWidget`` does not render there, and a figure inside an ipywidgets
  ``Output`` can fail with "Plotly is not defined"; so figures carry their own ``<script>`` loader.
* **Jupyter, Binder, VS Code**: Plotly's own mimetype (``application/vnd.plotly.v1+json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import html as _html
from typing import Any, Callable, Sequence

from .envreport import in_colab

__all__ = ["book_mode", "mimebundle", "show", "LivePlot", "loss_figure", "slider_figure", "book_layout",
           "BOOK_MODE_ENV"]

BOOK_MODE_ENV = "LMLIB_BOOK_MODE"
DEFAULT_CONFIG: dict[str, Any] = {"responsive": True, "displaylogo": False}
DEFAULT_HEIGHT = 450
_seen: dict[str, int] = {}  # figures shown so far in this kernel, so a repeated figure gets its own id

_BOOK_TEMPLATE = """\
<div id="{div_id}" class="plotly-graph-div lmlib-plotly" style="height:{height}px; width:100%;"></div>
<script type="text/javascript">
(function () {{
  var fig = {fig_json};
  function draw() {{
    var el = document.getElementById("{div_id}");
    if (!window.Plotly) {{
      if (el) {{ el.textContent = "Interactive figure: run this cell to display it."; }}
      return;
    }}
    window.Plotly.newPlot(el, fig);
  }}
  if (window.Plotly) {{ draw(); }} else {{ window.addEventListener("DOMContentLoaded", draw); }}
}})();
</script>"""


def book_mode() -> bool:
    """True while outputs are produced for the book (author execution, nbval)."""
    return os.environ.get(BOOK_MODE_ENV, "") == "1"


def _figure_spec(fig: Any, config: dict | None) -> dict:
    import plotly.io as pio

    # engine="json": the standard library encoder, so the bytes do not depend on orjson being installed.
    spec = json.loads(pio.to_json(fig, validate=True, pretty=False, engine="json"))
    spec["config"] = {**DEFAULT_CONFIG, **(config or {})}
    return spec


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _described(html: str, description: str | None) -> str:
    """``html`` in a figure element that carries ``description`` (for screen readers); unchanged without one."""
    if not description:
        return html
    text = _html.escape(" ".join(description.split()), quote=True)
    return (f'<figure class="lmlib-figure" role="figure" aria-label="{text}" data-description="{text}" '
            f'style="margin:0">{html}<figcaption class="book-sr-only" style="position:absolute;width:1px;'
            f'height:1px;overflow:hidden;clip:rect(0,0,0,0)">{text}</figcaption></figure>')


def _plain(title: str, description: str | None) -> str:
    if description:
        return f"<plotly figure: {' '.join(description.split())}>"
    return f"<plotly figure: {title}>" if title else "<plotly figure>"


def _title(spec: dict) -> str:
    return (spec.get("layout", {}).get("title") or {}).get("text", "")


def _book_bundle(fig: Any, config: dict | None, description: str | None = None) -> dict[str, Any]:
    spec = _figure_spec(fig, config)
    digest = hashlib.sha256(_canonical(spec).encode("utf-8")).hexdigest()[:16]
    count = _seen.get(digest, 0)
    _seen[digest] = count + 1
    div_id = f"plotly-{digest}" + (f"-{count}" if count else "")
    height = spec.get("layout", {}).get("height") or DEFAULT_HEIGHT
    html = _BOOK_TEMPLATE.format(
        div_id=div_id, height=int(height), fig_json=_canonical(spec).replace("</", "<\\/")
    )
    return {"text/html": _described(html, description), "text/plain": _plain(_title(spec), description)}


def _colab_bundle(fig: Any, config: dict | None, description: str | None = None) -> dict[str, Any]:
    import plotly.io as pio

    html = pio.to_html(fig, include_plotlyjs="cdn", full_html=False, config={**DEFAULT_CONFIG, **(config or {})})
    return {"text/html": _described(html, description), "text/plain": _plain("", description)}


def _jupyter_bundle(fig: Any, config: dict | None, description: str | None = None) -> dict[str, Any]:
    spec = _figure_spec(fig, config)
    return {"application/vnd.plotly.v1+json": spec, "text/plain": _plain("", description)}


def mimebundle(fig: Any, config: dict | None = None, description: str | None = None) -> dict[str, Any]:
    """The display data for ``fig`` that suits where the code runs (book, Colab, or Jupyter).

    ``description``: a sentence saying what the figure shows, for readers who cannot see it (the book page
    carries it as the figure's accessible name; without one, the page uses the figure's title).
    """
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict of plotly config options or None, got {type(config).__name__}")
    if book_mode():
        return _book_bundle(fig, config, description)
    if in_colab():
        return _colab_bundle(fig, config, description)
    return _jupyter_bundle(fig, config, description)


def show(fig: Any, config: dict | None = None, description: str | None = None) -> None:
    """Display a plotly figure; use instead of ``fig.show()`` so the book's pages work offline.

    ``description``: what the figure shows, in a sentence, for screen readers (see ``mimebundle``).
    """
    from IPython.display import display

    display(mimebundle(fig, config, description), raw=True)


class LivePlot:
    """A figure that redraws in place: ``update(fig)`` replaces what is shown.

    Its ``widget`` is an ipywidgets ``Output`` whose content is replaced on each update, which works in
    Jupyter, VS Code and on Colab and may be updated from a background thread.
    """

    def __init__(self) -> None:
        import ipywidgets as widgets

        self.widget = widgets.Output()
        self.figure: Any = None

    def update(self, fig: Any) -> None:
        """Show ``fig`` in place of the previous figure."""
        self.figure = fig
        data = mimebundle(fig)
        self.widget.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def clear(self) -> None:
        """Remove the figure."""
        self.figure = None
        self.widget.outputs = ()


def loss_figure(history: Any, title: str = "Loss during training", height: int = 380) -> Any:
    """A plotly figure of training and validation loss (nats/token) against step, from a ``History``."""
    import math

    import plotly.graph_objects as go

    if history is not None and not all(hasattr(history, a) for a in ("steps", "train_loss", "val_loss", "step_loss")):
        raise TypeError(f"history must be a train.History (or None), got {type(history).__name__}")
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    fig = go.Figure()
    if history is not None and history.step_loss:
        steps = list(range(1, len(history.step_loss) + 1))
        fig.add_scatter(x=steps, y=[round(v, 4) for v in history.step_loss], mode="lines", name="train (each step)",
                        line=dict(width=1, color="rgba(31,119,180,0.35)"),
                        hovertemplate="step %{x}<br>train loss %{y:.3f}<extra></extra>")
    if history is not None and history.steps:
        fig.add_scatter(x=history.steps, y=[round(v, 4) for v in history.train_loss], mode="lines+markers",
                        name="train (mean)", line=dict(color="#1f77b4"),
                        hovertemplate="step %{x}<br>mean train loss %{y:.3f}<extra></extra>")
        val = [(s, v) for s, v in zip(history.steps, history.val_loss) if not math.isnan(v)]
        if val:
            fig.add_scatter(x=[s for s, _ in val], y=[round(v, 4) for _, v in val], mode="lines+markers",
                            name="validation", line=dict(color="#d62728"),
                            hovertemplate="step %{x}<br>validation loss %{y:.3f}<extra></extra>")
    fig.update_layout(title=title, height=height, xaxis_title="training step",
                      yaxis_title="cross-entropy loss (nats per token)", hovermode="x unified",
                      margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.25))
    return fig


# ---------------------------------------------------------------------------------------- layout defaults
BOOK_LAYOUT: dict[str, Any] = {
    "autosize": True,  # fill the page's width (with the config's responsive: True, also when it changes)
    "font": {"size": 13},
    "title": {"font": {"size": 16}, "x": 0.02, "xanchor": "left"},
    "legend": {"font": {"size": 12}},
    "xaxis": {"automargin": True},  # tick labels and axis titles get the room they need
    "yaxis": {"automargin": True},
    "hoverlabel": {"font": {"size": 13}},
}


def book_layout(fig: Any) -> Any:
    """``fig`` with the book's legible layout defaults filled in where it sets nothing itself; returns it.

    On a phone the book's page script also shrinks fonts, wraps long titles and moves the legend below
    the plot (book/static/book.js), whatever the figure says.
    """
    current = fig.layout.to_plotly_json()

    def missing(defaults: dict, have: dict) -> dict:
        out = {}
        for key, value in defaults.items():
            if isinstance(value, dict):
                sub = missing(value, have.get(key) or {} if isinstance(have.get(key), dict) else {})
                if sub:
                    out[key] = sub
            elif key not in have:
                out[key] = value
        return out

    updates = missing(BOOK_LAYOUT, current)
    for name in current:  # every other x/y axis of subplots too
        if name.startswith(("xaxis", "yaxis")) and name not in ("xaxis", "yaxis") and "automargin" not in current[name]:
            updates.setdefault(name, {})["automargin"] = True
    fig.update_layout(updates)
    return fig


# ---------------------------------------------------------------------------------------- slider figures
def slider_figure(make: Callable[[Any], Any], values: Sequence[Any], *, label: str, active: int = 0,
                  value_label: Callable[[Any], str] = str, fixed_axes: bool = True) -> Any:
    """One plotly figure with a slider over ``values``: the slider's step k shows ``make(values[k])``.

    Every figure is computed here, so the slider works on the static page without a kernel: the book's
    stand-in for an ipywidgets slider that redraws a figure (give the notebook both; see book/README).
    ``make(value)`` returns a figure with the same traces (number and types) for every value; its title
    may change with the value. ``label`` names the parameter beside the slider; ``value_label`` writes a
    value (frame names, so they must differ). With ``fixed_axes`` the axes span every frame's data, so
    they do not jump while the reader moves the slider.
    """
    import plotly.graph_objects as go

    values = list(values)
    if not values:
        raise ValueError("slider_figure needs at least one value to show")
    if not 0 <= active < len(values):
        raise ValueError(f"active must index values (0 to {len(values) - 1}), got {active}")
    names = [value_label(v) for v in values]
    if len(set(names)) != len(names):
        raise ValueError(f"value_label must give each value its own label, got {names}")
    figures = [make(v) for v in values]
    for value, fig in zip(values, figures):
        if not isinstance(fig, go.Figure):
            raise TypeError(f"make({value!r}) must return a plotly Figure, got {type(fig).__name__}")
    kinds = [tuple(t.type for t in figures[0].data)]
    for value, fig in zip(values[1:], figures[1:]):
        if tuple(t.type for t in fig.data) != kinds[0]:
            raise ValueError(f"make({value!r}) drew traces {[t.type for t in fig.data]}, but make({values[0]!r}) "
                             f"drew {list(kinds[0])}: every value must give the same traces")
    base = go.Figure(figures[active])
    traces = list(range(len(base.data)))
    frames = []
    for name, fig in zip(names, figures):
        title = fig.layout.title.to_plotly_json() if fig.layout.title else None
        frames.append(go.Frame(name=name, data=list(fig.data), traces=traces,
                               layout={"title": title} if title else None))
    base.frames = frames
    now = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    steps = [{"label": name, "method": "animate", "args": [[name], now]} for name in names]
    base.update_layout(sliders=[{"active": active, "steps": steps, "pad": {"t": 50},
                                 "currentvalue": {"prefix": f"{label}: "}}])
    if fixed_axes:
        _fix_axes(base, figures)
    return book_layout(base)


def _fix_axes(base: Any, figures: list[Any]) -> None:
    """Set each linear x/y axis the figures leave on autorange to the range of all frames' data."""
    import math

    for axis_letter in ("x", "y"):
        name = f"{axis_letter}axis"
        axis = base.layout[name]
        if axis.range is not None or (axis.type not in (None, "-", "linear")):
            continue
        numbers = []
        for fig in figures:
            for trace in fig.data:
                if trace.type not in ("scatter", "bar", "scattergl"):
                    continue
                for v in getattr(trace, axis_letter, None) or ():
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                        numbers.append(float(v))
        if not numbers:
            continue
        lo, hi = min(numbers), max(numbers)
        if any(t.type == "bar" for f in figures for t in f.data) and axis_letter == ("y" if all(
                getattr(t, "orientation", None) != "h" for f in figures for t in f.data) else "x"):
            lo = min(lo, 0.0)
        pad = (hi - lo) * 0.05 or 1.0
        base.layout[name].range = [lo - pad, hi + pad]
