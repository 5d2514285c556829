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
    ([0] * 8, "ids has 8 tokens, fewer than one training window needs (seq_len + 1 = 9); use more text or a "
              "shorter seq_len"),
    ([0] * 8 + [99], "ids contains token id 99, outside the model's vocabulary (0..12)"),
    ([0] * 8 + [13], "ids contains token id 13, outside the model's vocabulary (0..12)"),
    ([-1] + [0] * 8 + [13], "ids contains token id -1, outside the model's vocabulary (0..12)"),
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


def test_evaluate_checks_the_ids_once_not_per_batch(char_tok, ids, min_calls):
    counts = []
    for tokens in (17, 161):  # 2 and 20 windows, one per batch
        min_calls["n"] = 0
        train.evaluate(tiny_gpt(char_tok.vocab_size), ids[:tokens], seq_len=8, batch_size=1)
        counts.append(min_calls["n"])
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


# ------------------------------------------------------------------------ evaluations
def test_evaluations_without_validation_data_are_nan_and_callbacks_get_the_history(char_tok, ids):
    seen = []
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=4, eval_interval=2),
                        callbacks=lambda step, h: seen.append((step, h)))
    assert history.steps == [2, 4] and all(math.isnan(v) for v in history.val_loss)
    assert all(type(v) is float for v in history.val_loss)
    assert [s for s, _ in seen] == [2, 4] and all(h is history for _, h in seen)


# ------------------------------------------------------------------------ fit's inputs
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model=torch.nn.Linear(2, 2)), ValueError, "model must be an lmlib model (RNNLM or GPT), got Linear"),
    (dict(config={"steps": 3}), ValueError, "config must be a TrainConfig, got dict"),
    (dict(optimizer="adam"), TypeError, "optimizer must be a torch.optim.Optimizer (e.g. from make_optimizer) or "
                                        "None, got str"),
])
def test_fit_names_a_bad_model_config_or_optimizer(char_tok, ids, kwargs, error, message):
    args = dict(model=tiny_gpt(char_tok.vocab_size), config=quick(), optimizer=None) | kwargs
    with pytest.raises(error) as err:
        train.fit(args["model"], ids, None, args["config"], optimizer=args["optimizer"])
    assert str(err.value) == message


def test_fit_without_a_config_trains_with_the_default_one(char_tok, ids, monkeypatch):
    from dataclasses import dataclass

    @dataclass
    class Short(train.TrainConfig):  # TrainConfig() with a short run, so the test stays quick
        steps: int = 2
        batch_size: int = 2
        seq_len: int = 8
        progress: bool = False

    monkeypatch.setattr(train, "TrainConfig", Short)
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids)
    assert history.completed and len(history.step_loss) == 2


def test_fit_uses_the_optimizer_it_is_given_and_sets_each_groups_rate(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    config = quick(steps=4, optimizer="muon", lr=2e-3, muon_lr=0.02, schedule="cosine", warmup_steps=1)
    optimizer = train.make_optimizer(model, config)
    history = train.fit(model, ids, None, config, optimizer=optimizer)
    assert history.lr == [train.learning_rate(s, config) for s in range(4)]
    scales = sorted({g.get("lr_scale", 1.0) for g in optimizer.param_groups})
    assert scales == [1.0, pytest.approx(10.0)]  # AdamW's groups at lr, Muon's at muon_lr = 10 x lr
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(history.lr[-1] * group.get("lr_scale", 1.0))
    assert optimizer.state  # it is the optimizer that took the steps


def test_make_optimizer_names_bad_arguments_and_builds_the_one_asked_for():
    from lmlib import optim

    model = tiny_gpt(13)
    with pytest.raises(TypeError) as err:
        train.make_optimizer("model", train.TrainConfig())
    assert str(err.value) == "model must be a torch.nn.Module, got str"
    with pytest.raises(TypeError) as err:
        train.make_optimizer(model, {"lr": 1.0})
    assert str(err.value) == "config must be a TrainConfig, got dict"
    adamw = train.make_optimizer(model, train.TrainConfig(betas=(0.8, 0.95), lr=1e-3))
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["betas"] == (0.8, 0.95)
    muon = train.make_optimizer(model, train.TrainConfig(optimizer="muon"))
    assert isinstance(muon, optim.Muon)
    assert {id(p) for g in muon.param_groups for p in g["params"]} == {id(p) for p in model.parameters()}


# ---------------------------------------------------------------- what callbacks see
def test_callbacks_get_the_config_the_loss_and_the_history_fit_returns(char_tok, ids):
    seen = {"start": [], "step": [], "end": []}

    class Recorder(train.Callback):
        def on_start(self, config, history):
            seen["start"].append((config, history))

        def on_step(self, step, loss, history):
            seen["step"].append((step, loss, history))

        def on_end(self, history):
            seen["end"].append(history)

    config = quick(steps=3)
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, config, callbacks=[Recorder()])
    assert seen["start"] == [(config, history)] and seen["start"][0][1] is history
    assert [(s, loss) for s, loss, _ in seen["step"]] == list(zip([1, 2, 3], history.step_loss))
    assert all(h is history for _, _, h in seen["step"]) and seen["end"][0] is history


def test_the_progress_bar_counts_steps_and_shows_the_loss_every_ten(char_tok, ids, monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.updates, self.postfix, self.closed = kwargs, [], [], False
            bars.append(self)

        def update(self, n):
            self.updates.append(n)

        def set_postfix(self, **kwargs):
            self.postfix.append(kwargs)

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=12, eval_interval=100, progress=True))
    [bar] = bars
    assert bar.kwargs == dict(total=12, desc="training", unit="step", leave=True)
    assert bar.updates == [1] * 12 and bar.closed
    assert bar.postfix == [{"loss": f"{history.step_loss[9]:.3f}"}, {"loss": f"{history.step_loss[11]:.3f}"}]


# --------------------------------------------------------------- divergence and stops
@pytest.mark.parametrize("poisoned_at, kept, foreach", [
    (1, "the initial weights", True),
    (2, "the weights after step 1", True),
    (2, "the weights after step 1", False),  # an older torch without _foreach_copy_: a plain loop copies
])
def test_a_loss_that_turns_nan_rolls_back_to_the_weights_before_the_last_update(char_tok, ids, monkeypatch,
                                                                               poisoned_at, kept, foreach):
    if not foreach:
        monkeypatch.delattr(torch, "_foreach_copy_", raising=False)
    model = tiny_gpt(char_tok.vocab_size)
    weights = {0: {k: v.clone() for k, v in model.state_dict().items()}}  # after step n (0: initial)

    def poison(step, loss, history):
        weights[step] = {k: v.clone() for k, v in model.state_dict().items()}
        if step == poisoned_at:
            with torch.no_grad():
                model.ln_f.weight.fill_(float("nan"))

    class Poison(train.Callback):
        on_step = staticmethod(poison)

    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(model, ids, None, quick(steps=5, eval_interval=100), callbacks=[Poison()])
    assert history.stop_reason == str(record[0].message) == (
        f"training stopped at step {poisoned_at + 1}: the training loss is nan. The model keeps {kept}, the last "
        "that gave a finite loss; the history so far is kept. Try a learning rate smaller than 0.003.")
    # the update of the step that was poisoned is lost with it: the weights are those before it
    assert all(torch.equal(v, weights[poisoned_at - 1][k]) for k, v in model.state_dict().items())


class _InfiniteGradient(train.Callback):
    """Makes one parameter's gradient infinite (the loss stays finite) in the backward pass of step ``at``."""

    def __init__(self, model, at):
        self.step = 0
        model.ln_f.weight.register_hook(lambda g: g * math.inf if self.step == at - 1 else g)

    def on_step(self, step, loss, history):
        self.step = step


def test_an_infinite_gradient_stops_fit_with_the_weights_of_the_step_before(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    after = {}

    class Keep(train.Callback):
        def on_step(self, step, loss, history):
            after[step] = {k: v.clone() for k, v in model.state_dict().items()}

    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(model, ids, None, quick(steps=5, grad_clip=None, eval_interval=100),
                            callbacks=[_InfiniteGradient(model, at=3), Keep()])
    assert history is not None and history.stop_reason == str(record[0].message) == (
        "training stopped at step 3: the gradient norm is inf. The model keeps the weights after step 2, the last "
        "that gave a finite loss; the history so far is kept. Try a learning rate smaller than 0.003.")
    assert len(history.step_loss) == 2 and history.steps == [2]  # the steps that ran, evaluated at the stop
    assert all(torch.equal(v, after[2][k]) for k, v in model.state_dict().items())
    assert warned_at_caller(record[0])


def test_an_interrupt_after_an_update_that_broke_the_model_is_reported_and_rolled_back(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    before_step_2 = {}

    class BreakThenInterrupt(train.Callback):
        def on_step(self, step, loss, history):
            if step == 1:
                before_step_2.update({k: v.clone() for k, v in model.state_dict().items()})
            if step == 2:
                with torch.no_grad():
                    model.ln_f.weight.fill_(float("inf"))
                raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(model, ids, None, quick(steps=6, eval_interval=100), callbacks=[BreakThenInterrupt()])
    assert history.stop_reason == str(record[0].message) == (
        f"training stopped at step 2: {train.BROKEN}. The model keeps the weights after step 1, the last that gave "
        "a finite loss; the history so far is kept. Try a learning rate smaller than 0.003.")
    assert all(torch.equal(v, before_step_2[k]) for k, v in model.state_dict().items())


def test_fit_leaves_no_gradients_and_reports_its_own_time(char_tok, ids):
    import time

    model = tiny_gpt(char_tok.vocab_size)
    started = time.perf_counter()
    history = train.fit(model, ids, None, quick(steps=3))
    took = time.perf_counter() - started
    assert all(p.grad is None for p in model.parameters())  # set to None, not zeros: no memory kept
    assert 0 < history.elapsed <= took


@pytest.mark.parametrize("stop_at", [None, 2])  # an evaluation on schedule, and the one after an interrupt
def test_evaluations_run_at_the_training_precision(char_tok, ids, stop_at):
    if not train._has_amp_grad_scaler():
        pytest.skip("bf16 autocast on the CPU needs a recent torch")

    class Interrupt(train.Callback):
        def on_step(self, step, loss, history):
            if step == stop_at:
                raise KeyboardInterrupt

    model = tiny_gpt(char_tok.vocab_size)
    config = quick(steps=3, eval_interval=3 if stop_at is None else 100, precision="bf16", eval_tokens=64)
    history = train.fit(model, ids, ids, config, callbacks=[Interrupt()])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        at_bf16 = train.evaluate(model, ids, config.seq_len, max_tokens=config.eval_tokens)
    at_fp32 = train.evaluate(model, ids, config.seq_len, max_tokens=config.eval_tokens)
    assert history.val_loss[-1] == pytest.approx(at_bf16, abs=1e-6) and at_bf16 != at_fp32


# -------------------------------------------------------------------------- batches
def test_batches_come_from_data_get_batch_on_the_cpu_and_are_gathered_on_other_devices(ids, monkeypatch):
    calls = []
    real = train.get_batch
    monkeypatch.setattr(train, "get_batch", lambda *a: calls.append(a) or real(*a))
    cpu = torch.tensor(ids)
    train._batch_sampler(cpu, 4, 8, torch.Generator().manual_seed(0))()
    assert len(calls) == 1
    train._batch_sampler(cpu, 4, 8, torch.Generator().manual_seed(0), on_device=True)()
    assert len(calls) == 1  # asked to gather on the device: no get_batch
    meta = torch.empty(len(ids), dtype=torch.long, device="meta")  # stands in for a GPU's ids
    x, y = train._batch_sampler(meta, 4, 8, torch.Generator().manual_seed(0))()
    assert len(calls) == 1 and x.device.type == y.device.type == "meta" and x.shape == y.shape == (4, 8)
    train._batch_sampler(meta, 4, 8, torch.Generator().manual_seed(0), on_device=False)()
    assert len(calls) == 2


def test_a_failing_compiler_is_reported_once_and_training_goes_on_without_it(char_tok, ids, monkeypatch):
    def broken(*args):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: broken)
    with pytest.warns(RuntimeWarning) as record:
        history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=4, compile=True))
    assert [str(w.message) for w in record] == [
        "torch.compile failed (RuntimeError: no C++ compiler found); training without it"]
    assert history.completed
