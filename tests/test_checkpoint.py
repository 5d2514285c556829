import json
import re

import pytest
import torch

from conftest import TINY_TEXT, rewrite_header, set_metadata, tiny_gpt, tiny_rnn, warned_at_caller
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


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py): every refusal of save and load names the file and what is wrong.


@pytest.mark.parametrize("args, error, message", [
    (lambda: (torch.nn.Linear(2, 2), tokenizers.ByteTokenizer()), ValueError,
     "model must be an lmlib RNNLM or GPT, got Linear"),
    (lambda: (tiny_rnn(256), "bytes"), ValueError, "tokenizer must be an lmlib tokenizer, got str"),
    (lambda: (tiny_rnn(3), tokenizers.ByteTokenizer()), ValueError,
     "tokenizer has 256 tokens but the model's vocab_size is 3; save the tokenizer the model was trained with"),
])
def test_save_refuses_what_is_not_a_model_and_its_tokenizer(tmp_path, args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        checkpoint.save(tmp_path / "m.lmlib", *args())
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_bad_history_extra_and_paths(tmp_path):
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    cases = [
        (dict(history=5), ValueError, "history must be a train.History, a dict or None, got int"),
        (dict(extra=[1]), ValueError, "extra must be a dict or None, got list"),
        (dict(extra={"a": {1, 2}}), ValueError, "history and extra must hold only JSON values (str, numbers, lists, "
                                                "dicts): "),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            checkpoint.save(tmp_path / "m.lmlib", model, tok, **kwargs)
    with pytest.raises(FileNotFoundError, match=re.escape(f"cannot save a checkpoint to {tmp_path / 'no' / 'm.lmlib'}: "
                                                          f"folder {tmp_path / 'no'} does not exist")):
        checkpoint.save(tmp_path / "no" / "m.lmlib", model, tok)
    with pytest.raises(TypeError, match="path must be a str or a path, got bytes"):
        checkpoint.save(b"m.lmlib", model, tok)
    with pytest.raises(TypeError, match="path must be a str or a path, got int"):
        checkpoint.load(3)
    with pytest.raises(ValueError, match="must not contain a NUL character"):
        checkpoint.save(str(tmp_path / "a\0b"), model, tok)
    with pytest.raises(ValueError, match="is not valid text for a file name"):
        checkpoint.load(str(tmp_path / "a\ud800"))
    assert list(tmp_path.iterdir()) == []


def test_a_dict_history_is_saved_as_it_is(tmp_path):
    path = checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(256), tokenizers.ByteTokenizer(),
                           history={"steps": [4], "stop_reason": "completed"}, extra={"note": "这"})
    assert checkpoint.load_history(path) == train.History(steps=[4], stop_reason="completed")
    meta = checkpoint.read_metadata(path)
    assert meta["extra"] == {"note": "这"} and meta["format"] == "lmlib-checkpoint-1"
    assert meta["model_kind"] == "rnn" and meta["tokenizer"] == {"kind": "byte", "version": 1}


def test_a_header_larger_than_load_reads_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"the checkpoint's header \(config, tokenizer, history, extra\) would take "
                                         r"[\d,]+ bytes, more than load reads \(16,777,216\); save a shorter history"):
        checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(256), tokenizers.ByteTokenizer(),
                        extra={"x": "a" * checkpoint.MAX_HEADER_BYTES})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("edit, message", [
    (set_metadata("format", "other-1"), "is not an lmlib checkpoint (format 'other-1', expected 'lmlib-checkpoint-1')"),
    (lambda h: h["__metadata__"].pop("model_config"), "has damaged lmlib metadata: KeyError('model_config')"),
    (set_metadata("tokenizer", "{"), "has damaged lmlib metadata: JSONDecodeError("),
    (set_metadata("model_config", "[1]"), "has damaged lmlib metadata: model_config and extra must be JSON objects"),
    (set_metadata("extra", "3"), "has damaged lmlib metadata: model_config and extra must be JSON objects"),
    (set_metadata("tokenizer", '{"kind": "byte", "version": 9}'), "has a damaged tokenizer: tokenizer format version 9"),
    (set_metadata("model_kind", "cnn"), "model kind must be one of ['gpt', 'rnn'], got 'cnn'"),
    (set_metadata("model_config", '{"vocab_size": 256, "cell": "tanh"}'), "has an invalid rnn config: "),
    (set_metadata("model_config", '{"vocab_size": 256, "colour": 1}'), "has an invalid rnn config: "),
])
def test_damaged_metadata_is_named(saved, edit, message):
    rewrite_header(saved, edit)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        checkpoint.load(saved)
    assert str(saved) in str(info.value)


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.update({"__metadata__": {"format": 1}}), "is not an lmlib checkpoint (its metadata is not a map of "
                                                           "strings)"),
    (lambda h: h.update({"__metadata__": None}), "is not an lmlib checkpoint (format None"),
])
def test_metadata_that_is_not_a_map_of_strings_is_refused(saved, edit, message):
    rewrite_header(saved, edit)
    with pytest.raises(ValueError, match=re.escape(message)):
        checkpoint.read_metadata(saved)


def _first_tensor(header):
    return next(k for k in header if k != "__metadata__")


@pytest.mark.parametrize("edit, message", [
    (lambda h: h[_first_tensor(h)].update(dtype="I64"), "has an invalid entry"),
    (lambda h: h[_first_tensor(h)].update(shape=[1, True]), "has an invalid entry"),
    (lambda h: h[_first_tensor(h)].update(data_offsets=[0]), "has an invalid entry"),
    (lambda h: h[_first_tensor(h)].update(shape=[10 ** 6]), "of shape [1000000] does not take"),
    (lambda h: [v.update(data_offsets=[v["data_offsets"][0] + 4, v["data_offsets"][1] + 4])
                for k, v in h.items() if k != "__metadata__"], "does not start where the previous one ends"),
])
def test_a_damaged_tensor_table_is_refused(saved, edit, message):
    rewrite_header(saved, edit)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        checkpoint.load(saved)
    assert f"{saved} is damaged: its weights cannot be read" in str(info.value)


def test_a_padded_or_truncated_file_is_refused(saved):
    saved.write_bytes(saved.read_bytes() + b"\0" * 8)
    with pytest.raises(ValueError, match=re.escape("but the file holds") + ".*truncated or padded"):
        checkpoint.load(saved)
    saved.write_bytes(saved.read_bytes()[:-16])
    with pytest.raises(ValueError, match="truncated or padded"):
        checkpoint.load(saved)


@pytest.mark.parametrize("content, message", [
    (b"\x00" * 8 + b"{}", "its header length 0 does not fit in the file (10 bytes)"),
    ((100).to_bytes(8, "little") + b"{}", "its header length 100 does not fit in the file (10 bytes) or is over "
                                          "16,777,216 bytes"),
    ((2).to_bytes(8, "little") + b"[]", "its header is not a JSON object"),
    ((2).to_bytes(8, "little") + b"{x", "not a readable safetensors file"),
])
def test_a_file_that_is_not_safetensors_is_named(tmp_path, content, message):
    path = tmp_path / "x.lmlib"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"{path} is not an lmlib checkpoint (not a readable safetensors "
                                                   f"file: ")):
        checkpoint.load(path)
    with pytest.raises(ValueError, match=re.escape(message)):
        checkpoint.read_metadata(path)


def test_a_checkpoint_without_a_digest_loads_with_a_warning(saved):
    rewrite_header(saved, lambda h: h["__metadata__"].pop("sha256"))
    with pytest.warns(checkpoint.UnverifiedCheckpointWarning,
                      match=re.escape(f"{saved} was written by an lmlib without checkpoint digests: its weights "
                                      "cannot be verified")) as record:
        model, _ = checkpoint.load(saved)
    assert warned_at_caller(record[0])  # the warning points at the caller of load
    assert model.config.vocab_size == 256


def test_a_damaged_history_is_named(saved):
    rewrite_header(saved, set_metadata("history", '{"steps": ["x"]}'))
    with pytest.raises(ValueError, match=re.escape(f"{saved} has a damaged history: history field steps must be a "
                                                   "list of ints")):
        checkpoint.load_history(saved)


def test_bundled_names_what_ships():
    assert checkpoint.bundled().name == "first-taste.lmlib" and checkpoint.bundled().is_file()
    with pytest.raises(ValueError, match=re.escape("no bundled checkpoint 'nope'; lmlib ships [")):
        checkpoint.bundled("nope")
    with pytest.raises(ValueError, match="no bundled checkpoint 3"):
        checkpoint.bundled(3)
