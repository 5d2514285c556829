"""The edges of ``train.evaluate`` and of fit's safety checks: defaults, boundaries and exact messages.

Written for the survivors of a mutation run over lmlib/train.py (scripts/mutation_test.py): each test
pins a behaviour that a small change to the code would alter and no other test noticed.
"""

import math
import types

import pytest
import torch

from conftest import TINY_TEXT, quick, tiny_gpt, warned_at_caller
from lmlib import train


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def _forward_calls(model) -> list:
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    return calls


# ------------------------------------------------------------------------- evaluate
def test_evaluate_defaults_to_windows_of_64_in_batches_of_64(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size, block_size=80)
    calls = _forward_calls(model)
    text = ids * 5  # 4,440 tokens: 69 windows of 64
    loss = train.evaluate(model, text)
    assert calls == [(64, 64), (5, 64)]
    assert loss == train.evaluate(model, text, seq_len=64, batch_size=64)
    assert loss != train.evaluate(model, text, seq_len=65)


def test_evaluate_accepts_windows_and_batches_of_one(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    calls = _forward_calls(model)
    loss = train.evaluate(model, ids[:4], seq_len=1, batch_size=1)
    assert calls == [(1, 1)] * 3 and math.isfinite(loss)


@pytest.mark.parametrize("model, kind", [(torch.nn.Linear(2, 2), "Linear"),
                                         (types.SimpleNamespace(config=None), "SimpleNamespace")])
def test_evaluate_refuses_what_is_not_an_lmlib_model(ids, model, kind):
    with pytest.raises(ValueError) as err:
        train.evaluate(model, ids)
    assert str(err.value) == f"model must be an lmlib model (RNNLM or GPT), got {kind}"


@pytest.mark.parametrize("kwargs, message", [
    (dict(seq_len=0), "seq_len must be a positive int, got 0"),
    (dict(seq_len=8.0), "seq_len must be a positive int, got 8.0"),
    (dict(batch_size=0), "batch_size must be a positive int, got 0"),
    (dict(batch_size="4"), "batch_size must be a positive int, got '4'"),
    (dict(max_tokens=0), "max_tokens must be a positive int or None, got 0"),
    (dict(max_tokens=1.5), "max_tokens must be a positive int or None, got 1.5"),
    (dict(seq_len=17), "seq_len 17 exceeds the model's block_size 16"),
])
def test_evaluate_names_each_bad_setting(char_tok, ids, kwargs, message):
    with pytest.raises(ValueError) as err:
        train.evaluate(tiny_gpt(char_tok.vocab_size), ids, **{"seq_len": 8, **kwargs})
    assert str(err.value) == message


def test_evaluate_takes_windows_as_long_as_the_block(char_tok, ids):
    assert math.isfinite(train.evaluate(tiny_gpt(char_tok.vocab_size, block_size=16), ids, seq_len=16))


@pytest.mark.parametrize("bad, message", [
    ([1, 2, 3], "ids has 3 tokens, fewer than one training window needs (seq_len + 1 = 9); use more text or a "
                "shorter seq_len"),
    ([0] * 8 + [99], "ids contains token id 99, outside the model's vocabulary (0..12)"),
    ("abc", "ids must be a sequence of token ids: "),
])
def test_evaluate_names_its_ids_argument(bad, message):
    with pytest.raises(ValueError) as err:
        train.evaluate(tiny_gpt(13), bad, seq_len=8)
    assert str(err.value).startswith(message) and (message.endswith(": ") or str(err.value) == message)


def test_evaluate_reads_max_tokens_plus_the_last_target(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    # 15 tokens and the target of the last one: one window of 8 (a 17th token would make a second)
    assert train.evaluate(model, ids, seq_len=8, max_tokens=15) == train.evaluate(model, ids[:16], seq_len=8)
    assert train.evaluate(model, ids, seq_len=8, max_tokens=15) != train.evaluate(model, ids[:17], seq_len=8)
    assert train.evaluate(model, ids, seq_len=8, max_tokens=3) == train.evaluate(model, ids[:9], seq_len=8)


def test_evaluate_checks_the_ids_once_not_per_batch(char_tok, ids, monkeypatch):
    calls = {"n": 0}
    real = torch.Tensor.min

    def counting_min(self, *args, **kwargs):
        calls["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "min", counting_min)
    counts = []
    for tokens in (17, 161):  # 2 and 20 windows, one per batch
        calls["n"] = 0
        train.evaluate(tiny_gpt(char_tok.vocab_size), ids[:tokens], seq_len=8, batch_size=1)
        counts.append(calls["n"])
    assert counts[0] == counts[1] <= 2


# -------------------------------------------------------- fit's checks on the weights
def _edge() -> float:
    """The largest weight fit calls safe is below sqrt(float32's max); this is that bound in float32."""
    return float(torch.tensor(math.sqrt(torch.finfo(torch.float32).max), dtype=torch.float32))


def test_a_weight_at_the_overflow_bound_counts_as_broken_though_the_loss_is_finite():
    model = tiny_gpt(13, block_size=16)
    x = y = torch.zeros(1, 4, dtype=torch.long)  # positions 0-3: the last row of pos_emb is never used
    assert train._finite_after_update(model, x, y)
    assert (torch.tensor(_edge()) / math.sqrt(torch.finfo(torch.float32).max)).item() == 1.0
    for value, fine in ((_edge() * (1 - 2**-20), True), (_edge(), False), (_edge() * 1.5, False)):
        with torch.no_grad():
            model.pos_emb.weight[15, 0] = value
        assert math.isfinite(model.loss(model(x), y).item())
        assert train._finite_after_update(model, x, y) is fine, value
    assert model.training  # it evaluates in eval mode and hands the model back in training mode


def test_weights_broken_before_step_one_are_reported_whole_at_the_caller(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    with torch.no_grad():
        model.ln_f.weight.fill_(float("nan"))
    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(model, ids, None, quick())
    assert str(record[0].message) == (
        "training stopped at step 1: the training loss is nan, before any update. The model keeps its initial "
        "weights, which already give a non-finite loss: check that they are finite (and the data); the history "
        "so far is kept. No learning rate can fix this.")
    assert history.stop_reason == str(record[0].message)
    assert warned_at_caller(record[0])


# ------------------------------------------------------------------------ evaluations
def test_evaluations_without_validation_data_are_nan_and_callbacks_get_the_history(char_tok, ids):
    seen = []
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=4, eval_interval=2),
                        callbacks=lambda step, h: seen.append((step, h)))
    assert history.steps == [2, 4] and all(math.isnan(v) for v in history.val_loss)
    assert all(type(v) is float for v in history.val_loss)
    assert [s for s, _ in seen] == [2, 4] and all(h is history for _, h in seen)
