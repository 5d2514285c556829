"""Shared fixtures: tiny texts, tokenizers and models that make every test fast and seeded."""

import pytest
import torch

from lmlib import models, tokenizers

# The book's browser tests share one built book, one local server and one browser (tests/bookbrowser.py).
from bookbrowser import base_url, browser, html_dir  # noqa: E402,F401

TINY_TEXT = (
    "The quick brown fox jumps over the lazy dog. "
    "A language model predicts the next token from the ones before it.\n"
) * 8


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and one thread is not slowed by a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
