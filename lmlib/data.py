"""Corpora, train/validation splits and batches of token ids.

Chapter 3 (section 3.2, preprocessing and sequence encoding) explains this module; chapter 5 uses it.

The default corpus, ``"python-docs"``, is the text of Python's reference manual (``pydoc_data.topics``) as
CPython 3.11.7 ships it, bundled with lmlib (PSF licence), so the book never needs a network and reads the
same text on every Python: each release ships another edition (458,917 characters in 3.10.13, 510,586 in
3.13.0), which changed the losses and samples the chapters store. Named optional corpora are downloaded once,
checked against a SHA-256 digest, cached, and replaced by the default (with a warning) when offline.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import operator
import os
import re
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

__all__ = [
    "DEFAULT_CORPUS",
    "python_docs_topics",
    "RemoteCorpus",
    "REMOTE_CORPORA",
    "available_corpora",
    "load_corpus",
    "split",
    "as_tensor",
    "get_batch",
    "windows",
    "cache_dir",
    "MAX_BATCH_TOKENS",
]

DEFAULT_CORPUS = "python-docs"
MAX_BATCH_TOKENS = 2**28  # most tokens one batch may hold (its index tensor alone takes 8 bytes a token)


@dataclass(frozen=True)
class RemoteCorpus:
    """A corpus that is downloaded once and verified by its SHA-256 digest."""

    name: str
    url: str
    sha256: str
    size_bytes: int
    description: str

    def __post_init__(self) -> None:
        for field_name in ("name", "url", "description"):
            if not isinstance(getattr(self, field_name), str) or not getattr(self, field_name):
                raise ValueError(f"{field_name} must be a non-empty str, got {getattr(self, field_name)!r}")
        if not self.url.startswith("https://"):
            raise ValueError(f"url must be an https:// address, got {self.url!r}")
        if not isinstance(self.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if isinstance(self.size_bytes, bool) or not isinstance(self.size_bytes, int) or self.size_bytes < 1:
            raise ValueError(f"size_bytes must be a positive int, got {self.size_bytes!r}")


REMOTE_CORPORA: dict[str, RemoteCorpus] = {
    "tiny-shakespeare": RemoteCorpus(
        name="tiny-shakespeare",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size_bytes=1_115_394,
        description="40,000 lines of Shakespeare collected for char-rnn (Karpathy, 2015)",
    ),
}


def available_corpora() -> list[str]:
    """Names ``load_corpus`` accepts besides a file path: the default first, then the downloadable ones."""
    return [DEFAULT_CORPUS, *sorted(REMOTE_CORPORA)]


def cache_dir() -> Path:
    """Folder for downloaded corpora: ``$LMLIB_CACHE`` if set, else ``~/.cache/lmlib``."""
    return Path(os.environ.get("LMLIB_CACHE", Path.home() / ".cache" / "lmlib"))


PYTHON_DOCS_FILE = "python-docs-3.11.7.json.gz"  # pydoc_data.topics of CPython 3.11.7, {topic: text}
PYTHON_DOCS_SHA256 = "37d06970fc926e60c16dff401e441b84752446a36b6b64516c229fdec77e992c"  # of the joined text


def python_docs_topics() -> dict[str, str]:
    """The topics of Python's reference manual (``pydoc_data.topics`` of CPython 3.11.7), by name."""
    import gzip
    import json
    from importlib.resources import files

    with files("lmlib").joinpath("assets", PYTHON_DOCS_FILE).open("rb") as raw:
        topics = json.loads(gzip.decompress(raw.read()).decode("utf-8"))
    text = "".join(topics[key] for key in sorted(topics))
    if _sha256(text.encode("utf-8")) != PYTHON_DOCS_SHA256:
        raise OSError(f"lmlib/assets/{PYTHON_DOCS_FILE} is damaged (its SHA-256 digest differs); reinstall lmlib")
    return topics


def _python_docs() -> str:
    topics = python_docs_topics()
    return "".join(topics[key] for key in sorted(topics))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(corpus: RemoteCorpus, timeout: float) -> bytes:
    with urllib.request.urlopen(corpus.url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
        return response.read()


def _load_remote(corpus: RemoteCorpus, timeout: float) -> str:
    path = cache_dir() / f"{corpus.name}.txt"
    if path.exists():
        data = path.read_bytes()
        if _sha256(data) == corpus.sha256:
            return data.decode("utf-8")
        warnings.warn(f"cached {path} does not match its SHA-256 digest; downloading it again", stacklevel=3)
    try:
        data = _download(corpus, timeout)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        warnings.warn(
            f"could not download corpus {corpus.name!r} ({err}); using the default corpus "
            f"{DEFAULT_CORPUS!r} instead",
            stacklevel=3,
        )
        return _python_docs()
    if _sha256(data) != corpus.sha256:
        warnings.warn(
            f"downloaded corpus {corpus.name!r} has SHA-256 {_sha256(data)}, expected {corpus.sha256}; "
            f"not using it; using the default corpus {DEFAULT_CORPUS!r} instead",
            stacklevel=3,
        )
        return _python_docs()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data.decode("utf-8")


def load_corpus(name: str | os.PathLike = DEFAULT_CORPUS, *, timeout: float = 20.0) -> str:
    """The text of a corpus: ``"python-docs"`` (default, on disk), a downloadable name, or a UTF-8 file path."""
    if isinstance(name, str) and name == DEFAULT_CORPUS:
        return _python_docs()
    if isinstance(name, str) and name in REMOTE_CORPORA:
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf:
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        return _load_remote(REMOTE_CORPORA[name], timeout)
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"corpus must be a name or a file path, got {type(name).__name__}")
    path = Path(name)
    if not path.is_file():
        raise ValueError(
            f"no corpus named {str(name)!r}: it is not one of {available_corpora()} and not an existing file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err}); convert it to UTF-8 first") from err
    if not text:
        raise ValueError(f"{path} is empty; a corpus needs at least one character")
    return text


def split(text: str | Sequence, train_fraction: float = 0.9) -> tuple:
    """Split a text (or id sequence) into its first ``train_fraction`` and the rest, in order."""
    if (isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real)
            or not 0.0 < train_fraction < 1.0):
        raise ValueError(f"train_fraction must be a number strictly between 0 and 1, got {train_fraction!r}")
    if not hasattr(text, "__len__") or not hasattr(text, "__getitem__") or isinstance(text, (dict, set)):
        raise TypeError(f"text must be a str or a sequence of token ids, got {type(text).__name__}")
    if len(text) < 2:
        raise ValueError(f"cannot split a sequence of length {len(text)}; it needs at least 2 items")
    cut = min(max(int(len(text) * train_fraction), 1), len(text) - 1)
    return text[:cut], text[cut:]


def _positive_int(name: str, value: object) -> int:
    """``value`` as an int (numpy integers too) if it is a positive integer, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return operator.index(value)


def as_tensor(ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Token ids as a 1-D ``torch.long`` tensor (a copy is made only when needed)."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"token ids must be 1-D, got a tensor of shape {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
        return ids.long()
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(
            f"token ids must be a sequence of ints or a 1-D integer tensor, got {type(ids).__name__}"
            + ("; encode text with a tokenizer first" if isinstance(ids, str) else "")
        )
    if not isinstance(ids, list) and hasattr(ids, "__array__"):  # numpy arrays convert as they are
        import numpy as np

        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"token ids must be a flat (1-D) sequence of ints, got an array of shape {ids.shape}")
    elif not isinstance(ids, list):
        ids = list(ids)
    if len(ids) == 0:
        return torch.empty(0, dtype=torch.long)
    try:
        tensor = torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise ValueError(f"token ids must be ints between 0 and 2**63 - 1 in a flat sequence: {err}") from None
    if tensor.dim() != 1:
        raise ValueError(f"token ids must be a flat (1-D) sequence of ints, got shape {tuple(tensor.shape)}")
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
        kind = "bool" if tensor.dtype == torch.bool else "float"
        raise ValueError(f"token ids must be ints, got {kind} values (dtype {tensor.dtype}); ids are never rounded")
    return tensor.long()


def get_batch(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of windows ``x`` (B, T) and their next-token targets ``y`` (x shifted by one)."""
    batch_size, seq_len = _positive_int("batch_size", batch_size), _positive_int("seq_len", seq_len)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if batch_size * (seq_len + 1) > MAX_BATCH_TOKENS:
        raise ValueError(f"batch_size * (seq_len + 1) = {batch_size * (seq_len + 1):,} tokens is more than one "
                         f"batch may hold ({MAX_BATCH_TOKENS:,})")
    ids = as_tensor(ids)
    if len(ids) < seq_len + 1:
        raise ValueError(f"need at least seq_len + 1 = {seq_len + 1} tokens for one window, got {len(ids)}")
    starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    offsets = starts.unsqueeze(1) + torch.arange(seq_len + 1)
    window = ids[offsets]
    return window[:, :-1], window[:, 1:]


def windows(ids: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All non-overlapping windows ``x`` (N, T) and targets ``y``, in order (for evaluation)."""
    seq_len = _positive_int("seq_len", seq_len)
    ids = as_tensor(ids)
    if len(ids) < seq_len + 1:
        raise ValueError(f"need at least seq_len + 1 = {seq_len + 1} tokens for one window, got {len(ids)}")
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].view(n, seq_len)
    y = ids[1 : n * seq_len + 1].view(n, seq_len)
    return x, y
