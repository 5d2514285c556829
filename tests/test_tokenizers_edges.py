"""The tokenizers' edges: exact messages, boundaries of the vocabulary, ids given as tensors and arrays.

Each test here was written against a mutant that the rest of the suite let through
(scripts/mutation_test.py --modules tokenizers).
"""
import re

import numpy as np
import pytest
import torch

from lmlib import tokenizers

BYTE = tokenizers.ByteTokenizer()
BPE = tokenizers.BPETokenizer([(104, 105)])  # "hi" is token 256


@pytest.mark.parametrize("tok", [BYTE, BPE], ids=["byte", "bpe"])
@pytest.mark.parametrize("wrap", [torch.tensor, np.array, lambda ids: torch.tensor(ids).to(torch.int32)],
                         ids=["tensor", "ndarray", "int32 tensor"])
def test_decode_takes_ids_as_a_tensor_or_an_array(tok, wrap):
    ids = tok.encode("hi there")
    assert tok.decode(wrap(ids)) == "hi there"


def test_decode_takes_a_zero_dim_tensor_as_no_sequence():
    with pytest.raises(TypeError, match="^ids must be a sequence of token ids \\(ints\\), got int$"):
        BYTE.decode(torch.tensor(104))


@pytest.mark.parametrize("tok, top, last", [(BYTE, 255, "\ufffd"), (BPE, 256, "hi")], ids=["byte", "bpe"])
def test_decode_refuses_the_first_id_past_the_vocabulary_with_its_position(tok, top, last):
    assert tok.decode([top]) == last  # the last id is fine
    msg = f"token id {top + 1} at position 1 is outside the vocabulary (0..{top})"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        tok.decode([0, top + 1])


@pytest.mark.parametrize("tok, top", [(BYTE, 255), (BPE, 256)], ids=["byte", "bpe"])
@pytest.mark.parametrize("bad", [-1, "top+1"])
def test_token_bytes_message_gives_the_vocabulary_range(tok, top, bad):
    bad = top + 1 if bad == "top+1" else bad
    msg = f"token_id {bad} is outside the vocabulary (0..{top})"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        tok.token_bytes(bad)


@pytest.mark.parametrize("make", [BYTE.encode, tokenizers.CharTokenizer.fit], ids=["encode", "CharTokenizer.fit"])
def test_text_messages_are_exact(make):
    with pytest.raises(TypeError, match="^text must be a str, got bytes$"):
        make(b"abc")
    msg = ("text contains a lone surrogate '\\udc80' (U+DC80) at position 2; "
           "only valid Unicode text (text that can be written as UTF-8) can be tokenized")
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        make("ab\udc80")


@pytest.mark.parametrize("merges, bad", [([(256, 0)], "(256, 0)"), ([(0, 256)], "(0, 256)"),
                                         ([(0, 1), (257, 0)], "(257, 0)"), ([(0, 1), (0, 257)], "(0, 257)")])
def test_bpe_refuses_a_merge_of_the_token_it_would_create(merges, bad):
    rank = len(merges) - 1
    msg = f"merge {rank} {bad} refers to a token that does not exist yet"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        tokenizers.BPETokenizer(merges)


def test_bpe_accepts_a_merge_of_the_last_token_made():
    tok = tokenizers.BPETokenizer([(97, 98), (256, 256), (0, 257)])
    assert tok.vocab_size == 259
    assert tok.token_bytes(258) == b"\x00abab"
