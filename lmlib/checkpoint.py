"""Checkpoints: a model, its tokenizer and its training history in one safetensors file.

Chapter 5 (section 5.2) saves and loads them; chapter 1's first taste loads the one that ships with the
book. The file is a plain safetensors file (weights) whose header metadata holds JSON: the model kind and
config, the tokenizer, the history, the lmlib version and a SHA-256 digest of all of it and the weights.
Loading never unpickles anything.

A damaged or hostile file costs little: before anything is built, ``load`` reads at most
``MAX_HEADER_BYTES`` of header, checks that every tensor it lists lies in the file, and checks those
tensors' names and shapes against the model config (worked out from two small probe models). Only then
does it build the model, so it never allocates more than about twice the file's size plus the header;
after reading the weights it checks the digest.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save as _serialize

from . import __version__
from .models import GPT, RNNLM, GPTConfig, LanguageModel, RNNConfig, build
from .runtime import resolve_device
from .tokenizers import Tokenizer, from_dict as tokenizer_from_dict

__all__ = ["save", "load", "load_history", "read_metadata", "bundled", "FORMAT", "MAX_HEADER_BYTES",
           "UnverifiedCheckpointWarning"]

FORMAT = "lmlib-checkpoint-1"
MAX_HEADER_BYTES = 16 * 2**20  # largest header (config, tokenizer, history) save writes and load reads
DIGEST_KEY = "sha256"  # metadata key of the digest of the other metadata and of every tensor
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}  # tensor types a checkpoint may hold
_LAYER_KEYS = {"gpt": "n_layer", "rnn": "num_layers"}  # the config field that counts repeated layers
_CONFIGS = {"gpt": GPTConfig, "rnn": RNNConfig}
_SCALED = {"vocab_size": 7, "block_size": 11}  # sizes a probe model shrinks (dims scale back linearly)
PROBE_WIDTH = 1024  # probes of configs whose other sizes are all at most this are built for real (small)
_BUNDLED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint written before lmlib recorded digests: its weights load, but cannot be verified."""


def _history_dict(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, dict):
        return history
    raise ValueError(f"history must be a train.History, a dict or None, got {type(history).__name__}")


def _digest(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the metadata (but the digest itself) and of every tensor's name, type, shape and bytes."""
    h = hashlib.sha256()
    for key in sorted(metadata):
        if key != DIGEST_KEY:
            h.update(f"{key}\0{metadata[key]}\0".encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{list(t.shape)}\0".encode("utf-8"))
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def save(
    path: str | os.PathLike,
    model: LanguageModel,
    tokenizer: Tokenizer,
    history: Any = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and config, ``tokenizer`` and ``history`` to ``path``; return the path."""
    if not isinstance(model, (RNNLM, GPT)):
        raise ValueError(f"model must be an lmlib RNNLM or GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, Tokenizer):
        raise ValueError(f"tokenizer must be an lmlib tokenizer, got {type(tokenizer).__name__}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
            f"{model.config.vocab_size}; save the tokenizer the model was trained with"
        )
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"extra must be a dict or None, got {type(extra).__name__}")
    path = _target(path)
    try:
        metadata = {
            "format": FORMAT,
            "lmlib_version": __version__,
            "model_kind": model.kind,
            "model_config": json.dumps(model.config_dict(), allow_nan=False),
            "tokenizer": json.dumps(tokenizer.to_dict(), ensure_ascii=False),
            "history": json.dumps(_history_dict(history)),
            "extra": json.dumps(extra or {}),
        }
    except (TypeError, ValueError) as err:  # e.g. a numpy array in extra
        raise ValueError(f"history and extra must hold only JSON values (str, numbers, lists, dicts): {err}") from None
    # Tied weights (the GPT's head and token embedding) are stored once, under the first name.
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict(keep_vars=False).items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().to("cpu").contiguous()
    metadata[DIGEST_KEY] = _digest(metadata, tensors)
    data = _serialize(tensors, metadata=metadata)
    header_bytes = int.from_bytes(data[:8], "little")
    if header_bytes > MAX_HEADER_BYTES:
        raise ValueError(
            f"the checkpoint's header (config, tokenizer, history, extra) would take {header_bytes:,} bytes, more "
            f"than load reads ({MAX_HEADER_BYTES:,}); save a shorter history (or history=None) or a smaller extra"
        )
    _write_atomically(path, data)
    return path


def _target(path: Any) -> Path:
    """``path`` as a Path to a file that can be written (its folder exists, it is not a folder itself)."""
    path = _as_path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot save a checkpoint to {path}: it is a folder; "
                                              "give a file name such as model.lmlib", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"cannot save a checkpoint to {path}: folder {path.parent} does "
                                              "not exist", str(path))
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it holds either the old file or the whole new one, never a part.

    The bytes go to ``<path>.part`` (one fixed name, so an interrupted save leaves at most one, which the next
    save to the same path replaces), are flushed to disk, then renamed over ``path``.
    """
    tmp = path.with_name(path.name + ".part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OSError(err.errno, f"cannot save a checkpoint to {path}: {err.strerror or err}", str(path)) from err
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some systems cannot open or sync a folder
        pass


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The parsed safetensors header of ``path`` and its length in bytes (at most ``MAX_HEADER_BYTES``)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header_len = int.from_bytes(f.read(8), "little")
            if not 0 < header_len <= min(MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"its header length {header_len} does not fit in the file ({size} bytes) or is "
                                 f"over {MAX_HEADER_BYTES:,} bytes")
            header = json.loads(f.read(header_len))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not an lmlib checkpoint (not a readable safetensors file: {err})") from None
    return header, header_len


def _raw_metadata(path: Path, header: dict[str, Any]) -> dict[str, str]:
    raw = header.get("__metadata__") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"{path} is not an lmlib checkpoint (its metadata is not a map of strings)")
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not an lmlib checkpoint (format {raw.get('format')!r}, expected {FORMAT!r})")
    return raw


def _decoded(path: Path, raw: dict[str, str]) -> dict[str, Any]:
    try:
        meta = {
            "format": raw["format"],
            "lmlib_version": raw["lmlib_version"],
            "model_kind": raw["model_kind"],
            "model_config": json.loads(raw["model_config"]),
            "tokenizer": json.loads(raw["tokenizer"]),
            "history": json.loads(raw.get("history", "null")),
            "extra": json.loads(raw.get("extra", "{}")),
            DIGEST_KEY: raw.get(DIGEST_KEY),
        }
    except (KeyError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path} has damaged lmlib metadata: {err!r}") from None
    if not isinstance(meta["model_config"], dict) or not isinstance(meta["extra"], dict):
        raise ValueError(f"{path} has damaged lmlib metadata: model_config and extra must be JSON objects")
    return meta


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise ValueError(f"path {str(path)!r} is not valid text for a file name") from None
    if "\0" in os.fspath(path):
        raise ValueError(f"path {str(path)!r} must not contain a NUL character")
    return Path(path)


def _checked_path(path: Any) -> Path:
    path = _as_path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"no checkpoint at {path}", str(path))
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded metadata of a checkpoint (model kind and config, tokenizer, history, versions, digest)."""
    path = _checked_path(path)
    header, _ = _read_header(path)
    return _decoded(path, _raw_metadata(path, header))


def _stored_tensors(path: Path, header: dict[str, Any], header_len: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) of every tensor the header lists, after checking they exactly fill the file."""
    def damaged(detail: str) -> ValueError:
        return ValueError(f"{path} is damaged: its weights cannot be read ({detail})")

    data_len = path.stat().st_size - 8 - header_len
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(info, dict) and info.get("dtype") in _DTYPE_BYTES and isinstance(info.get("shape"), list) \
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in info["shape"]) \
            and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2 \
            and all(isinstance(o, int) and not isinstance(o, bool) for o in info["data_offsets"])
        if not ok:
            raise damaged(f"tensor {name!r} has an invalid entry {info!r:.200}; types allowed: {sorted(_DTYPE_BYTES)}")
        start, end = info["data_offsets"]
        if end - start != math.prod(info["shape"]) * _DTYPE_BYTES[info["dtype"]]:
            raise damaged(f"tensor {name!r} of shape {info['shape']} does not take {end - start} bytes")
        entries.append((start, end, name, info["dtype"], tuple(info["shape"])))
    entries.sort()
    position = 0
    for start, end, name, _, _ in entries:
        if start != position:
            raise damaged(f"tensor {name!r} does not start where the previous one ends")
        position = end
    if position != data_len:
        raise damaged(f"its tensors take {position:,} bytes but the file holds {data_len:,}: truncated or padded")
    return {name: (dtype, shape) for _, _, name, dtype, shape in entries}


def _probe(kind: str, config: dict[str, Any], **changes: int) -> dict[str, tuple[tuple[int, ...], int]]:
    """Name -> (shape, id of the tensor) of a small model built from ``config`` with ``changes``."""
    cfg = {**config, **changes}
    wide = any(isinstance(v, int) and v > PROBE_WIDTH for k, v in cfg.items() if k not in changes)
    with torch.random.fork_rng(devices=[]), torch.device("meta" if wide else "cpu"):  # meta: allocates nothing
        model = build(kind, cfg)  # (building initialises weights: the caller's random state is kept)
    return {name: (tuple(t.shape), id(t)) for name, t in model.state_dict(keep_vars=True).items()}


def _expected_tensors(path: Path, kind: str, config: dict[str, Any], n_stored: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor a checkpoint of this config stores, worked out without building it.

    Small probe models (vocab_size, block_size and the number of layers shrunk) give the names and shapes;
    a dimension that grows with vocab_size or block_size is scaled back up, and the tensors of the probe's
    second layer are repeated for every further layer. Tied tensors are counted once, as ``save`` stores them.
    """
    layers_key = _LAYER_KEYS[kind]
    layers = config[layers_key]
    if layers > n_stored:  # each layer has at least one tensor of its own
        raise ValueError(f"{path} does not match its own config: {layers_key}={layers}, but it holds only "
                         f"{n_stored} tensors")
    base = {k: v for k, v in _SCALED.items() if k in config}
    base[layers_key] = min(layers, 2)
    p0 = _probe(kind, config, **base)
    pv = _probe(kind, config, **{**base, "vocab_size": 2 * _SCALED["vocab_size"]})
    pb = _probe(kind, config, **{**base, "block_size": 2 * _SCALED["block_size"]}) if "block_size" in base else p0

    def scaled(name: str) -> tuple[int, ...]:
        dims = []
        for d, v, b in zip(p0[name][0], pv[name][0], pb[name][0]):
            per_vocab, rest_v = divmod(v - d, _SCALED["vocab_size"])
            per_block, rest_b = divmod(b - d, _SCALED["block_size"])
            if rest_v or rest_b:
                raise ValueError(f"cannot work out the shape of {name!r} for this config")
            dims.append(d + per_vocab * (config["vocab_size"] - _SCALED["vocab_size"])
                        + per_block * (config.get("block_size", _SCALED["block_size"]) - _SCALED["block_size"]))
        return tuple(dims)

    stored, seen = [], set()
    for name, (_, ident) in p0.items():
        if ident not in seen:
            seen.add(ident)
            stored.append(name)
    expected = {name: scaled(name) for name in stored}
    if layers > 2:  # repeat the tensors of the second layer (in p0, not in a one-layer probe) for the others
        one = _probe(kind, config, **{**base, layers_key: 1})
        repeated = {}
        for name in expected:
            if name in one:
                continue
            for m in re.finditer("1", name):
                if name[:m.start()] + "0" + name[m.end():] in one:
                    repeated[name] = (name[:m.start()], name[m.end():])
                    break
            else:  # pragma: no cover - every lmlib model numbers its layers
                raise ValueError(f"cannot tell which layer tensor {name!r} belongs to")
        needed = len(expected) + (layers - 2) * len(repeated)
        if needed != n_stored:
            raise ValueError(f"{path} does not match its own config: {layers_key}={layers} needs {needed} "
                             f"tensors, the file holds {n_stored}")
        for name, (head, tail) in repeated.items():
            for i in range(2, layers):
                expected[f"{head}{i}{tail}"] = expected[name]
    return expected


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[LanguageModel, Tokenizer]:
    """Rebuild the model (in eval mode, on ``device``) and tokenizer saved at ``path``."""
    target = resolve_device(device)
    path = _checked_path(path)
    header, header_len = _read_header(path)
    raw = _raw_metadata(path, header)
    meta = _decoded(path, raw)
    try:
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} has a damaged tokenizer: {err}") from None
    kind = meta["model_kind"]
    if not isinstance(kind, str) or kind not in _CONFIGS:
        raise ValueError(f"{path}: model kind must be one of {sorted(_CONFIGS)}, got {kind!r}")
    try:  # the config alone (no model yet): every setting checked, defaults filled in
        config = asdict(_CONFIGS[kind](**meta["model_config"]))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} has an invalid {kind} config: {err}") from None
    if config["vocab_size"] != tokenizer.vocab_size:
        raise ValueError(f"{path}: tokenizer ({tokenizer.vocab_size}) and model ({config['vocab_size']}) "
                         "vocab sizes differ")
    stored = _stored_tensors(path, header, header_len)
    expected = _expected_tensors(path, kind, config, len(stored))
    missing = [k for k in expected if k not in stored]
    unexpected = [k for k in stored if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match its own config: missing weights {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, (_, shape) in stored.items():
        if shape != expected[name]:
            raise ValueError(f"{path}: weight {name} has shape {shape}, the config needs {expected[name]}")
    model = build(kind, config)  # its size is now known to match the file's
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is damaged: its weights cannot be read ({err})") from err
    if raw.get(DIGEST_KEY) is None:
        warnings.warn(f"{path} was written by an lmlib without checkpoint digests: its weights cannot be verified",
                      UnverifiedCheckpointWarning, stacklevel=2)
    elif _digest(raw, tensors) != raw[DIGEST_KEY]:
        raise ValueError(f"{path} is damaged: its contents do not match the SHA-256 digest recorded when it was "
                         "saved (the file changed after saving)")
    model.load_state_dict(tensors, strict=False)
    return model.to(target).eval(), tokenizer


def load_history(path: str | os.PathLike):
    """The ``train.History`` saved with a checkpoint, or None if none was saved."""
    from .train import History

    data = read_metadata(path)["history"]
    if data is None:
        return None
    try:
        return History.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path} has a damaged history: {err}") from None


def bundled(name: str = "first-taste") -> Path:
    """Path of a checkpoint that ships inside lmlib ("first-taste": ``scripts/make_checkpoint.py``; "base":
    ``scripts/make_base_checkpoint.py``)."""
    assets = Path(__file__).resolve().parent / "assets"
    names = sorted(p.stem for p in assets.glob("*.lmlib"))
    if not isinstance(name, str) or not _BUNDLED_NAME.fullmatch(name) or name not in names:
        raise ValueError(f"no bundled checkpoint {name!r}; lmlib ships {names}")
    return assets / f"{name}.lmlib"
