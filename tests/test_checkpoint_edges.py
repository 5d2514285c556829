"""Checkpoint behaviour at the edges: the exact errors a user sees, boundaries of the file format, where models
and probes are built, file permissions. Written for what mutation testing of ``checkpoint`` found untested
(scripts/mutation_test.py); tests/test_checkpoint.py has the round trips and the damaged files."""
import ast
import errno
import json
import os
import re
import stat

import pytest
import torch
from safetensors import SafetensorError

from conftest import rewrite_header, set_metadata, tiny_gpt, tiny_rnn
from lmlib import checkpoint, models, tokenizers


def _header(path):
    raw = path.read_bytes()
    return json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])


def _tensor_names(header):
    """The header's tensor names, in the order their bytes lie in the file."""
    return sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


# --- paths: the OSError's errno and file name, and a message that says what to do -------------------------------

def test_a_missing_checkpoint_is_a_file_not_found_error_naming_it(tmp_path):
    path = tmp_path / "none.lmlib"
    for read in (checkpoint.load, checkpoint.read_metadata, checkpoint.load_history):
        with pytest.raises(FileNotFoundError) as info:
            read(path)
        assert info.value.errno == errno.ENOENT
        assert info.value.filename == str(path)
        assert info.value.strerror == f"no checkpoint at {path}"


def test_saving_onto_a_folder_or_into_a_missing_one_says_which_and_what_to_do(tmp_path):
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    with pytest.raises(IsADirectoryError) as info:
        checkpoint.save(tmp_path, model, tok)
    assert (info.value.errno, info.value.filename) == (errno.EISDIR, str(tmp_path))
    assert info.value.strerror == (f"cannot save a checkpoint to {tmp_path}: it is a folder; give a file name such as "
                                   "model.lmlib")
    target = tmp_path / "no" / "m.lmlib"
    with pytest.raises(FileNotFoundError) as info:
        checkpoint.save(target, model, tok)
    assert (info.value.errno, info.value.filename) == (errno.ENOENT, str(target))
    assert info.value.strerror == f"cannot save a checkpoint to {target}: folder {tmp_path / 'no'} does not exist"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [
    ("a\0b", "must not contain a NUL character"),
    ("a\ud800", "is not valid text for a file name"),
])
def test_a_path_that_cannot_name_a_file_is_quoted_in_the_error(tmp_path, name, message):
    path = str(tmp_path / name)
    for call in (lambda: checkpoint.save(path, tiny_rnn(256), tokenizers.ByteTokenizer()),
                 lambda: checkpoint.load(path)):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == f"path {path!r} {message}"


# --- the header: its length, its shape, its metadata ------------------------------------------------------------

@pytest.mark.parametrize("content, detail", [
    # the length claims a little more than the file holds, and what is there parses: still refused for the length
    ((5).to_bytes(8, "little") + b"{}", "its header length 5 does not fit in the file (10 bytes) or is over "
                                        "16,777,216 bytes"),
    ((2).to_bytes(8, "little") + b"[]", "its header is not a JSON object"),
    ((1).to_bytes(8, "little") + b"7", "its header is not a JSON object"),  # one byte is read, then refused
])
def test_a_header_is_refused_for_what_is_wrong_with_it(tmp_path, content, detail):
    path = tmp_path / "x.lmlib"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        checkpoint.read_metadata(path)
    assert str(info.value) == f"{path} is not an lmlib checkpoint (not a readable safetensors file: {detail})"


def test_a_header_of_exactly_the_largest_size_load_reads_is_saved_and_loaded(tmp_path):
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    probe = checkpoint.save(tmp_path / "probe.lmlib", model, tok, extra={"x": ""})
    length = int.from_bytes(probe.read_bytes()[:8], "little")
    # one more character of extra is one more byte of header; safetensors pads the header to a multiple of 8,
    # and MAX_HEADER_BYTES is one, so this header fills it exactly
    path = checkpoint.save(tmp_path / "m.lmlib", model, tok, extra={"x": "a" * (checkpoint.MAX_HEADER_BYTES - length)})
    assert int.from_bytes(path.read_bytes()[:8], "little") == checkpoint.MAX_HEADER_BYTES
    loaded, _ = checkpoint.load(path)
    assert loaded.config == model.config
    assert len(checkpoint.read_metadata(path)["extra"]["x"]) == checkpoint.MAX_HEADER_BYTES - length


def test_a_checkpoint_without_history_or_extra_reads_as_none_and_empty(saved):
    def drop(header):
        for key in ("history", "extra", "sha256"):  # (without its digest: the metadata changed)
            del header["__metadata__"][key]
    rewrite_header(saved, drop)
    meta = checkpoint.read_metadata(saved)
    assert meta["history"] is None and meta["extra"] == {} and meta["sha256"] is None
    assert checkpoint.load_history(saved) is None
    with pytest.warns(checkpoint.UnverifiedCheckpointWarning):
        model, _ = checkpoint.load(saved)
    assert model.config.vocab_size == 256


def test_the_tokenizer_is_stored_as_readable_utf8(tmp_path):
    tok = tokenizers.CharTokenizer.fit("这是一个")
    path = checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(tok.vocab_size), tok)
    raw = path.read_bytes()
    header = raw[8:8 + int.from_bytes(raw[:8], "little")]
    assert all(ch.encode("utf-8") in header for ch in "这是一个")  # not as \\u escapes, 3 bytes each instead of 6
    assert b"\\u" not in header
    assert checkpoint.load(path)[1].encode("这是一个") == tok.encode("这是一个")


# --- the tensor table ----------------------------------------------------------------------------------------------

def test_offsets_that_are_not_integers_are_an_invalid_entry(saved):
    def floats(header):
        name = _tensor_names(header)[0]
        header[name]["data_offsets"] = [float(o) for o in header[name]["data_offsets"]]
    rewrite_header(saved, floats)
    with pytest.raises(ValueError, match=re.escape("has an invalid entry")):
        checkpoint.load(saved)


def test_a_tensor_of_the_wrong_length_is_named_with_its_length(saved):
    name = _tensor_names(_header(saved))[1]  # not the first: its start is not 0
    info = _header(saved)[name]
    start, end = info["data_offsets"]
    rewrite_header(saved, lambda h: h[name].update(data_offsets=[start, end - 4]))
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert str(err.value) == (f"{saved} is damaged: its weights cannot be read (tensor {name!r} of shape "
                              f"{info['shape']} does not take {end - 4 - start} bytes)")


def test_missing_and_unexpected_weights_are_listed_five_at_most(tmp_path):
    path = checkpoint.save(tmp_path / "m.lmlib", tiny_gpt(256), tokenizers.ByteTokenizer())

    def rename_all(header):
        for name in _tensor_names(header):
            header["x" + name] = header.pop(name)
    rewrite_header(path, rename_all)
    with pytest.raises(ValueError) as err:
        checkpoint.load(path)
    message = str(err.value)
    assert message.startswith(f"{path} does not match its own config: missing weights [")
    missing, unexpected = (ast.literal_eval(m) for m in re.findall(r"\[[^\]]*\]", message))
    assert len(missing) == len(unexpected) == 5
    assert all(name.startswith("x") for name in unexpected) and not any(name.startswith("x") for name in missing)


def test_as_many_layers_as_tensors_is_checked_against_what_those_layers_need(saved):
    n_stored = len(_tensor_names(_header(saved)))  # the cheap check lets this many layers through, the count not
    rewrite_header(saved, set_metadata("model_config", json.dumps({"vocab_size": 256, "embedding_dim": 8, "hidden_dim": 16,
                                                            "cell": "gru", "num_layers": n_stored})))
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert re.fullmatch(re.escape(f"{saved} does not match its own config: num_layers={n_stored} needs ") + r"\d+ "
                        + re.escape(f"tensors, the file holds {n_stored}"), str(err.value))


def test_a_size_that_does_not_grow_linearly_cannot_be_worked_out(saved, monkeypatch):
    real = checkpoint._probe

    def odd(kind, config, **changes):  # a model whose embedding grew by one row more than the vocabulary
        shapes = real(kind, config, **changes)
        if changes.get("vocab_size") == 14:
            shape, ident = shapes["embedding.weight"]
            shapes["embedding.weight"] = ((shape[0] + 1, *shape[1:]), ident)
        return shapes
    monkeypatch.setattr(checkpoint, "_probe", odd)
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert str(err.value) == "cannot work out the shape of 'embedding.weight' for this config"


def test_vocabulary_sizes_that_differ_are_named_exactly(saved):
    rewrite_header(saved, set_metadata("model_config", '{"vocab_size": 300, "embedding_dim": 8, "hidden_dim": 16, '
                                                '"cell": "gru"}'))
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert str(err.value) == f"{saved}: tokenizer (256) and model (300) vocab sizes differ"


# --- reading the weights -------------------------------------------------------------------------------------------

def test_weights_that_changed_after_saving_fail_the_digest_with_the_whole_reason(saved):
    raw = bytearray(saved.read_bytes())
    raw[-1] ^= 0x01
    saved.write_bytes(bytes(raw))
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert str(err.value) == (f"{saved} is damaged: its contents do not match the SHA-256 digest recorded when it "
                              "was saved (the file changed after saving)")


def test_weights_safetensors_cannot_read_are_reported_as_damage(saved, monkeypatch):
    def unreadable(*args, **kwargs):
        raise SafetensorError("invalid data")
    monkeypatch.setattr(checkpoint, "load_file", unreadable)
    with pytest.raises(ValueError) as err:
        checkpoint.load(saved)
    assert str(err.value) == f"{saved} is damaged: its weights cannot be read (invalid data)"
    assert isinstance(err.value.__cause__, SafetensorError)


def test_load_puts_the_model_on_the_device_asked_for(saved):
    model, _ = checkpoint.load(saved, device="meta")  # the meta device stands in for a GPU
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert not model.training


# --- where the probe models are built ------------------------------------------------------------------------------

@pytest.mark.parametrize("hidden, probe_device", [
    (checkpoint.PROBE_WIDTH, "cpu"),  # at most PROBE_WIDTH: built for real, where a GPT builds faster
    (checkpoint.PROBE_WIDTH + 76, "meta"),  # wider: built on the meta device, which allocates nothing
])
def test_probes_of_a_wide_config_allocate_nothing(tmp_path, monkeypatch, hidden, probe_device):
    torch.manual_seed(0)
    model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=4, hidden_dim=hidden, cell="rnn"))
    path = checkpoint.save(tmp_path / "m.lmlib", model, tokenizers.ByteTokenizer())
    built, real = [], checkpoint.build

    def spy(kind, config):
        out = real(kind, config)
        built.append((config["vocab_size"], next(out.parameters()).device.type))
        return out
    monkeypatch.setattr(checkpoint, "build", spy)
    loaded, _ = checkpoint.load(path)
    probes, final = built[:-1], built[-1]
    assert probes and all(vocab < 256 and device == probe_device for vocab, device in probes)
    assert final == (256, "cpu")
    assert torch.equal(loaded.head.weight, model.head.weight)


def test_loading_draws_random_numbers_only_to_build_the_model(saved):
    """The probes do not touch the caller's random stream: a seeded notebook samples the same text after a load."""
    config = checkpoint.read_metadata(saved)["model_config"]
    torch.manual_seed(5)
    checkpoint.load(saved)
    after_load = torch.get_rng_state()
    torch.manual_seed(5)
    models.build("rnn", config)
    assert torch.equal(after_load, torch.get_rng_state())


# --- writing the file ----------------------------------------------------------------------------------------------

def test_a_checkpoint_file_gets_the_usual_permissions_of_a_new_file(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(256), tokenizers.ByteTokenizer())
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # readable and writable, never executable


def test_a_full_disk_names_the_file_and_the_reason_once(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint.os, "write", full)
    path = tmp_path / "m.lmlib"
    with pytest.raises(OSError) as err:
        checkpoint.save(path, tiny_rnn(256), tokenizers.ByteTokenizer())
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(path))
    assert err.value.strerror == f"cannot save a checkpoint to {path}: No space left on device"
    assert list(tmp_path.iterdir()) == []
