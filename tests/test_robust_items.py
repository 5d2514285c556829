"""Regression tests for issue 14 ("lmlib under attack"), one group per numbered item of the issue.

Every test here failed before its fix. Item 6 (the teacher's commands) is tested with the exercises.
"""

import errno
import html
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn, quick, rewrite_header, warned_at_caller
from lmlib import checkpoint, dashboard, data, generate, growth, models, tokenizers, train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ 1. divergence on the last step


@pytest.mark.parametrize("make", [tiny_gpt, tiny_rnn], ids=["gpt", "rnn"])
def test_divergence_on_the_last_step_is_caught_and_rolled_back(char_tok, ids, make):
    model = make(char_tok.vocab_size)
    before = weights(model)
    with pytest.warns(RuntimeWarning, match="training stopped at step 1: its update broke the model"):
        history = train.fit(model, ids, None, quick(steps=1, lr=1e30, grad_clip=None))
    assert not history.completed and "The model keeps the initial weights" in history.stop_reason
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])
    text = generate.generate(model, char_tok, "The ", max_new_tokens=8, seed=0)  # the model still works
    assert len(text) == 12


def test_divergence_at_an_evaluation_step_is_caught_before_evaluating(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    seen = []

    class Poison(train.Callback):
        def on_step(self, step, loss, history):
            seen.append(step)
            if step == 3:  # an evaluation step: the update of step 3 is checked before the evaluation
                with torch.no_grad():
                    model.ln_f.weight.fill_(float("inf"))

    with pytest.warns(RuntimeWarning, match="training stopped at step 3"):
        history = train.fit(model, ids, ids, quick(steps=6), callbacks=[Poison()])
    assert seen == [1, 2, 3] and history.steps == [3]
    assert all(math.isfinite(v) for v in history.val_loss)  # evaluated on the rolled-back weights


def test_divergence_before_a_stop_by_callback_is_caught(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)

    def stop_and_break(step, loss, history):
        with torch.no_grad():
            model.ln_f.weight.fill_(float("nan"))
        return True

    class Stop(train.Callback):
        on_step = staticmethod(stop_and_break)

    with pytest.warns(RuntimeWarning, match="training stopped at step 1"):
        history = train.fit(model, ids, None, quick(steps=6, eval_interval=5), callbacks=[Stop()])
    assert torch.isfinite(model.ln_f.weight).all()
    assert "weights" in history.stop_reason


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=1e300), r"lr must be a finite number > 0, got 1e\+300"),
    (dict(lr=1e30, betas=(0.99999999999, 0.99)), r"lr / \(1 - betas\[0\]\)"),
    (dict(lr=1.0, weight_decay=1e39), r"lr \* weight_decay"),
])
def test_steps_too_large_for_float32_are_refused_by_the_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**kwargs)


# ------------------------------------------------------------------ 2. checkpoint memory bomb


def _edit_config(**changes):
    def edit(header):
        config = json.loads(header["__metadata__"]["model_config"])
        config.update(changes)
        header["__metadata__"]["model_config"] = json.dumps(config)
    return edit


@pytest.fixture
def saved_gpt(tmp_path, char_tok):
    return checkpoint.save(tmp_path / "m.lmlib", tiny_gpt(char_tok.vocab_size), char_tok)


@pytest.mark.parametrize("changes, message", [
    (dict(vocab_size=2_000_000), "vocab sizes differ"),
    (dict(n_layer=300), "n_layer=300, but it holds only"),
    (dict(vocab_size=2**33), "vocab sizes differ"),
    (dict(n_layer=3), "n_layer=3 needs"),
    (dict(n_embd=512, n_head=4), "has shape"),
    (dict(block_size=2**40), "has shape"),
])
def test_hostile_config_is_refused_before_any_model_is_built(monkeypatch, saved_gpt, changes, message):
    rewrite_header(saved_gpt, _edit_config(**changes))
    built = []
    real_build = checkpoint.build

    def spy(kind, config):
        built.append(config)
        return real_build(kind, config)

    monkeypatch.setattr(checkpoint, "build", spy)
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        checkpoint.load(saved_gpt)
    assert time.perf_counter() - started < 60  # (measured under load: a few seconds)
    for config in built:  # only small probe models, never the model the hostile config describes
        assert config["vocab_size"] <= 14 and config.get("block_size", 0) <= 22 and config["n_layer"] <= 2


def test_hostile_configs_cost_little_memory(tmp_path, char_tok):
    """Loading the issue's three edited files in a fresh process raises its peak memory by less than 64 MB."""
    path = checkpoint.save(tmp_path / "ok.lmlib", tiny_gpt(char_tok.vocab_size), char_tok)
    bombs = []
    for i, changes in enumerate([dict(vocab_size=2_000_000, n_embd=128, n_head=4), dict(n_layer=300),
                                 dict(vocab_size=2**33)]):
        bomb = tmp_path / f"bomb{i}.lmlib"
        bomb.write_bytes(path.read_bytes())
        rewrite_header(bomb, _edit_config(**changes))
        bombs.append(str(bomb))
    script = textwrap.dedent(f"""
        import resource, sys
        from lmlib import checkpoint
        checkpoint.load({str(path)!r})  # warm up: imports and one real load
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for bomb in {bombs!r}:
            try:
                checkpoint.load(bomb)
            except ValueError:
                pass
            else:
                sys.exit("loaded " + bomb)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) < 64  # MB


def test_header_larger_than_the_bound_is_refused_unread(tmp_path):
    path = tmp_path / "big.lmlib"
    path.write_bytes((checkpoint.MAX_HEADER_BYTES + 8).to_bytes(8, "little") + b"{" * 64)
    with pytest.raises(ValueError, match="is not an lmlib checkpoint"):
        checkpoint.load(path)


def test_tensor_entries_must_fill_the_file_exactly(saved_gpt):
    def grow(header):
        name = next(k for k in header if k != "__metadata__")
        header[name]["data_offsets"][1] += 4  # claims more bytes than it has
    rewrite_header(saved_gpt, grow)
    with pytest.raises(ValueError, match="is damaged: its weights cannot be read"):
        checkpoint.load(saved_gpt)


# ------------------------------------------------------------------ 3. integrity


def test_a_flipped_bit_in_the_weights_is_detected(saved_gpt):
    raw = bytearray(saved_gpt.read_bytes())
    raw[-10] ^= 0x01
    saved_gpt.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="do not match the SHA-256 digest"):
        checkpoint.load(saved_gpt)


def test_a_changed_tokenizer_or_history_is_detected(tmp_path, char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    history = train.fit(model, ids, None, quick(steps=2))
    path = checkpoint.save(tmp_path / "m.lmlib", model, char_tok, history=history)

    def swap_chars(header):
        spec = json.loads(header["__metadata__"]["tokenizer"])
        spec["chars"][1], spec["chars"][2] = spec["chars"][2], spec["chars"][1]
        header["__metadata__"]["tokenizer"] = json.dumps(spec)

    rewrite_header(path, swap_chars)
    with pytest.raises(ValueError, match="do not match the SHA-256 digest"):
        checkpoint.load(path)


def test_a_file_without_digest_loads_and_says_so(saved_gpt):
    rewrite_header(saved_gpt, lambda h: h["__metadata__"].pop("sha256"))
    with pytest.warns(checkpoint.UnverifiedCheckpointWarning, match="cannot be verified"):
        model, _ = checkpoint.load(saved_gpt)
    assert isinstance(model, models.GPT)
    assert checkpoint.read_metadata(saved_gpt)["sha256"] is None


@pytest.mark.parametrize("name", ["first-taste", "base"])
def test_the_bundled_checkpoints_are_verified(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", checkpoint.UnverifiedCheckpointWarning)
        checkpoint.load(checkpoint.bundled(name))
    assert len(checkpoint.read_metadata(checkpoint.bundled(name))["sha256"]) == 64


# ------------------------------------------------------------------ 4. dashboard


@pytest.fixture
def dash():
    tok = tokenizers.ByteTokenizer()
    ids = tok.encode(TINY_TEXT)
    settings = dashboard.DashboardSettings(kind="gru", embedding_dim=8, hidden_dim=16, steps=4, seq_len=16,
                                           batch_size=4, eval_interval=2, sample_tokens=5)
    return dashboard.Dashboard(ids, ids, tok, settings)


@pytest.mark.parametrize("overrides, message", [
    (dict(prompt=""), "prompt is empty"),
    (dict(sample_tokens=-1), "sample_tokens must be an int from 0 to"),
    (dict(lr="abc"), "lr must be a number from 1e-05 to 1"),
    (dict(kind="transformer"), "kind must be one of ('rnn', 'lstm', 'gru', 'gpt'), got 'transformer'"),
    (dict(batch_size=None), "batch_size must be an int from 1 to 512"),
    (dict(steps=0), "steps must be an int from 1 to 100000, got 0"),
    (dict(lr=10.0), "lr must be a number from 1e-05 to 1"),
    (dict(seq_len=10_000), "seq_len must be an int from 1 to 512"),
    (dict(colour="red"), "unknown setting 'colour'"),
])
def test_bad_dashboard_settings_show_a_message_and_change_nothing(dash, overrides, message):
    first = dash.train()
    model, controls = dash.model, {k: c.value for k, c in dash.controls.items()}
    assert dash.train(**overrides) is None
    assert message in html.unescape(dash.status.value) and "color:#cf222e" in dash.status.value
    assert dash.model is model and dash.histories == [first]
    assert {k: c.value for k, c in dash.controls.items()} == controls  # nothing clamped or half-applied


def test_prompt_outside_the_vocabulary_is_refused_before_training():
    tok = tokenizers.CharTokenizer.fit(TINY_TEXT)
    ids = tok.encode(TINY_TEXT)
    dash = dashboard.Dashboard(ids, ids, tok, dashboard.DashboardSettings(kind="gru", embedding_dim=8, hidden_dim=16,
                                                                         steps=2, seq_len=8, prompt="这"))
    assert dash.train() is None
    assert "not in the vocabulary" in dash.status.value and dash.model is None


def test_background_training_that_fails_reports_it(dash, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(dash, "_refresh", broken)
    dash.start()
    dash.wait(60)
    assert not dash._thread.is_alive()
    assert "injected fault" in dash.status.value and "training a" not in dash.status.value
    assert not dash.train_button.disabled and dash.stop_button.disabled
    assert dash.model is not None  # what was trained is kept


def test_stop_right_after_start_is_not_lost(dash, monkeypatch):
    real_build = dashboard.build_model

    def slow_build(settings, vocab_size):  # the thread is slow to begin: stop() comes before it starts training
        time.sleep(1.0)
        return real_build(settings, vocab_size)

    monkeypatch.setattr(dashboard, "build_model", slow_build)
    dash.controls["steps"].value = 100_000
    dash.start()
    dash.stop()
    dash.wait(120)
    assert dash.history.stop_reason == "stopped by callback"
    assert len(dash.history.step_loss) == 1


def test_settings_out_of_the_controls_range_are_refused_at_construction():
    tok = tokenizers.ByteTokenizer()
    with pytest.raises(ValueError, match="steps must be an int from 1 to 100000, got 0"):
        dashboard.Dashboard([1, 2, 3], None, tok, dashboard.DashboardSettings(steps=0))


# ------------------------------------------------------------------ 5. callbacks


class _Raise(train.Callback):
    def __init__(self, hook, exc, at=None):
        self.hook, self.exc, self.at, self.ended = hook, exc, at, False

    def on_start(self, config, history):
        if self.hook == "on_start":
            raise self.exc

    def on_step(self, step, loss, history):
        if self.hook == "on_step" and step == self.at:
            raise self.exc

    def on_eval(self, step, history):
        if self.hook == "on_eval" and step == self.at:
            raise self.exc

    def on_end(self, history):
        self.ended = True
        if self.hook == "on_end":
            raise self.exc


@pytest.mark.parametrize("exc, reason", [(train.StopTraining(), "stopped by callback"),
                                         (KeyboardInterrupt(), "interrupted")])
def test_stop_in_on_start_returns_an_empty_history(char_tok, ids, exc, reason):
    cb = _Raise("on_start", exc)
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), callbacks=[cb])
    assert history.stop_reason == reason and history.step_loss == [] and history.steps == []
    assert cb.ended


@pytest.mark.parametrize("exc", [train.StopTraining(), KeyboardInterrupt()])
def test_stop_in_on_end_keeps_the_history(char_tok, ids, exc):
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), callbacks=[_Raise("on_end", exc)])
    assert history.completed and history.steps == [3, 6]


@pytest.mark.parametrize("exc, reason", [(train.StopTraining(), "stopped by callback"),
                                         (KeyboardInterrupt(), "interrupted")])
def test_stop_in_on_eval_does_not_record_the_evaluation_twice(char_tok, ids, exc, reason):
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(steps=9),
                        callbacks=[_Raise("on_eval", exc, at=3)])
    assert history.stop_reason == reason
    assert history.steps == [3] and len(history.train_loss) == len(history.val_loss) == 1


def test_a_second_ctrl_c_while_cleaning_up_does_not_escape(char_tok, ids, monkeypatch):
    class Bar:
        def update(self, n):
            pass

        def set_postfix(self, **kw):
            pass

        def close(self):
            raise KeyboardInterrupt  # the second Ctrl-C, while the progress bar closes

    monkeypatch.setattr(train, "_progress_bar", lambda config: Bar())
    cb = _Raise("on_step", KeyboardInterrupt(), at=2)
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), callbacks=[cb])
    assert history.stop_reason == "interrupted" and len(history.step_loss) == 2 and cb.ended


def test_weights_broken_before_step_one_are_not_called_the_last_good_ones(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    with torch.no_grad():
        model.ln_f.weight.fill_(float("nan"))
    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(model, ids, None, quick())
    message = str(record[0].message)
    assert message == (
        "training stopped at step 1: the training loss is nan, before any update. The model keeps its initial "
        "weights, which already give a non-finite loss: check that they are finite (and the data); the history "
        "so far is kept. No learning rate can fix this.")
    assert history.stop_reason == message and warned_at_caller(record[0])


# ------------------------------------------------------------------ 7. saving


def test_save_flushes_to_disk_before_the_rename(tmp_path, monkeypatch, char_tok):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(char_tok.vocab_size), char_tok)
    assert calls[:2] == ["fsync", "replace"]


def test_a_folder_as_the_path_is_an_oserror_and_leaves_nothing(tmp_path, char_tok):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"models: it is a folder"):
        checkpoint.save(folder, tiny_rnn(char_tok.vocab_size), char_tok)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"] and not any(folder.iterdir())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_full_or_read_only_is_an_oserror_naming_the_path_and_keeps_the_old_file(tmp_path, monkeypatch, char_tok,
                                                                                    code):
    path = checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(char_tok.vocab_size), char_tok)
    before = path.read_bytes()
    real_write = os.write

    def failing_write(fd, data):
        real_write(fd, bytes(data[:100]))
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError, match=re.escape(f"cannot save a checkpoint to {path}")) as info:
        checkpoint.save(path, tiny_rnn(char_tok.vocab_size, seed=1), char_tok)
    assert info.value.errno == code and info.value.filename == str(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lmlib"]


def test_kill_9_during_a_save_leaves_no_hidden_file(tmp_path):
    """A process killed while it writes a 200 MB checkpoint leaves at most ``<name>.part``, never hidden temp
    files, and the next save to the same path replaces it."""
    script = textwrap.dedent(f"""
        import torch
        from lmlib import checkpoint, models, tokenizers
        model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=8, hidden_dim=16))
        model.head = torch.nn.Linear(16, 256)
        model.register_buffer("ballast", torch.zeros(50_000_000))
        import os
        while os.getppid() == {os.getpid()}:  # stops if the test process dies without killing it
            checkpoint.save({str(tmp_path / "m.lmlib")!r}, model, tokenizers.ByteTokenizer())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # kill it while a temporary file is being written
            partial = [p for p in tmp_path.iterdir() if p.name != "m.lmlib"]
            if any(p.stat().st_size > 1_000_000 for p in partial if p.exists()):
                break
            time.sleep(0.005)
        else:
            pytest.fail("the save never started")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in left if n.startswith(".")], left
    assert set(left) <= {"m.lmlib", "m.lmlib.part"}
    checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(256), tokenizers.ByteTokenizer())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lmlib"]


# ------------------------------------------------------------------ 8. silently accepted


def test_float_ids_are_refused_not_truncated(char_tok, ids):
    with pytest.raises(ValueError, match="train_ids must be a sequence of token ids: token ids must be ints, got float"):
        train.fit(tiny_gpt(char_tok.vocab_size), [i + 0.5 for i in ids], None, quick())
    with pytest.raises(ValueError, match="ids are never rounded"):
        data.as_tensor(np.array([1.0, 2.0]))


def test_nested_id_lists_are_not_a_sequence_of_tokens(char_tok):
    with pytest.raises(ValueError, match=r"token ids must be a flat \(1-D\) sequence of ints, got shape \(2, 2\)"):
        data.as_tensor([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="prompt_ids must be a sequence of token ids"):
        list(generate.generate_ids(tiny_rnn(char_tok.vocab_size), [[1, 2]], 2))


@pytest.mark.parametrize("tok", [tokenizers.ByteTokenizer(), tokenizers.CharTokenizer.fit("abc"),
                                 tokenizers.WordTokenizer.fit("a b"), tokenizers.BPETokenizer.fit("abab", 257)],
                         ids=["byte", "char", "word", "bpe"])
def test_token_bytes_refuses_ids_outside_the_vocabulary(tok):
    with pytest.raises(ValueError, match=r"token_id -1 is outside the vocabulary \(0\.\."):
        tok.token_bytes(-1)
    with pytest.raises(ValueError, match="is outside the vocabulary"):
        tok.token_bytes(tok.vocab_size)
    with pytest.raises(TypeError, match="token_id must be an int"):
        tok.token_bytes(1.0)
    assert tok.token_bytes(np.int64(0)) == tok.token_bytes(0)


@pytest.mark.parametrize("make, message", [
    (lambda: models.GPTConfig(vocab_size=10, bias="no"), "bias must be True or False, got 'no'"),
    (lambda: train.TrainConfig(lr=True), "lr must be a finite number > 0, got True"),
    (lambda: train.TrainConfig(weight_decay=float("nan")), "weight_decay must be a finite number >= 0, got nan"),
    (lambda: train.TrainConfig(progress="no"), "progress must be True or False"),
    (lambda: models.RNNConfig(vocab_size=10, dropout=True), "dropout must be a number in"),
])
def test_wrong_types_that_were_silently_accepted(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", ["../../x", "../assets/first-taste", "/etc/passwd", "first-taste.lmlib", "",
                                  ".first-taste", "first-taste/..", 5])
def test_bundled_reads_only_the_shipped_assets(name):
    with pytest.raises(ValueError, match="no bundled checkpoint"):
        checkpoint.bundled(name)


def test_bundled_refuses_a_path_to_an_existing_file_elsewhere(tmp_path):
    (tmp_path / "x.lmlib").write_bytes(checkpoint.bundled().read_bytes())
    with pytest.raises(ValueError, match="no bundled checkpoint"):
        checkpoint.bundled(str(tmp_path / "x"))


def test_numpy_integers_are_valid_sizes(tmp_path, char_tok, ids):
    n = np.int64
    config = models.GPTConfig(vocab_size=n(char_tok.vocab_size), block_size=n(16), n_layer=n(1), n_head=n(2),
                              n_embd=n(8))
    assert type(config.vocab_size) is int and type(config.n_embd) is int
    model = models.GPT(config)
    history = train.fit(model, np.array(ids), None, train.TrainConfig(steps=n(2), batch_size=n(2), seq_len=n(8),
                                                                       eval_interval=n(1), seed=n(3), progress=False))
    assert history.steps == [1, 2]
    checkpoint.save(tmp_path / "m.lmlib", model, char_tok)  # the config is JSON: plain ints
    assert checkpoint.read_metadata(tmp_path / "m.lmlib")["model_config"]["vocab_size"] == char_tok.vocab_size
    x, y = data.get_batch(torch.arange(50), n(3), n(4))
    assert x.shape == (3, 4)
    assert len(list(generate.generate_ids(model, [1, 2], n(3), top_k=n(2), seed=n(0)))) == 3


# ------------------------------------------------------------------ 9. giant prompt on an RNN


def test_a_long_prompt_is_read_in_bounded_pieces(monkeypatch):
    model = tiny_rnn(256)
    sizes = []
    real_advance = model.advance

    def spy(idx, state=None):
        sizes.append(idx.shape[1])
        return real_advance(idx, state)

    monkeypatch.setattr(model, "advance", spy)
    prompt = list(TINY_TEXT.encode()) * 400  # about 44,000 tokens
    out = list(generate.generate_ids(model, prompt, 3, temperature=0))
    chunk = generate.PREFILL_LOGITS // 256
    assert max(sizes) <= chunk and sum(sizes) == len(prompt) + 2
    monkeypatch.setattr(generate, "PREFILL_LOGITS", 10**12)  # one piece: the same tokens
    assert list(generate.generate_ids(real_advance.__self__, prompt, 3, temperature=0)) == out


# ------------------------------------------------------------------ 10. unclear errors


@pytest.mark.parametrize("call, exc, message", [
    (lambda: data.windows(torch.arange(10), 0), ValueError, "seq_len must be a positive int, got 0"),
    (lambda: data.windows(torch.arange(10), -2), ValueError, "seq_len must be a positive int, got -2"),
    (lambda: data.get_batch(torch.arange(10), -1, 3), ValueError, "batch_size must be a positive int, got -1"),
    (lambda: data.get_batch(torch.arange(10), 2, 0), ValueError, "seq_len must be a positive int, got 0"),
    (lambda: tiny_rnn(10)(torch.zeros(0, 3, dtype=torch.long)), ValueError, "batch dimension 0"),
    (lambda: tiny_gpt(10)(torch.zeros(0, 3, dtype=torch.long)), ValueError, "batch dimension 0"),
    (lambda: train.evaluate(tiny_rnn(10), list(range(10)) * 5, seq_len=4, batch_size=-1), ValueError,
     "batch_size must be a positive int, got -1"),
    (lambda: tokenizers.ByteTokenizer().encode("a\ud800"), ValueError, r"lone surrogate '\\ud800' \(U\+D800\) at position 1"),
    (lambda: tokenizers.BPETokenizer.fit("abab", 257).encode("\udfff"), ValueError, "lone surrogate"),
    (lambda: tokenizers.CharTokenizer.fit("ab\ud800"), ValueError, "lone surrogate"),
    (lambda: tokenizers.BPETokenizer.fit("ab\ud800"), ValueError, "lone surrogate"),
    (lambda: train.TrainConfig(weight_decay="0.1"), ValueError, "weight_decay must be a finite number >= 0, got '0.1'"),
    (lambda: train.TrainConfig(betas="ab"), ValueError, r"betas must be two numbers in \[0, 1\), got 'ab'"),
    (lambda: train.TrainConfig(betas=(0.9, None)), ValueError, r"betas must be two numbers"),
    (lambda: train.TrainConfig(grad_clip="1"), ValueError, "grad_clip must be > 0 or None"),
    (lambda: train.TrainConfig(min_lr_ratio=[0.1]), ValueError, r"min_lr_ratio must be a number in \[0, 1\]"),
    (lambda: train.TrainConfig(seed=2**64), ValueError, r"seed must be an int in \[0, 2\*\*64\), got 18446744073709551616"),
    (lambda: list(generate.generate_ids(tiny_rnn(10), [1], 1, seed=2**64)), ValueError, "seed must be an int in"),
    (lambda: checkpoint.load(checkpoint.bundled(), device="quantum"), ValueError,
     r"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got 'quantum'"),
])
def test_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_on_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="this machine has no CUDA device"):
        checkpoint.load(checkpoint.bundled(), device="cuda")


def test_amdahl_with_infinitely_many_workers():
    assert growth.amdahl_speedup(0, math.inf) == math.inf
    assert growth.amdahl_speedup(0.1, math.inf) == pytest.approx(10)


@pytest.mark.parametrize("kwargs", [dict(temperature=1e-45), dict(top_p=1e-300), dict(temperature=1e-45, top_k=3)])
def test_extreme_but_valid_sampling_settings_sample_the_top_token(kwargs):
    logits = torch.tensor([0.5, 2.0, -1.0, 1.9])
    assert int(generate.sample(logits, generator=torch.Generator().manual_seed(0), **kwargs)) == 1
    probs = generate.next_token_probs(logits, **{"temperature": 1.0, **kwargs})
    assert probs.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_generate_ids_accepts_a_1d_tensor_prompt(char_tok):
    model = tiny_rnn(char_tok.vocab_size)
    a = list(generate.generate_ids(model, torch.tensor([1, 2, 3]), 4, seed=0))
    assert a == list(generate.generate_ids(model, [1, 2, 3], 4, seed=0)) and len(a) == 4


def test_a_full_kv_cache_says_what_to_do():
    model = tiny_gpt(10, block_size=4).eval()
    cache = model.new_state()
    model.advance(torch.tensor([[1, 2, 3, 4]]), cache)
    with pytest.raises(ValueError, match=r"the cache already holds 4 of the model's block_size 4 positions; 1 more "
                                         r"tokens do not fit \(at most 0\); start a new cache with new_state\(\)"):
        model.advance(torch.tensor([[5]]), cache)
