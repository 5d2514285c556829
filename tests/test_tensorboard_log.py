"""lmlib.tensorboard_log: the callback's event files read back exactly (scalars, histograms, projector)."""

import math

import pytest
import torch

pytest.importorskip("tensorboard")

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn  # noqa: E402
from lmlib import tensorboard_log as tbl  # noqa: E402
from lmlib import tokenizers, train  # noqa: E402


def _fit(model, tok, log_dir, **kwargs):
    ids = tok.encode(TINY_TEXT)
    cut = len(ids) * 3 // 4
    callback = tbl.TensorBoardCallback(log_dir, model, tok, **kwargs)
    config = train.TrainConfig(steps=12, batch_size=4, seq_len=8, eval_interval=4, progress=False, seed=0)
    history = train.fit(model, ids[:cut], ids[cut:], config, callbacks=[callback], device="cpu")
    return history


def test_scalars_match_the_history(tmp_path):
    tok = tokenizers.CharTokenizer.fit(TINY_TEXT)
    history = _fit(tiny_gpt(tok.vocab_size), tok, tmp_path)
    scalars = tbl.read_scalars(tmp_path)
    assert [s for s, _ in scalars["loss/train_step"]] == list(range(1, 13))
    assert [v for _, v in scalars["loss/train_step"]] == pytest.approx(history.step_loss, rel=1e-6)
    assert [v for _, v in scalars["lr"]] == pytest.approx(history.lr, rel=1e-6)
    assert [s for s, _ in scalars["loss/val"]] == history.steps == [4, 8, 12]
    assert [v for _, v in scalars["loss/val"]] == pytest.approx(history.val_loss, rel=1e-6)
    assert [v for _, v in scalars["perplexity/val"]] == pytest.approx([math.exp(v) for v in history.val_loss], rel=1e-5)
    assert all(v > 0 for _, v in scalars["grad_norm"])


def test_histograms_of_every_parameter(tmp_path):
    tok = tokenizers.CharTokenizer.fit(TINY_TEXT)
    model = tiny_rnn(tok.vocab_size)
    _fit(model, tok, tmp_path, histogram_every=2)
    hists = tbl.read_histograms(tmp_path)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(hists) == sorted([f"weights/{n}" for n in names] + [f"grads/{n}" for n in names])
    record = hists["weights/embedding.weight"][-1]
    assert [r.step for r in hists["weights/embedding.weight"]] == [4, 12]  # every 2nd of 3 evaluations
    weights = model.embedding.weight.detach()
    assert record.num == weights.numel()
    assert record.min == pytest.approx(float(weights.min())) and record.max == pytest.approx(float(weights.max()))
    assert record.mean == pytest.approx(float(weights.mean()), abs=1e-6)
    assert record.std == pytest.approx(float(weights.std(unbiased=False)), rel=1e-3)
    assert sum(record.bucket_counts) == pytest.approx(record.num)


def test_projector_holds_the_final_embedding_with_labels(tmp_path):
    tok = tokenizers.ByteTokenizer()
    model = tiny_gpt(tok.vocab_size)
    _fit(model, tok, tmp_path)
    (emb,) = tbl.read_projector(tmp_path)
    assert emb.tensor.shape == tuple(model.tok_emb.weight.shape)
    assert torch.allclose(torch.from_numpy(emb.tensor), model.tok_emb.weight.detach(), atol=1e-5)
    assert len(emb.labels) == 256
    assert emb.labels[ord("a")] == "a" and emb.labels[ord(" ")] == "' '" and emb.labels[0xE8] == "<e8>"
    assert all("\t" not in label and "\n" not in label for label in emb.labels)


def test_errors_are_specific(tmp_path):
    with pytest.raises(ValueError, match="torch model"):
        tbl.TensorBoardCallback(tmp_path, model="not a model")
    with pytest.raises(ValueError, match="histogram_every"):
        tbl.TensorBoardCallback(tmp_path, tiny_gpt(10), histogram_every=-1)
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        tbl.read_scalars(tmp_path)
    with pytest.raises(FileNotFoundError, match="projector_config"):
        tbl.read_projector(tmp_path)
