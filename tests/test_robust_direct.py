"""Direct tests of behaviours the rest of the suite let through (issue 14, "Tests that would catch a real bug").

Each test names the planted bug it catches: dropout left on in eval mode, a stream that drops its last
piece, generation that does not restore eval mode, weight decay on biases and norms, a wrong
train_perplexity or running mean, batches drawn from the global RNG, a checkpoint missing a tensor,
gradient clipping, the loss plot's x axis, exercise 5.1 accepting wrong windows.
"""

import copy
import math

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn, quick
from lmlib import checkpoint, data, exercises, generate, models, plotting, tokenizers, train


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def dropout_pair(kind: str, vocab: int):
    """A model with dropout 0.5 and a copy of it with dropout 0 (same weights)."""
    torch.manual_seed(0)
    if kind == "gpt":
        config = models.GPTConfig(vocab_size=vocab, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.5)
        model = models.GPT(config)
        plain = models.GPT(models.GPTConfig(**{**config.__dict__, "dropout": 0.0}))
    else:
        config = models.RNNConfig(vocab_size=vocab, embedding_dim=8, hidden_dim=16, cell="lstm", num_layers=2,
                                  dropout=0.5)
        model = models.RNNLM(config)
        plain = models.RNNLM(models.RNNConfig(**{**config.__dict__, "dropout": 0.0}))
    plain.load_state_dict(model.state_dict())
    return model, plain


# ------------------------------------------------------------------ dropout only while training


@pytest.mark.parametrize("kind", ["gpt", "rnn"])
def test_dropout_is_off_in_eval_mode(kind):
    model, plain = dropout_pair(kind, 11)
    idx = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(0))
    model.eval()
    torch.testing.assert_close(model(idx), plain.eval()(idx), rtol=0, atol=0)
    model.train()
    assert not torch.allclose(model(idx), plain(idx))  # and on while training


@pytest.mark.parametrize("kind", ["gpt", "rnn"])
def test_evaluate_runs_without_dropout_and_restores_the_mode(kind):
    model, plain = dropout_pair(kind, 11)
    ids = torch.randint(0, 11, (200,), generator=torch.Generator().manual_seed(1))
    model.train()
    a = train.evaluate(model, ids, seq_len=8, batch_size=7)
    assert model.training
    assert a == train.evaluate(model, ids, seq_len=8, batch_size=7)
    assert a == pytest.approx(train.evaluate(plain, ids, seq_len=8), abs=1e-6)
    model.eval()
    train.evaluate(model, ids, seq_len=8)
    assert not model.training


# ------------------------------------------------------------------ generation


def _fake_ids(monkeypatch, ids):
    def fake(*args, **kwargs):
        yield from ids

    monkeypatch.setattr(generate, "generate_ids", fake)


def test_stream_yields_the_final_flushed_piece(monkeypatch):
    _fake_ids(monkeypatch, [0x41, 0xE8, 0xBF])  # "A", then the first two bytes of "这" and nothing more
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    assert list(generate.stream(model, tok, "x", max_new_tokens=3)) == ["A", "\ufffd"]


def test_generate_is_the_prompt_and_the_decoded_ids(monkeypatch):
    _fake_ids(monkeypatch, [0xE8, 0xBF, 0x99, 0x41, 0xE4])
    assert generate.generate(tiny_rnn(256), tokenizers.ByteTokenizer(), "x: ", 5) == "x: 这A\ufffd"


def test_generate_matches_generate_ids():
    tok, model = tokenizers.ByteTokenizer(), tiny_rnn(256)
    out = generate.generate(model, tok, "这是一个", max_new_tokens=12, seed=3)
    ids = list(generate.generate_ids(model, tok.encode("这是一个"), 12, seed=3))
    assert out == "这是一个" + tok.decode(ids) and len(ids) == 12


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_generation_runs_in_eval_mode_and_restores_the_mode(mode, monkeypatch):
    model, _ = dropout_pair("gpt", 256)
    model.train(mode == "train")
    seen = []
    real = model.advance
    monkeypatch.setattr(model, "advance", lambda idx, state=None: (seen.append(model.training), real(idx, state))[1])
    a = generate.generate(model, tokenizers.ByteTokenizer(), "ab", 6, temperature=0)
    assert seen and not any(seen)
    assert model.training == (mode == "train")
    model.eval()
    assert a == generate.generate(model, tokenizers.ByteTokenizer(), "ab", 6, temperature=0)  # no dropout


def test_a_long_prompt_continues_from_its_last_half_block():
    model = tiny_gpt(256, block_size=16, seed=4)
    prompt = list(TINY_TEXT[:100].encode())
    long = list(generate.generate_ids(model, prompt, max_new_tokens=20, temperature=0))
    assert long == list(generate.generate_ids(model, prompt[-8:], max_new_tokens=20, temperature=0))
    assert long != list(generate.generate_ids(model, prompt[-9:], max_new_tokens=20, temperature=0))


# ------------------------------------------------------------------ the optimiser


def test_weight_decay_applies_to_matrices_only(char_tok):
    model = tiny_gpt(char_tok.vocab_size)
    config = train.TrainConfig(lr=0.1, weight_decay=0.5)
    optimizer = train.make_optimizer(model, config)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(p) for p in model.parameters() if p.dim() >= 2}
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in model.parameters() if p.dim() < 2}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # zero gradients: only the decay moves the weights
    for name, p in model.named_parameters():
        expected = before[name] * (1 - 0.1 * 0.5) if p.dim() >= 2 else before[name]
        torch.testing.assert_close(p.detach(), expected)


def test_gradients_are_clipped_to_grad_clip(char_tok, ids):
    norms = {}

    class GradNorm(train.Callback):  # gradients are still there after the step, until the next one
        def __init__(self, key):
            self.key = key

        def on_step(self, step, loss, history):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norms[self.key] = float(torch.norm(torch.stack([g.norm() for g in grads])))

    model = tiny_gpt(char_tok.vocab_size)
    train.fit(model, ids, None, quick(steps=1, grad_clip=None), callbacks=[GradNorm("raw")])
    model = tiny_gpt(char_tok.vocab_size)
    train.fit(model, ids, None, quick(steps=1, grad_clip=0.05), callbacks=[GradNorm("clipped")])
    assert norms["raw"] > 0.5
    assert norms["clipped"] == pytest.approx(0.05, rel=1e-4)
    model = tiny_gpt(char_tok.vocab_size)
    train.fit(model, ids, None, quick(steps=1, grad_clip=100.0), callbacks=[GradNorm("unclipped")])
    assert norms["unclipped"] == pytest.approx(norms["raw"], rel=1e-5)


def test_learning_rate_schedule_values():
    cfg = train.TrainConfig(steps=5, lr=0.2, warmup_steps=4)
    assert [train.learning_rate(s, cfg) for s in range(5)] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2])
    cosine = train.TrainConfig(steps=3, lr=1.0, schedule="cosine", min_lr_ratio=0.5)
    assert [train.learning_rate(s, cosine) for s in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.5])
    one = train.TrainConfig(steps=1, lr=1.0, schedule="cosine", min_lr_ratio=0.0)
    assert train.learning_rate(0, one) == 1.0


# ------------------------------------------------------------------ the history


def test_train_loss_is_the_running_mean_since_the_previous_evaluation(char_tok, ids):
    history = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(steps=7, eval_interval=3))
    s = history.step_loss
    assert history.steps == [3, 6, 7]
    assert history.train_loss == pytest.approx([sum(s[0:3]) / 3, sum(s[3:6]) / 3, s[6]], abs=0)
    assert history.lr == [3e-3] * 7 and history.tokens_seen == 7 * 4 * 8


def test_perplexities_are_exp_of_the_losses():
    h = train.History(steps=[1, 2], train_loss=[0.0, math.log(2)], val_loss=[math.log(3), float("nan")])
    assert h.train_perplexity == pytest.approx([1.0, 2.0])
    assert h.val_perplexity[0] == pytest.approx(3.0) and math.isnan(h.val_perplexity[1])
    assert train.History.from_dict({**h.to_dict(), "unknown": 1}) == h
    assert not h.completed and train.History(stop_reason="completed").completed


def test_evaluation_uses_the_first_eval_tokens(char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    history = train.fit(model, ids, ids, quick(steps=3, eval_interval=3, eval_tokens=64, lr=1e-12))
    assert history.val_loss[0] == pytest.approx(train.evaluate(model, ids[:65], seq_len=8), abs=1e-6)


# ------------------------------------------------------------------ batches


def test_batches_come_from_the_seed_alone_not_the_global_rng(char_tok, ids, monkeypatch):
    seen = []
    real = train.get_batch

    def spy(*args, **kwargs):
        x, y = real(*args, **kwargs)
        seen.append(x.clone())
        return x, y

    monkeypatch.setattr(train, "get_batch", spy)
    train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=3))
    plain = list(seen)
    seen.clear()
    model, _ = dropout_pair("gpt", char_tok.vocab_size)  # dropout draws from the global RNG every step
    train.fit(model, ids, None, quick(steps=3))
    generator = torch.Generator().manual_seed(0)
    expected = [real(torch.tensor(ids), 4, 8, generator)[0] for _ in range(3)]
    for a, b, c in zip(plain, seen, expected):
        assert torch.equal(a, c) and torch.equal(b, c)


def test_get_batch_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    data.get_batch(torch.arange(100), 4, 8, torch.Generator().manual_seed(1))
    assert torch.equal(torch.rand(3), expected)


def test_get_batch_windows_are_random_slices_of_the_ids():
    ids = torch.tensor([7, 3, 9, 1, 4, 8, 2, 6, 5, 0] * 3)
    x, y = data.get_batch(ids, 50, 5, torch.Generator().manual_seed(0))
    text = ids.tolist()
    starts = set()
    for row, target in zip(x.tolist(), y.tolist()):
        start = next(i for i in range(len(text) - 5) if text[i:i + 5] == row and text[i + 1:i + 6] == target)
        starts.add(start % 10)
    assert len(starts) > 5  # many different offsets, every one a real window


# ------------------------------------------------------------------ checkpoints


def test_a_checkpoint_missing_a_tensor_is_refused(tmp_path, char_tok):
    from safetensors.torch import load_file, save_file

    path = checkpoint.save(tmp_path / "m.lmlib", tiny_gpt(char_tok.vocab_size), char_tok)
    raw = checkpoint.read_metadata(path)
    tensors = load_file(str(path))
    del tensors["blocks.1.mlp.fc.weight"]
    meta = {k: v if isinstance(v, str) else __import__("json").dumps(v) for k, v in raw.items()}
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match=r"missing weights \['blocks.1.mlp.fc.weight'\], unexpected \[\]"):
        checkpoint.load(path)


def test_loaded_checkpoint_is_on_the_device_in_eval_mode(tmp_path, char_tok):
    model = tiny_rnn(char_tok.vocab_size).train()
    path = checkpoint.save(tmp_path / "m.lmlib", model, char_tok)
    loaded, tok = checkpoint.load(path, device=torch.device("cpu"))
    assert not loaded.training and loaded.device == torch.device("cpu")
    assert tok.chars == char_tok.chars


def test_bundled_checkpoint_is_a_trained_model():
    model, tok = checkpoint.load(checkpoint.bundled())
    _, val = data.split(data.load_corpus(), 0.9)
    assert train.evaluate(model, tok.encode(val[:4096]), seq_len=128) < 1.6  # a uniform guess: 5.55


# ------------------------------------------------------------------ the loss plot


def test_loss_figure_puts_each_curve_at_its_steps():
    history = train.History(steps=[2, 4], train_loss=[3.0, 2.0], val_loss=[3.1, 2.5],
                            step_loss=[3.2, 2.8, 2.1, 1.9])
    fig = plotting.loss_figure(history, title="t", height=300)
    each, mean, val = fig.data
    assert list(each.x) == [1, 2, 3, 4] and list(each.y) == [3.2, 2.8, 2.1, 1.9]
    assert list(mean.x) == [2, 4] and list(mean.y) == [3.0, 2.0]
    assert list(val.x) == [2, 4] and list(val.y) == [3.1, 2.5]
    assert fig.layout.xaxis.title.text == "training step" and fig.layout.height == 300
    assert fig.layout.title.text == "t"
    assert len(plotting.loss_figure(train.History()).data) == 0


# ------------------------------------------------------------------ exercise 5.1


def _windows_answer(stride_of_targets=1, overlap=False, plus_one=False, extra_window=False):
    def make(ids, seq_len):
        n = (len(ids) - (0 if extra_window else 1)) // seq_len
        step = 1 if overlap else seq_len
        if overlap:
            n = len(ids) - seq_len
        x = [ids[i * step:i * step + seq_len] for i in range(n)]
        if plus_one:
            return x, [[v + 1 for v in row] for row in x]
        y = [(ids[i * step + stride_of_targets:i * step + stride_of_targets + seq_len] + [0] * seq_len)[:seq_len]
             for i in range(n)]
        return x, y
    return make


@pytest.mark.parametrize("answer, message", [
    (_windows_answer(overlap=True), "your windows overlap"),
    (_windows_answer(stride_of_targets=4), "the targets are not"),  # targets from the next window: they overlap it
    (_windows_answer(plus_one=True), "inputs plus one"),
    (_windows_answer(extra_window=True), "use as many whole windows as fit"),
    (_windows_answer(stride_of_targets=0), "your targets equal the inputs"),
])
def test_exercise_5_1_rejects_wrong_windows(answer, message):
    result = exercises.check("5.1", answer)
    assert not result.passed and message in result.message


def test_exercise_5_1_accepts_lists_and_tensors():
    assert exercises.check("5.1", _windows_answer()).passed
    assert exercises.check("5.1", lambda ids, n: data.windows(torch.tensor(ids), n)).passed


# ------------------------------------------------------------------ the preallocated KV cache


def test_a_fresh_kv_cache_holds_zeros_where_nothing_was_written():
    """The fixed-shape one-token step (a CUDA graph on a GPU) attends over whole buffers with the unwritten
    positions masked; masked weights are 0, and 0 x NaN is NaN, so those positions must not hold garbage.
    (With torch.empty buffers the step returned NaN logits whenever reused memory held NaN.)"""
    model = tiny_gpt(13, block_size=16).eval()
    cache = model.new_state()
    model.advance(torch.tensor([[1, 2, 3, 4]]), cache)
    for buffer in cache.keys + cache.values:
        assert buffer.shape[2] == 16 and torch.count_nonzero(buffer[:, :, 4:]) == 0
    step = generate._OneTokenStep(model, cache, capture=False)
    assert torch.isfinite(step(5)).all()
