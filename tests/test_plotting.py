import plotly.graph_objects as go
import pytest

from lmlib import plotting, train


@pytest.fixture
def figure():
    return go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]), layout=dict(title="demo"))


def test_book_mode_html_is_deterministic_and_offline(monkeypatch, figure):
    monkeypatch.setenv(plotting.BOOK_MODE_ENV, "1")
    monkeypatch.setattr(plotting, "_seen", {})
    a = plotting.mimebundle(figure)
    monkeypatch.setattr(plotting, "_seen", {})
    b = plotting.mimebundle(figure)
    assert a == b
    assert set(a) == {"text/html", "text/plain"}
    assert a["text/plain"] == "<plotly figure: demo>"
    assert "window.Plotly.newPlot" in a["text/html"]
    assert "cdn" not in a["text/html"].lower() and "<script src" not in a["text/html"]


def test_same_figure_twice_gets_two_ids(monkeypatch, figure):
    monkeypatch.setenv(plotting.BOOK_MODE_ENV, "1")
    monkeypatch.setattr(plotting, "_seen", {})
    first = plotting.mimebundle(figure)["text/html"]
    second = plotting.mimebundle(figure)["text/html"]
    id1 = first.split('id="')[1].split('"')[0]
    id2 = second.split('id="')[1].split('"')[0]
    assert id2 == id1 + "-1"


def test_jupyter_and_colab_bundles(monkeypatch, figure):
    monkeypatch.delenv(plotting.BOOK_MODE_ENV, raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert "application/vnd.plotly.v1+json" in plotting.mimebundle(figure)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    colab = plotting.mimebundle(figure)
    assert "text/html" in colab and "plotly" in colab["text/html"]
    assert "application/vnd.plotly.v1+json" not in colab


def test_live_plot_replaces_its_figure(figure):
    live = plotting.LivePlot()
    live.update(figure)
    live.update(figure)
    assert len(live.widget.outputs) == 1
    live.clear()
    assert live.widget.outputs == ()


def test_loss_figure_traces():
    history = train.History(steps=[2, 4], train_loss=[3.0, 2.0], val_loss=[3.1, float("nan")],
                            step_loss=[3.2, 2.8, 2.1, 1.9])
    fig = plotting.loss_figure(history)
    names = [t.name for t in fig.data]
    assert names == ["train (each step)", "train (mean)", "validation"]
    assert list(fig.data[2].x) == [2]
    assert fig.layout.yaxis.title.text == "cross-entropy loss (nats per token)"


# ------------------------------------------------------------------ descriptions
def test_description_is_attached_for_screen_readers(monkeypatch, figure):
    monkeypatch.setenv(plotting.BOOK_MODE_ENV, "1")
    monkeypatch.setattr(plotting, "_seen", {})
    plain = plotting.mimebundle(figure)
    monkeypatch.setattr(plotting, "_seen", {})
    described = plotting.mimebundle(figure, description='Three points: "up", down & up again.')
    # without a description the output is exactly what it always was (chapters' stored outputs stay valid)
    assert plain["text/html"].startswith('<div id="plotly-') and "<figure" not in plain["text/html"]
    html = described["text/html"]
    assert html.startswith('<figure class="lmlib-figure" role="figure" aria-label="Three points: &quot;up&quot;, '
                           'down &amp; up again."')
    assert plain["text/html"] in html  # the same figure inside
    assert "<figcaption" in html and described["text/plain"] == '<plotly figure: Three points: "up", down & up again.>'


def test_description_in_jupyter_and_colab(monkeypatch, figure):
    monkeypatch.delenv(plotting.BOOK_MODE_ENV, raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert plotting.mimebundle(figure, description="A dip.")["text/plain"] == "<plotly figure: A dip.>"
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    assert 'aria-label="A dip."' in plotting.mimebundle(figure, description="A dip.")["text/html"]


# ------------------------------------------------------------------ slider figures
def _line(slope):
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0, slope, 2 * slope], name="line"))
    fig.update_layout(title=f"slope {slope}")
    return fig


def test_slider_figure_has_one_frame_per_value():
    fig = plotting.slider_figure(_line, [0.5, 1, 2], label="slope", active=1)
    assert [f.name for f in fig.frames] == ["0.5", "1", "2"]
    assert [list(f.data[0].y) for f in fig.frames] == [[0, 0.5, 1], [0, 1, 2], [0, 2, 4]]
    assert [f.layout.title.text for f in fig.frames] == ["slope 0.5", "slope 1", "slope 2"]
    slider = fig.layout.sliders[0]
    assert slider.active == 1 and slider.currentvalue.prefix == "slope: "
    assert [s.label for s in slider.steps] == ["0.5", "1", "2"]
    assert all(s.method == "animate" and list(s.args[0]) == [s.label] for s in slider.steps)
    assert list(fig.data[0].y) == [0, 1, 2] and fig.layout.title.text == "slope 1"  # the active value first


def test_slider_figure_axes_span_every_frame():
    fig = plotting.slider_figure(_line, [1, 3], label="slope")
    lo, hi = fig.layout.yaxis.range
    assert lo <= 0 and hi >= 6
    free = plotting.slider_figure(_line, [1, 3], label="slope", fixed_axes=False)
    assert free.layout.yaxis.range is None


def test_slider_figure_labels_and_layout_defaults():
    fig = plotting.slider_figure(_line, [(1, "a"), (2, "b")], label="setting",
                                 value_label=lambda v: f"{v[0]}{v[1]}")
    assert [f.name for f in fig.frames] == ["1a", "2b"]
    assert fig.layout.xaxis.automargin is True and fig.layout.autosize is True


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(values=[]), ValueError, "at least one value"),
    (dict(values=[1, 2], active=2), ValueError, "active must index values"),
    (dict(values=[1, "1"]), ValueError, "its own label"),
])
def test_slider_figure_rejects_bad_arguments(kwargs, error, message):
    values = kwargs.pop("values")
    with pytest.raises(error, match=message):
        plotting.slider_figure(_line, values, label="slope", **kwargs)


def test_slider_figure_needs_the_same_traces_for_every_value():
    def make(v):
        fig = _line(v)
        if v > 1:
            fig.add_bar(x=[1], y=[1])
        return fig

    with pytest.raises(ValueError, match=r"make\(2\) drew traces \['scatter', 'bar'\]"):
        plotting.slider_figure(make, [1, 2], label="slope")
    with pytest.raises(TypeError, match="must return a plotly Figure, got dict"):
        plotting.slider_figure(lambda v: {"data": []}, [1], label="slope")


def test_book_layout_fills_only_what_is_missing():
    fig = go.Figure(layout=dict(title=dict(text="t", font=dict(size=20)), xaxis=dict(automargin=False)))
    plotting.book_layout(fig)
    assert fig.layout.title.font.size == 20 and fig.layout.xaxis.automargin is False
    assert fig.layout.yaxis.automargin is True and fig.layout.legend.font.size == 12
