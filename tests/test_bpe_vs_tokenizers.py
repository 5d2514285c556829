"""lmlib's BPE against the HuggingFace ``tokenizers`` library, trained the same way (chapter 3, section 3.2).

What holds (and what chapter 3 states):
* with the library's BPE trainer fed bytes in byte order (``alphabet="bytes"``), the merge lists are
  identical, in order, and so are the token ids;
* with GPT-2's byte-level alphabet (``alphabet="gpt2"``), ties break differently, so the order of merges
  differs; the merges are (nearly) the same set and the token counts on held-out text agree.
"""

import pytest

from lmlib import data, hf_bpe, tokenizers

pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def texts():
    text = data.load_corpus()
    return text[:120_000], text[-30_000:]


@pytest.mark.parametrize("vocab_size", [300, 512, 1024])
def test_byte_ordered_alphabet_gives_identical_merges_and_ids(texts, vocab_size):
    train, held_out = texts
    ours = tokenizers.BPETokenizer.fit(train, vocab_size=vocab_size)
    theirs = hf_bpe.train_hf_bpe(train, vocab_size=vocab_size, alphabet="bytes")
    assert theirs.merges() == hf_bpe.lmlib_merges(ours)
    assert theirs.encode(held_out) == ours.encode(held_out)


@pytest.mark.parametrize("vocab_size", [512, 1024])
def test_gpt2_alphabet_gives_the_same_merges_up_to_ties(texts, vocab_size):
    train, held_out = texts
    ours = tokenizers.BPETokenizer.fit(train, vocab_size=vocab_size)
    theirs = hf_bpe.train_hf_bpe(train, vocab_size=vocab_size, alphabet="gpt2")
    cmp = hf_bpe.compare_merges(hf_bpe.lmlib_merges(ours), theirs.merges())
    assert cmp.n_lmlib == cmp.n_hf == vocab_size - 256
    assert cmp.common >= 0.99 * cmp.n_lmlib
    n_ours, n_theirs = len(ours.encode(held_out)), len(theirs.encode(held_out))
    assert abs(n_ours - n_theirs) <= 0.001 * n_ours
    assert b"".join(theirs.pieces(held_out)) == held_out.encode("utf-8")


def test_ties_are_the_only_difference_on_a_small_example():
    # chunks "aa", " aa", " b", " b": (" ", "b") and ("a", "a") both occur twice. lmlib breaks the tie by
    # byte value: the space (32) comes first. GPT-2's alphabet spells the space as "Ġ" (U+0120), which
    # sorts after "a", so the library merges ("a", "a") first. The byte-ordered alphabet agrees with lmlib.
    text = "aa aa b b"
    ours = hf_bpe.lmlib_merges(tokenizers.BPETokenizer.fit(text, vocab_size=257))
    gpt2 = hf_bpe.train_hf_bpe(text, vocab_size=257, alphabet="gpt2").merges()
    byte_order = hf_bpe.train_hf_bpe(text, vocab_size=257, alphabet="bytes").merges()
    assert ours == byte_order == [(b" ", b"b")]
    assert gpt2 == [(b"a", b"a")]


def test_gpt2_alphabet_is_a_permutation_of_bytes():
    table = hf_bpe.gpt2_bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "\u0120"
    from tokenizers import pre_tokenizers

    assert set(table.values()) == set(pre_tokenizers.ByteLevel.alphabet())


def test_compare_merges_reports_the_first_difference():
    a = [(b"a", b"b"), (b"c", b"d")]
    assert hf_bpe.compare_merges(a, a).same_order
    swapped = hf_bpe.compare_merges(a, a[::-1])
    assert swapped.same_set and not swapped.same_order and swapped.first_difference == 0
    shorter = hf_bpe.compare_merges(a, a[:1])
    assert shorter.first_difference == 1 and not shorter.same_set


def test_unknown_alphabet_is_rejected():
    with pytest.raises(ValueError, match="alphabet must be one of"):
        hf_bpe.train_hf_bpe("abc abc", alphabet="latin1")
