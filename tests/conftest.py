"""Shared fixtures: tiny texts, tokenizers and models that make every test fast and seeded."""

import locale
import os
import sys

import pytest
import torch

from lmlib import models, tokenizers

# The book's browser tests share one built book, one local server and one browser (tests/bookbrowser.py).
from bookbrowser import base_url, browser, html_dir  # noqa: E402,F401

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


def _tqdm_with_a_thread_lock() -> None:
    """Give tqdm's bars a lock of this process only.

    By default tqdm also takes a multiprocessing lock, a semaphore shared with every process forked after it
    was made. A mutation tester forks one process per mutant and kills those that run too long; one killed
    while it held that lock left it held, and every later mutant whose tests drew a progress bar waited for
    it until its timeout (a hang counted as a kill)."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


_tqdm_with_a_thread_lock()

TINY_TEXT = (
    "The quick brown fox jumps over the lazy dog. "
    "A language model predicts the next token from the ones before it.\n"
) * 8


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` where there is no CUDA device, ``slow`` unless LMLIB_SLOW_TESTS=1."""
    no_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    not_slow = pytest.mark.skip(reason="slow (minutes); set LMLIB_SLOW_TESTS=1 to run it")
    for item in items:
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(no_gpu)
        if item.get_closest_marker("slow") and os.environ.get("LMLIB_SLOW_TESTS") != "1":
            item.add_marker(not_slow)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and one thread is not slowed by a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def min_calls(monkeypatch) -> dict:
    """Counts calls of ``torch.Tensor.min`` in ``["n"]`` (how often ids are range-checked)."""
    calls = {"n": 0}
    real = torch.Tensor.min

    def counting_min(self, *args, **kwargs):
        calls["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "min", counting_min)
    return calls


@pytest.fixture
def tiny_text() -> str:
    return TINY_TEXT


@pytest.fixture
def char_tok() -> tokenizers.CharTokenizer:
    return tokenizers.CharTokenizer.fit(TINY_TEXT)


def tiny_gpt(vocab_size: int, block_size: int = 16, seed: int = 0) -> models.GPT:
    torch.manual_seed(seed)
    return models.GPT(models.GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=16))


def tiny_rnn(vocab_size: int, cell: str = "gru", seed: int = 0) -> models.RNNLM:
    torch.manual_seed(seed)
    return models.RNNLM(models.RNNConfig(vocab_size=vocab_size, embedding_dim=8, hidden_dim=16, cell=cell))


def quick(**overrides) -> "train.TrainConfig":
    """A few-step TrainConfig for the tiny models (seeded, no progress bar); ``overrides`` change any field."""
    from lmlib import train

    base = dict(steps=6, batch_size=4, seq_len=8, lr=3e-3, seed=0, eval_interval=3, progress=False)
    return train.TrainConfig(**{**base, **overrides})


def load_repo_file(relative: str, name: str):
    """The repository file ``relative`` (a script outside any package, e.g. ``scripts/compat.py``) imported
    as a module called ``name``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT_DIR, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rewrite_header(path, edit) -> None:
    """Apply ``edit`` to the safetensors header (a dict) of ``path`` and write the file back, tensors unchanged."""
    import json

    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])


def set_metadata(key: str, value: str):
    """A ``rewrite_header`` edit that sets one metadata entry of a checkpoint."""
    def edit(header):
        header["__metadata__"][key] = value
    return edit


@pytest.fixture
def saved(tmp_path):
    """A small checkpoint (a GRU over bytes) saved in the test's folder."""
    from lmlib import checkpoint

    return checkpoint.save(tmp_path / "m.lmlib", tiny_rnn(256), tokenizers.ByteTokenizer())


def warned_at_caller(warning) -> bool:
    """Whether ``warning`` is attributed to the code that called lmlib, not to lmlib or to pytest (its stacklevel
    is right). Under a mutation tester each function may run inside a wrapper, whose frame also passes."""
    import lmlib

    where = os.path.abspath(warning.filename)
    return not where.startswith(os.path.dirname(os.path.abspath(lmlib.__file__))) and "_pytest" not in where \
        and "pluggy" not in where


@pytest.fixture
def ascii_locale():
    """A process whose locale encoding is ASCII (as on a machine set to the C locale): files must stay UTF-8."""
    before = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")
    except locale.Error:  # pragma: no cover - every POSIX system has the C locale
        pytest.skip("the C locale is not available")
    if sys.flags.utf8_mode or locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":
        locale.setlocale(locale.LC_CTYPE, before)
        pytest.skip("this Python always uses UTF-8 (UTF-8 mode or a C locale that is UTF-8)")
    yield
    locale.setlocale(locale.LC_CTYPE, before)
