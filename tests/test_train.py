import math

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn, quick
from lmlib import tokenizers, train


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
