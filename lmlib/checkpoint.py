"""Checkpoints: a model, its tokenizer and its training history in one safetensors file.

Chapter 5 (section 5.2) saves and loads them; chapter 1's first taste loads the one that ships with the
book. The file is a plain safetensors file (weights) whose header metadata holds JSON: the model kind and
config, the tokenizer, the history and the lmlib version. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .models import GPT, RNNLM, LanguageModel, build
from .tokenizers import Tokenizer, from_dict as tokenizer_from_dict

__all__ = ["save", "load", "load_history", "read_metadata", "bundled", "FORMAT"]

FORMAT = "lmlib-checkpoint-1"


def _history_dict(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, dict):
        return history
    raise ValueError(f"history must be a train.History, a dict or None, got {type(history).__name__}")


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
    metadata = {
        "format": FORMAT,
        "lmlib_version": __version__,
        "model_kind": model.kind,
        "model_config": json.dumps(model.config_dict()),
        "tokenizer": json.dumps(tokenizer.to_dict(), ensure_ascii=False),
        "history": json.dumps(_history_dict(history)),
        "extra": json.dumps(extra or {}),
    }
    # Tied weights (the GPT's head and token embedding) are stored once, under the first name.
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict(keep_vars=False).items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().to("cpu").contiguous()
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)  # an ordinary file, readable like any other the user writes
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded metadata of a checkpoint (model kind and config, tokenizer, history, versions)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if not 0 < header_len <= min(100_000_000, path.stat().st_size - 8):
                raise ValueError("bad header length")
            header = json.loads(f.read(header_len))
        raw = header.get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not an lmlib checkpoint (not a readable safetensors file: {err})") from err
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not an lmlib checkpoint (format {raw.get('format')!r}, expected {FORMAT!r})")
    try:
        return {
            "format": raw["format"],
            "lmlib_version": raw["lmlib_version"],
            "model_kind": raw["model_kind"],
            "model_config": json.loads(raw["model_config"]),
            "tokenizer": json.loads(raw["tokenizer"]),
            "history": json.loads(raw.get("history", "null")),
            "extra": json.loads(raw.get("extra", "{}")),
        }
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} has damaged lmlib metadata: {err!r}") from err


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[LanguageModel, Tokenizer]:
    """Rebuild the model (in eval mode, on ``device``) and tokenizer saved at ``path``."""
    meta = read_metadata(path)
    tokenizer = tokenizer_from_dict(meta["tokenizer"])
    model = build(meta["model_kind"], meta["model_config"])
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is damaged: its weights cannot be read ({err})") from err
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors and not _is_tied(model, k, tensors)]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match its own config: missing weights {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(
                f"{path}: weight {name} has shape {tuple(tensor.shape)}, the config needs "
                f"{tuple(expected[name].shape)}"
            )
    model.load_state_dict(tensors, strict=False)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"{path}: tokenizer ({tokenizer.vocab_size}) and model vocab sizes differ")
    return model.to(device).eval(), tokenizer


def load_history(path: str | os.PathLike):
    """The ``train.History`` saved with a checkpoint, or None if none was saved."""
    from .train import History

    data = read_metadata(path)["history"]
    return None if data is None else History.from_dict(data)


def bundled(name: str = "first-taste") -> Path:
    """Path of a checkpoint that ships inside lmlib (made by ``scripts/make_checkpoint.py``)."""
    assets = Path(__file__).resolve().parent / "assets"
    path = assets / f"{name}.lmlib"
    if not path.is_file():
        names = sorted(p.stem for p in assets.glob("*.lmlib"))
        raise ValueError(f"no bundled checkpoint {name!r}; lmlib ships {names}")
    return path


def _is_tied(model: LanguageModel, name: str, tensors: dict[str, torch.Tensor]) -> bool:
    params = dict(model.named_parameters(remove_duplicate=False))
    if name not in params:
        return False
    ptr = params[name].data_ptr()
    return any(other in tensors and p.data_ptr() == ptr for other, p in params.items() if other != name)
