import json

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn
from lmlib import checkpoint, tokenizers, train


@pytest.fixture
def trained_gpt(char_tok):
    model = tiny_gpt(char_tok.vocab_size)
    cfg = train.TrainConfig(steps=4, batch_size=4, seq_len=8, eval_interval=2, progress=False)
    history = train.fit(model, char_tok.encode(TINY_TEXT), char_tok.encode(TINY_TEXT), cfg)
    return model, char_tok, history


def test_round_trip_gives_identical_logits_tokenizer_and_history(tmp_path, trained_gpt):
    model, tok, history = trained_gpt
    path = checkpoint.save(tmp_path / "model.lmlib", model, tok, history=history)
    loaded, tok2 = checkpoint.load(path, device=model.device)  # fit left the model on its default device
    idx = torch.tensor([tok.encode("The quick")], device=model.device)
    assert torch.equal(loaded(idx), model.eval()(idx))
    assert loaded.head.weight is loaded.tok_emb.weight  # tying survives
    assert tok2.encode(TINY_TEXT) == tok.encode(TINY_TEXT)
    assert checkpoint.load_history(path) == history
    assert not loaded.training


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_round_trip(tmp_path, cell):
    tok = tokenizers.ByteTokenizer()
    model = tiny_rnn(256, cell).eval()
    checkpoint.save(tmp_path / "m.lmlib", model, tok)
    loaded, _ = checkpoint.load(tmp_path / "m.lmlib")
    idx = torch.tensor([list(b"abc")])
    assert loaded.config == model.config
    assert torch.equal(loaded(idx), model(idx))
    assert checkpoint.load_history(tmp_path / "m.lmlib") is None


def test_file_is_plain_safetensors_with_json_metadata(tmp_path, trained_gpt):
    model, tok, history = trained_gpt
    path = checkpoint.save(tmp_path / "model.lmlib", model, tok, history=history)
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    meta = header["__metadata__"]
    assert meta["format"] == "lmlib-checkpoint-1"
    assert meta["model_kind"] == "gpt"
    assert json.loads(meta["model_config"])["n_layer"] == 2
    assert json.loads(meta["tokenizer"])["kind"] == "char"
    assert "head.weight" not in header  # tied weight stored once
    assert b"pickle" not in raw[:200]


def test_truncated_file_is_reported(tmp_path, trained_gpt):
    model, tok, _ = trained_gpt
    path = checkpoint.save(tmp_path / "model.lmlib", model, tok)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="is damaged: its weights cannot be read"):
        checkpoint.load(path)


def test_garbage_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.lmlib"
    path.write_bytes(b"\x80\x04\x95 this is a pickle, not a checkpoint")
    with pytest.raises(ValueError, match="is not an lmlib checkpoint"):
        checkpoint.load(path)


def test_other_safetensors_file_is_not_a_checkpoint(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match=r"format None, expected 'lmlib-checkpoint-1'"):
        checkpoint.load(tmp_path / "w.safetensors")


def test_weights_that_do_not_match_the_config(tmp_path, trained_gpt):
    from safetensors.torch import load_file, save_file

    model, tok, _ = trained_gpt
    path = checkpoint.save(tmp_path / "model.lmlib", model, tok)
    meta = checkpoint.read_metadata(path)
    tensors = load_file(str(path))
    tensors["pos_emb.weight"] = torch.zeros(3, 3)
    raw = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()}
    save_file(tensors, str(path), metadata=raw)
    with pytest.raises(ValueError, match=r"weight pos_emb.weight has shape \(3, 3\), the config needs \(16, 16\)"):
        checkpoint.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "nope.lmlib")


def test_tokenizer_must_match_model(tmp_path):
    with pytest.raises(ValueError, match="tokenizer has 256 tokens but the model's vocab_size is 10"):
        checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(10), tokenizers.ByteTokenizer())


def test_bundled_first_taste_checkpoint_loads_and_generates():
    path = checkpoint.bundled("first-taste")
    assert path.stat().st_size < 5_000_000
    model, tok = checkpoint.load(path)
    assert isinstance(tok, tokenizers.ByteTokenizer)
    meta = checkpoint.read_metadata(path)
    assert meta["extra"]["recipe"]["seed"] == 0
    assert meta["extra"]["val_loss_full"] < 1.6  # nats per byte; a uniform guess is ln 256 = 5.55
    history = checkpoint.load_history(path)
    assert history.completed and history.val_loss[-1] < history.val_loss[0]
    from lmlib import generate

    text = generate.generate(model, tok, "The ", max_new_tokens=40, temperature=0)
    assert text == "The standard library classes are considered "  # golden: greedy decoding of the shipped weights
    ids = list(generate.generate_ids(model, tok.encode("这是一个"), 5, seed=0))
    assert generate.generate(model, tok, "这是一个", max_new_tokens=5, seed=0) == "这是一个" + tok.decode(ids)


def test_unknown_bundled_name():
    with pytest.raises(ValueError, match="no bundled checkpoint 'nope'; lmlib ships"):
        checkpoint.bundled("nope")
