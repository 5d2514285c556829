"""Plotly figures that work in the static book, in Jupyter, VS Code and on Colab, and a live plot.

Chapters call ``show(fig)`` instead of ``fig.show()``, and ``LivePlot`` for curves that redraw while
training runs (chapter 5's dashboard, chapter 3's loss curve).

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
from typing import Any

from .envreport import in_colab

__all__ = ["book_mode", "mimebundle", "show", "LivePlot", "loss_figure", "BOOK_MODE_ENV"]

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


def _book_bundle(fig: Any, config: dict | None) -> dict[str, Any]:
    spec = _figure_spec(fig, config)
    digest = hashlib.sha256(_canonical(spec).encode("utf-8")).hexdigest()[:16]
    count = _seen.get(digest, 0)
    _seen[digest] = count + 1
    div_id = f"plotly-{digest}" + (f"-{count}" if count else "")
    height = spec.get("layout", {}).get("height") or DEFAULT_HEIGHT
    html = _BOOK_TEMPLATE.format(
        div_id=div_id, height=int(height), fig_json=_canonical(spec).replace("</", "<\\/")
    )
    title = (spec.get("layout", {}).get("title") or {}).get("text", "")
    return {"text/html": html, "text/plain": f"<plotly figure: {title}>" if title else "<plotly figure>"}


def _colab_bundle(fig: Any, config: dict | None) -> dict[str, Any]:
    import plotly.io as pio

    html = pio.to_html(fig, include_plotlyjs="cdn", full_html=False, config={**DEFAULT_CONFIG, **(config or {})})
    return {"text/html": html, "text/plain": "<plotly figure>"}


def _jupyter_bundle(fig: Any, config: dict | None) -> dict[str, Any]:
    spec = _figure_spec(fig, config)
    return {"application/vnd.plotly.v1+json": spec, "text/plain": "<plotly figure>"}


def mimebundle(fig: Any, config: dict | None = None) -> dict[str, Any]:
    """The display data for ``fig`` that suits where the code runs (book, Colab, or Jupyter)."""
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict of plotly config options or None, got {type(config).__name__}")
    if book_mode():
        return _book_bundle(fig, config)
    if in_colab():
        return _colab_bundle(fig, config)
    return _jupyter_bundle(fig, config)


def show(fig: Any, config: dict | None = None) -> None:
    """Display a plotly figure; use instead of ``fig.show()`` so the book's pages work offline."""
    from IPython.display import display

    display(mimebundle(fig, config), raw=True)


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
