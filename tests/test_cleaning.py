"""lmlib.cleaning: exact and near-duplicate removal, and quality filters."""

import pytest

from lmlib import cleaning


def test_dedup_lines_keeps_first_occurrences_and_blank_lines():
    text = "a\nb\n\na\n\nc\nb\nB \n"
    out, stats = cleaning.dedup_lines(text)
    assert out == "a\nb\n\n\nc\nB \n"
    assert (stats.units, stats.removed) == (8, 2)
    assert stats.chars_before == len(text) and stats.chars_after == len(out)
    assert stats.removed_fraction == pytest.approx(1 - len(out) / len(text))
    assert stats.most_repeated == [("a", 2), ("b", 2)]


def test_dedup_lines_normalised_and_min_chars():
    out, stats = cleaning.dedup_lines("Ab\nab \nx\nx\n", normalise=True, min_chars=2)
    assert out == "Ab\nx\nx\n" and stats.removed == 1


def test_dedup_lines_errors():
    with pytest.raises(TypeError, match="text must be a str"):
        cleaning.dedup_lines(b"x")
    with pytest.raises(ValueError, match="min_chars must be a positive int"):
        cleaning.dedup_lines("x", min_chars=0)


def test_paragraphs_and_their_dedup():
    text = "one\ntwo\n\n  \nthree\n\none\ntwo\n\n\nfour"
    assert cleaning.paragraphs(text) == ["one\ntwo", "three", "one\ntwo", "four"]
    kept, stats = cleaning.dedup_paragraphs(text)
    assert kept == ["one\ntwo", "three", "four"] and stats.removed == 1


def test_shingles_and_jaccard():
    assert cleaning.shingles("abcd", 2) == {"ab", "bc", "cd"}
    assert cleaning.shingles("a   b", 3) == {"a b"}
    assert cleaning.jaccard("abcd", "abce", 2) == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="n must be a positive int"):
        cleaning.shingles("x", 0)


def test_minhash_estimates_jaccard():
    a = "the quick brown fox jumps over the lazy dog " * 3
    b = a.replace("lazy", "sleepy")
    sig = cleaning.minhash_signatures([a, b], num_perm=256)
    estimate = (sig[0] == sig[1]).mean()
    assert estimate == pytest.approx(cleaning.jaccard(a, b), abs=0.1)
    assert (sig == cleaning.minhash_signatures([a, b], num_perm=256)).all()


def test_near_duplicates_finds_the_near_pair_only():
    base = "Return a new list containing all items from the iterable in ascending order."
    docs = [base, base.replace("new", "fresh"), "Completely different text about the weather and trains.", base]
    found = cleaning.near_duplicates(docs, threshold=0.7)
    assert [(i, j) for i, j, _ in found] == [(0, 1), (1, 3)]  # (0, 3) is an exact duplicate, not a near one
    assert all(0.7 <= s < 1.0 for _, _, s in found)


def test_near_duplicates_errors():
    with pytest.raises(ValueError, match="threshold must be in"):
        cleaning.near_duplicates(["a"], threshold=0)
    with pytest.raises(ValueError, match="bands must be a positive int dividing"):
        cleaning.near_duplicates(["a"], bands=5)


def test_filters_report_what_they_remove():
    paras = ["Too short.", "x = [1, 2, 3]; y = {k: v for k, v in z}", "This paragraph has plenty of ordinary words in it.",
             "### ### ### heading marks #### ### and more words here"]
    kept, counts = cleaning.apply_filters(paras)
    assert kept == [paras[2]]
    assert counts["fewer than 5 words"] == 1 and sum(counts.values()) == 3
