import math
import re

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn, quick
from lmlib import tokenizers, train, train_config


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def test_history_is_aligned_and_has_perplexity(char_tok, ids):
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids[:500], ids[500:], quick())
    assert history.steps == [3, 6]
    assert len(history.train_loss) == len(history.val_loss) == 2
    assert len(history.step_loss) == len(history.lr) == 6
    assert history.tokens_seen == 6 * 4 * 8
    assert history.completed and history.stop_reason == "completed"
    assert history.val_perplexity == [pytest.approx(math.exp(v)) for v in history.val_loss]
    assert history.train_loss[0] == pytest.approx(sum(history.step_loss[:3]) / 3)


def test_same_seed_same_history_golden(char_tok, ids):
    # Golden values are the CPU's (fp32); a GPU computes in other orders (and in bf16 by default).
    a = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), device="cpu")
    b = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), device="cpu")
    assert a.step_loss == b.step_loss
    assert [round(x, 4) for x in a.step_loss] == pytest.approx(GOLDEN_GPT_STEP_LOSS, abs=2e-4)
    c = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(seed=1), device="cpu")
    assert c.step_loss != a.step_loss


def test_rnn_golden_history(char_tok, ids):
    history = train.fit(tiny_rnn(char_tok.vocab_size, "lstm"), ids, None, quick(), device="cpu")
    assert [round(x, 4) for x in history.step_loss] == pytest.approx(GOLDEN_LSTM_STEP_LOSS, abs=2e-4)


# Measured once on this project's CI machine (torch 2.13 CPU); 4 decimals are stable across CPUs.
GOLDEN_GPT_STEP_LOSS = [3.4559, 3.4348, 3.3447, 3.3981, 3.3221, 3.3395]
GOLDEN_LSTM_STEP_LOSS = [3.4866, 3.4526, 3.4628, 3.4758, 3.4383, 3.4653]


def test_training_lowers_the_loss(char_tok, ids):
    model = tiny_rnn(char_tok.vocab_size, "gru")
    before = train.evaluate(model, ids, seq_len=8)
    train.fit(model, ids, None, quick(steps=150, lr=1e-2, batch_size=8))
    after = train.evaluate(model, ids, seq_len=8)
    assert after < before - 1.0


def test_evaluate_is_mean_cross_entropy_over_windows(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size).eval()
    t = torch.tensor(ids[:8 * 5 + 1])
    x, y = t[:-1].view(5, 8), t[1:].view(5, 8)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(x).reshape(-1, char_tok.vocab_size), y.reshape(-1))
    assert train.evaluate(model, t, seq_len=8) == pytest.approx(float(expected), rel=1e-5)


def test_keyboard_interrupt_returns_history_and_keeps_model(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)

    class CtrlC(train.Callback):
        def on_step(self, step, loss, history):
            if step == 4:
                raise KeyboardInterrupt

    history = train.fit(model, ids, ids, quick(steps=50), callbacks=[CtrlC()])
    assert history.stop_reason == "interrupted"
    assert len(history.step_loss) == 4
    assert history.steps[-1] == 4  # the partial interval is still evaluated
    assert torch.isfinite(model(torch.tensor([ids[:8]], device=model.device))).all()
    more = train.fit(model, ids, ids, quick(steps=2))  # and it can go on training
    assert more.completed


def test_callback_returning_true_stops(char_tok, ids):
    seen = []

    def on_eval(step, history):
        seen.append(step)
        return True

    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=30), callbacks=on_eval)
    assert seen == [3] and history.stop_reason == "stopped by callback"


def test_callbacks_see_every_hook(char_tok, ids):
    calls = []

    class Recorder(train.Callback):
        def on_start(self, config, history):
            calls.append("start")

        def on_step(self, step, loss, history):
            calls.append(f"step{step}")

        def on_eval(self, step, history):
            calls.append(f"eval{step}")

        def on_end(self, history):
            calls.append("end")

    train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=3), callbacks=[Recorder()])
    assert calls == ["start", "step1", "step2", "step3", "eval3", "end"]


def test_nan_loss_stops_and_rolls_back_to_last_good_weights(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    snapshots = []

    class Poison(train.Callback):
        def on_step(self, step, loss, history):
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
            if step == 4:  # not an evaluation step (eval_interval=3), so the next step's loss finds it
                with torch.no_grad():
                    model.ln_f.weight.fill_(float("nan"))

    with pytest.warns(RuntimeWarning, match="training stopped at step 5: the training loss is nan"):
        history = train.fit(model, ids, None, quick(steps=10), callbacks=[Poison()])
    assert "weights after step 3" in history.stop_reason
    assert len(history.step_loss) == 4
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[2][name])


def test_cosine_schedule_with_warmup():
    cfg = train.TrainConfig(steps=11, lr=1.0, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    lrs = [train.learning_rate(s, cfg) for s in range(11)]
    assert lrs[:3] == [0.5, 1.0, 1.0]
    assert lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    assert lrs[6] == pytest.approx(0.55)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=0), "lr must be a finite number > 0, got 0"),
        (dict(lr=-1e-3), "lr must be a finite number > 0"),
        (dict(lr=float("nan")), "lr must be a finite number > 0"),
        (dict(steps=0), "steps must be a positive int, got 0"),
        (dict(batch_size=2.5), "batch_size must be a positive int"),
        (dict(schedule="linear"), r"schedule must be one of \('constant', 'cosine'\)"),
        (dict(warmup_steps=10, steps=10), r"warmup_steps must be an int in \[0, steps\)"),
        (dict(grad_clip=0), "grad_clip must be > 0 or None"),
    ],
)
def test_invalid_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**kwargs)


def test_bad_inputs_fail_before_any_work(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size, block_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="seq_len 16 exceeds the model's block_size 8; use seq_len <= 8"):
        train.fit(model, ids, None, quick(seq_len=16))
    with pytest.raises(ValueError, match=r"train_ids has 5 tokens, fewer than one training window needs \(seq_len \+ 1 = 9\)"):
        train.fit(model, ids[:5], None, quick())
    with pytest.raises(ValueError, match=r"val_ids has 3 tokens"):
        train.fit(model, ids, ids[:3], quick())
    with pytest.raises(ValueError, match=r"train_ids contains token id 999, outside the model's vocabulary"):
        train.fit(model, ids + [999], None, quick())
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        train.fit(model, ids, None, {"steps": 3})
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_progress_bar_can_be_turned_off(char_tok, ids, capsys):
    train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=2, progress=False))
    assert "training" not in capsys.readouterr().err
    train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=2, progress=True))
    assert "training" in capsys.readouterr().err


def test_perplexity():
    assert train.perplexity(0.0) == 1.0
    assert train.perplexity(math.log(65)) == pytest.approx(65)
    assert train.perplexity(1e6) == math.inf


def test_device_argument(char_tok, ids):
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=1), device="cpu")
    assert history.completed
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=1), device="cuda")


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py): each test pins one promise of TrainConfig and the schedule.


def test_train_config_defaults_are_the_documented_ones():
    cfg = train.TrainConfig()
    assert (cfg.steps, cfg.batch_size, cfg.seq_len, cfg.lr, cfg.seed) == (500, 32, 64, 3e-3, 0)
    assert (cfg.weight_decay, cfg.betas, cfg.grad_clip, cfg.schedule, cfg.warmup_steps) == (0.0, (0.9, 0.99), 1.0,
                                                                                             "constant", 0)
    assert (cfg.min_lr_ratio, cfg.eval_interval, cfg.eval_tokens, cfg.progress) == (0.1, 100, 16_384, True)
    assert (cfg.precision, cfg.compile, cfg.optimizer, cfg.muon_lr, cfg.muon_ns_steps) == ("auto", False, "adamw",
                                                                                           0.02, 5)


def test_train_config_accepts_the_edges_of_every_range():
    import numpy as np

    cfg = train.TrainConfig(steps=np.int64(2), batch_size=1, seq_len=1, eval_interval=1, eval_tokens=1,
                            lr=1e21, seed=2**64 - 1, weight_decay=0, betas=[0, 0.5], grad_clip=None,
                            schedule="cosine", warmup_steps=1, min_lr_ratio=1, precision="fp16",
                            optimizer="muon", muon_lr=1e-9, muon_ns_steps=np.int64(1))
    assert type(cfg.steps) is int and cfg.steps == 2
    assert type(cfg.muon_ns_steps) is int and cfg.muon_ns_steps == 1
    assert train.TrainConfig(muon_ns_steps=train_config.MAX_NS_STEPS).muon_ns_steps == 100
    assert cfg.betas == (0.0, 0.5) and all(type(b) is float for b in cfg.betas)
    assert type(cfg.seed) is int and type(cfg.warmup_steps) is int
    assert train.TrainConfig(lr=1e30, betas=(0.0, 0.0)).lr == 1e30  # the largest lr accepted
    assert train.TrainConfig(min_lr_ratio=0).min_lr_ratio == 0
    # the largest batch a config accepts: batch_size * (seq_len + 1) == MAX_BATCH_TOKENS
    assert train.TrainConfig(batch_size=2**20, seq_len=255).batch_size == 2**20


@pytest.mark.parametrize("kwargs, message", [
    (dict(seq_len=0), "seq_len must be a positive int, got 0"),
    (dict(eval_interval=True), "eval_interval must be a positive int, got True"),
    (dict(eval_tokens=-5), "eval_tokens must be a positive int, got -5"),
    (dict(batch_size=2**20, seq_len=256), "batch_size * (seq_len + 1) = 269,484,032 tokens is more than one batch may "
                                          "hold (268,435,456); use a smaller batch_size or seq_len"),
    (dict(lr=2e30), "lr must be a finite number > 0, got 2e+30 (at most 1e+30 is accepted)"),
    (dict(lr=float("inf")), "lr must be a finite number > 0, got inf"),
    (dict(seed=-1), "seed must be an int in [0, 2**64), got -1"),
    (dict(seed=1.0), "seed must be an int in [0, 2**64), got 1.0"),
    (dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0, got -0.1"),
    (dict(weight_decay=float("inf")), "weight_decay must be a finite number >= 0, got inf"),
    (dict(betas=(0.9,)), "betas must be two numbers in [0, 1), got (0.9,)"),
    (dict(betas=(0.9, 0.99, 0.5)), "betas must be two numbers in [0, 1)"),
    (dict(betas=(1.0, 0.5)), "betas must be two numbers in [0, 1), got (1.0, 0.5)"),
    (dict(betas=(0.5, -0.1)), "betas must be two numbers in [0, 1), got (0.5, -0.1)"),
    (dict(betas=(0.5, True)), "betas must be two numbers in [0, 1)"),
    (dict(betas=3), "betas must be two numbers in [0, 1), got 3"),
    (dict(betas=b"ab"), "betas must be two numbers in [0, 1)"),
    (dict(lr=1e30, betas=(1 - 1e-9, 0.99)), "lr / (1 - betas[0]) and lr * weight_decay must be at most 1e+38 "
                                            "(AdamW's first step and decay factor, held in float32), got lr=1e+30, "
                                            "betas=(0.999999999, 0.99), weight_decay=0.0"),

    (dict(lr=1e30, betas=(0.0, 0.0), weight_decay=1e9), "lr / (1 - betas[0]) and lr * weight_decay must be at most"),
    (dict(grad_clip=-1.0), "grad_clip must be > 0 or None (a number), got -1.0"),
    (dict(grad_clip=True), "grad_clip must be > 0 or None (a number), got True"),
    (dict(schedule=None), "schedule must be one of ('constant', 'cosine'), got None"),
    (dict(warmup_steps=-1), "warmup_steps must be an int in [0, steps), got -1"),
    (dict(warmup_steps=1.0), "warmup_steps must be an int in [0, steps), got 1.0"),
    (dict(min_lr_ratio=1.5), "min_lr_ratio must be a number in [0, 1], got 1.5"),
    (dict(min_lr_ratio=-0.1), "min_lr_ratio must be a number in [0, 1], got -0.1"),
    (dict(precision="fp8"), "precision must be one of ('auto', 'fp32', 'bf16', 'fp16'), got 'fp8'"),
    (dict(precision=None), "precision must be one of"),
    (dict(compile=1), "compile must be True or False, got 1"),
    (dict(optimizer="sgd"), "optimizer must be one of ('adamw', 'muon'), got 'sgd'"),
    (dict(optimizer=0), "optimizer must be one of ('adamw', 'muon'), got 0"),
    (dict(muon_lr=0), "muon_lr must be a finite number > 0, got 0"),
    (dict(muon_lr=float("inf")), "muon_lr must be a finite number > 0, got inf"),
    (dict(muon_lr="0.02"), "muon_lr must be a finite number > 0, got '0.02'"),
    (dict(muon_ns_steps=0), "muon_ns_steps must be an int from 1 to 100, got 0"),
    (dict(muon_ns_steps=101), "muon_ns_steps must be an int from 1 to 100, got 101"),
    (dict(muon_ns_steps=3.0), "muon_ns_steps must be an int from 1 to 100, got 3.0"),
    (dict(muon_ns_steps=True), "muon_ns_steps must be an int from 1 to 100, got True"),
])
def test_train_config_names_each_bad_setting_and_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        train.TrainConfig(**kwargs)


# lr = 1e38 / 2**27 (about 7.45e29, under MAX_LR), so lr / (1 - betas[0]) and lr * weight_decay land on 1e38 exactly
_EDGE_LR, _EDGE_BETA1 = train_config.MAX_STEP * 2.0**-27, 1.0 - 2.0**-27


@pytest.mark.parametrize("kwargs", [dict(lr=_EDGE_LR, betas=(_EDGE_BETA1, 0.9)),
                                    dict(lr=_EDGE_LR, betas=(0.0, 0.9), weight_decay=2.0**27)])
def test_train_config_accepts_a_first_step_or_decay_of_exactly_max_step(kwargs):
    factor = _EDGE_LR / (1 - kwargs["betas"][0]) if "weight_decay" not in kwargs else _EDGE_LR * kwargs["weight_decay"]
    assert factor == train_config.MAX_STEP == 1e38
    train.TrainConfig(**kwargs)
    above = dict(kwargs, lr=math.nextafter(_EDGE_LR, math.inf))
    with pytest.raises(ValueError, match=r"lr / \(1 - betas\[0\]\) and lr \* weight_decay must be at most 1e\+38"):
        train.TrainConfig(**above)


def test_learning_rate_warmup_and_cosine_values():
    cfg = train.TrainConfig(steps=6, lr=2.0, warmup_steps=2, schedule="cosine", min_lr_ratio=0.25)
    # warm-up: lr * (step + 1) / warmup_steps; then cosine from lr to lr * min_lr_ratio over steps 2..5
    expected = [1.0, 2.0, 2.0, 0.5 + 0.75 * (1 + math.cos(math.pi / 3)), 0.5 + 0.75 * (1 + math.cos(2 * math.pi / 3)),
                0.5, 0.5, 0.5]
    assert [train.learning_rate(s, cfg) for s in range(8)] == pytest.approx(expected, rel=1e-12)
    const = train.TrainConfig(steps=4, lr=0.3, warmup_steps=3)
    assert [train.learning_rate(s, const) for s in range(5)] == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3], rel=1e-12)
    two = train.TrainConfig(steps=2, lr=1.0, warmup_steps=1, schedule="cosine", min_lr_ratio=0.0)
    assert [train.learning_rate(s, two) for s in range(3)] == [1.0, 1.0, 0.0]  # span of at least one step


def test_learning_rate_checks_its_arguments():
    cfg = train.TrainConfig()
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        train.learning_rate(0, {"lr": 1})
    with pytest.raises(ValueError, match=re.escape("step must be an int >= 0 (0-based), got -1")):
        train.learning_rate(-1, cfg)
    with pytest.raises(ValueError, match=re.escape("step must be an int >= 0 (0-based), got True")):
        train.learning_rate(True, cfg)


def test_history_starts_empty_and_reports_perplexities():
    h = train.History()
    assert (h.steps, h.train_loss, h.val_loss, h.step_loss, h.lr) == ([], [], [], [], [])
    assert (h.tokens_seen, h.elapsed, h.stop_reason, h.completed) == (0, 0.0, "", False)
    assert train.History().steps is not h.steps  # each history has its own lists
    h = train.History(steps=[5, 10], train_loss=[0.0, math.log(4)], val_loss=[math.log(2), 1e6])
    assert h.train_perplexity == pytest.approx([1.0, 4.0]) and h.val_perplexity == pytest.approx([2.0, math.inf])
    assert set(h.to_dict()) == {"steps", "train_loss", "val_loss", "step_loss", "lr", "tokens_seen", "elapsed",
                                "stop_reason"}
    assert train.History(stop_reason="stopped by callback").completed is False


def test_history_from_dict_fills_defaults_and_names_a_damaged_field():
    assert train.History.from_dict({}) == train.History()
    assert train.History.from_dict({"steps": [3], "tokens_seen": 7, "elapsed": 1, "stop_reason": "completed"}) == \
        train.History(steps=[3], tokens_seen=7, elapsed=1, stop_reason="completed")
    with pytest.raises(ValueError, match="a history must be a dict, got list"):
        train.History.from_dict([])
    with pytest.raises(ValueError, match=re.escape("history field steps must be a list of ints, got [1.5]")):
        train.History.from_dict({"steps": [1.5]})
    for name in ("train_loss", "val_loss", "step_loss", "lr"):  # each list field is checked, by its own name
        with pytest.raises(ValueError, match=re.escape(f"history field {name} must be a list of numbers, got ['x']")):
            train.History.from_dict({name: ["x"]})
    with pytest.raises(ValueError, match=re.escape("history field val_loss must be a list of numbers, got 1.0")):
        train.History.from_dict({"val_loss": 1.0})
    for bad in ({"tokens_seen": 1.0}, {"elapsed": "1"}, {"stop_reason": None}):
        with pytest.raises(ValueError, match="^history fields tokens_seen, elapsed and stop_reason must be an int, a "
                                             "number and a str$"):
            train.History.from_dict(bad)


def test_perplexity_refuses_what_is_not_a_number():
    for bad, kind in (("1.0", "str"), (True, "bool"), (None, "NoneType")):
        with pytest.raises(TypeError, match=f"^loss must be a number \\(nats per token\\), got {kind}$"):
            train.perplexity(bad)


def test_callbacks_are_accepted_as_objects_functions_or_lists():
    from lmlib.train_callbacks import _as_callbacks

    class Mine(train.Callback):
        pass

    mine = Mine()
    assert _as_callbacks(None) == [] and _as_callbacks([]) == []
    assert _as_callbacks(mine) == [mine]
    seen = []
    [wrapped] = _as_callbacks(lambda step, history: seen.append((step, history)) or "stop")
    history = train.History(steps=[7])
    assert isinstance(wrapped, train.Callback) and wrapped.on_eval(7, history) == "stop"
    assert seen == [(7, history)] and seen[0][1] is history  # the function gets fit's own history
    both = _as_callbacks((mine, print))
    assert both[0] is mine and both[1].fn is print
    base = train.Callback()  # every hook does nothing and asks for nothing
    assert (base.on_start(train.TrainConfig(), train.History()), base.on_step(1, 0.5, train.History()),
            base.on_eval(1, train.History()), base.on_end(train.History())) == (None, None, None, None)
    for bad, name in (("abc", "str"), ({"a": 1}, "dict"), (5, "int")):
        with pytest.raises(ValueError, match=f"callbacks must be a Callback, a function \\(step, history\\) or a list "
                                             f"of them, got {name}"):
            _as_callbacks(bad)
    with pytest.raises(ValueError, match=re.escape("callbacks must be Callback objects or functions (step, history), "
                                                   "got 3")):
        _as_callbacks([mine, 3])
