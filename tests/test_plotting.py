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
