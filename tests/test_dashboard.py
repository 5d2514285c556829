import time

import pytest

from lmlib import dashboard, tokenizers
from conftest import TINY_TEXT


@pytest.fixture
def dash():
    tok = tokenizers.ByteTokenizer()
    ids = tok.encode(TINY_TEXT)
    settings = dashboard.DashboardSettings(kind="gru", embedding_dim=8, hidden_dim=16, steps=6, seq_len=16,
                                           batch_size=4, eval_interval=3, sample_tokens=10)
    return dashboard.Dashboard(ids, ids, tok, settings)


def test_train_updates_plot_sample_and_keeps_model(dash):
    history = dash.train()
    assert history.completed and history.steps == [3, 6]
    assert dash.model is not None and dash.histories == [history]
    assert dash.plot.figure is not None and len(dash.plot.widget.outputs) == 1
    assert "Sample" in dash.sample.value
    assert "finished after 6 steps" in dash.status.value


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gpt"])
def test_every_kind_trains(dash, kind):
    assert dash.train(kind=kind, embedding_dim=8, n_head=2).completed


def test_bad_setting_shows_message_and_keeps_previous_model(dash):
    dash.train()
    before = dash.model
    assert dash.train(kind="gpt", embedding_dim=10, n_head=4) is None
    assert dash.model is before
    assert "Cannot train with these settings: n_embd (10) must be divisible by n_head (4)" in dash.status.value
    dash.train_ids = dash.train_ids[:100]
    assert dash.train(kind="gru", seq_len=200) is None
    assert "train_ids has 100 tokens, fewer than one training window needs" in dash.status.value
    assert dash.model is before


def test_status_text_is_the_status_line_without_markup(dash):
    dash.train()
    assert dash.status_text.startswith("finished after 6 steps in ")
    assert dash.status_text.endswith("nats/token. The trained model is in .model.")
    assert "<" not in dash.status_text
    dash.status.value = '<span style="color:red">a &lt; b &amp; <b>c</b></span>'
    assert dash.status_text == "a < b & c"


def test_reset_controls_restores_the_trained_models_settings_and_status(dash):
    dash.train(kind="gru", embedding_dim=8)
    finished = dash.status.value
    assert dash.train(kind="gpt", embedding_dim=10, n_head=4) is None
    assert dash.controls["kind"].value == "gpt" and "Cannot train" in dash.status.value
    dash.reset_controls()
    assert dash.controls["kind"].value == "gru" and dash.controls["embedding_dim"].value == 8
    assert dash.read_controls() == dash.settings
    assert dash.status.value == finished


def test_reset_controls_before_any_training_shows_the_initial_settings(dash):
    initial = dash.settings
    dash.controls["steps"].value = 50
    assert "steps set to 50" in dash.status_text
    dash.reset_controls()
    assert dash.read_controls() == initial
    assert dash.status_text == "Choose settings and press Train."


def test_reset_controls_refuses_while_training_and_changes_nothing(dash):
    dash.controls["steps"].value = 100_000
    dash.start()
    try:
        deadline = time.time() + 30
        while dash.model is None and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match="^a training is running: press Stop"):
            dash.reset_controls()
        assert dash.controls["steps"].value == 100_000
    finally:
        dash.stop()
        dash.wait(30)


def test_stop_button_keeps_trained_model(dash):
    dash.controls["steps"].value = 100_000
    dash.start()
    deadline = time.time() + 30
    while (dash.model is None or not dash._stop.is_set()) and time.time() < deadline:
        if dash.model is not None:
            dash.stop_button.click()
        time.sleep(0.05)
    dash.wait(30)
    assert dash.history.stop_reason == "stopped by callback"
    assert 0 < len(dash.history.step_loss) < 100_000
    assert dash.model is not None and not dash.train_button.disabled
