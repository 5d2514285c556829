import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmlib import data, tokenizers

TEXT = "low lower lowest newer newest wider 这是一个 low low\n\n  indented"


@given(st.text())
def test_byte_round_trip_any_unicode(s):
    tok = tokenizers.ByteTokenizer()
    assert tok.decode(tok.encode(s)) == s


@pytest.fixture(scope="module")
def bpe():
    return tokenizers.BPETokenizer.fit(data.load_corpus()[:50_000], vocab_size=300)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bpe_round_trip_any_unicode(bpe, s):
    assert bpe.decode(bpe.encode(s)) == s


def test_bpe_learns_frequent_pairs_in_order():
    tok = tokenizers.BPETokenizer.fit("aaab aaab aaab", vocab_size=258)
    # chunks: "aaab" x1, " aaab" x2; the most frequent pair is (a, a), 6 times; then (a, b) and (aa, a)
    # tie at 3 and the smaller pair of ids, (97, 98), wins
    assert tok.merges == [(97, 97), (97, 98)]
    assert [tok.token_bytes(i) for i in (256, 257)] == [b"aa", b"ab"]
    assert tok.encode("aaab") == [256, 257]
    assert tok.encode(" aaab") == [32, 256, 257]


def test_bpe_training_is_deterministic_and_compresses():
    text = data.load_corpus()[:100_000]
    a = tokenizers.BPETokenizer.fit(text, vocab_size=400)
    b = tokenizers.BPETokenizer.fit(text, vocab_size=400)
    assert a.merges == b.merges
    assert a.vocab_size == 400
    assert len(a.encode(text)) < 0.6 * len(text.encode("utf-8"))


def test_bpe_stops_when_no_pair_repeats():
    tok = tokenizers.BPETokenizer.fit("abcd", vocab_size=1000)
    assert tok.vocab_size == 256


def test_bpe_rejects_small_vocab():
    with pytest.raises(ValueError, match="at least 256"):
        tokenizers.BPETokenizer.fit("abc", vocab_size=100)


def test_char_tokenizer_round_trip_and_sorted_vocab():
    tok = tokenizers.CharTokenizer.fit(TEXT)
    assert tok.chars == sorted(set(TEXT))
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.encode("low") == [tok.chars.index(c) for c in "low"]


def test_char_tokenizer_unseen_character_names_it_and_its_position():
    tok = tokenizers.CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) at position 2 is not in the vocabulary"):
        tok.encode("abz")


def test_char_tokenizer_with_unk():
    tok = tokenizers.CharTokenizer.fit("abc", unk=True)
    assert tok.vocab_size == 4
    ids = tok.encode("azb")
    assert ids == [0, 3, 1]
    assert tok.decode(ids) == "a<unk>b"


def test_word_tokenizer_round_trip_and_unknown_word():
    tok = tokenizers.WordTokenizer.fit(TEXT)
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.words[0] == " "  # most frequent token first
    with pytest.raises(ValueError, match=r"word 'highest' at position 4 is not in the vocabulary"):
        tok.encode("low highest")
    unk = tokenizers.WordTokenizer.fit(TEXT, unk=True)
    assert unk.decode(unk.encode("low highest")) == "low <unk>"


def test_word_tokenizer_max_vocab():
    tok = tokenizers.WordTokenizer.fit(TEXT, max_vocab=3, unk=True)
    assert tok.vocab_size == 4


@pytest.mark.parametrize(
    "make",
    [
        lambda: tokenizers.CharTokenizer.fit(TEXT, unk=True),
        lambda: tokenizers.ByteTokenizer(),
        lambda: tokenizers.WordTokenizer.fit(TEXT),
        lambda: tokenizers.BPETokenizer.fit(TEXT, vocab_size=270),
    ],
    ids=["char", "byte", "word", "bpe"],
)
def test_save_and_load_round_trip(tmp_path, make):
    tok = make()
    path = tmp_path / "tok.json"
    tok.save(path)
    again = tokenizers.load(path)
    assert type(again) is type(tok)
    assert again.vocab_size == tok.vocab_size
    assert again.encode(TEXT) == tok.encode(TEXT)
    assert again.decode(again.encode(TEXT)) == TEXT


def test_load_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"kind": "sentencepiece"}')
    with pytest.raises(ValueError, match="kind is 'sentencepiece', expected one of"):
        tokenizers.load(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        tokenizers.load(path)


def test_decode_rejects_ids_outside_vocab():
    tok = tokenizers.ByteTokenizer()
    with pytest.raises(ValueError, match=r"token id 300 at position 1 is outside the vocabulary \(0..255\)"):
        tok.decode([65, 300])


def test_encode_rejects_non_strings():
    with pytest.raises(TypeError, match="text must be a str"):
        tokenizers.ByteTokenizer().encode(b"bytes")


def test_chinese_prompt_needs_bytes_not_english_chars():
    english = tokenizers.CharTokenizer.fit(data.load_corpus())
    assert "这" not in english.chars
    with pytest.raises(ValueError, match="'这'"):
        english.encode("这是一个")
    assert tokenizers.ByteTokenizer().encode("这是一个") == list("这是一个".encode("utf-8"))


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py): each test pins one promise of the module that a planted bug broke unnoticed.


def test_save_writes_readable_utf8_json_whatever_the_locale(tmp_path, ascii_locale):
    tok = tokenizers.CharTokenizer.fit("ab 这是", unk=True)
    path = tmp_path / "tok.json"
    tok.save(path)
    assert path.read_bytes() == '{"kind": "char", "version": 1, "chars": [" ", "a", "b", "是", "这"], "unk": true}'.encode()
    again = tokenizers.load(path)  # read back as UTF-8 too
    assert again.chars == tok.chars and again.unk


def test_repr_names_the_class_and_its_size():
    assert repr(tokenizers.ByteTokenizer()) == "ByteTokenizer(vocab_size=256)"
    assert repr(tokenizers.CharTokenizer.fit("ba", unk=True)) == "CharTokenizer(vocab_size=3)"


def test_token_bytes_of_characters_words_and_unk():
    char = tokenizers.CharTokenizer.fit("a这", unk=True)
    assert [char.token_bytes(i) for i in range(3)] == [b"a", "这".encode(), b"<unk>"]
    word = tokenizers.WordTokenizer.fit("这是 a 这是", unk=True)
    assert [word.token_bytes(i) for i in range(word.vocab_size)] == [" ".encode(), "这是".encode(), b"a", b"<unk>"]
    assert tokenizers.CharTokenizer.fit("ab").unk_id is None and tokenizers.WordTokenizer(["a"]).unk_id is None


def test_to_dict_is_the_documented_file_format():
    assert tokenizers.ByteTokenizer().to_dict() == {"kind": "byte", "version": 1}
    assert tokenizers.CharTokenizer(["a", "b"]).to_dict() == {"kind": "char", "version": 1, "chars": ["a", "b"],
                                                               "unk": False}
    assert tokenizers.WordTokenizer(["a", " "], unk=True).to_dict() == {"kind": "word", "version": 1,
                                                                        "words": ["a", " "], "unk": True}
    assert tokenizers.BPETokenizer([(97, 98)], pattern=r"\w+").to_dict() == {
        "kind": "bpe", "version": 1, "pattern": r"\w+", "merges": [[97, 98]]}


def test_from_dict_reads_the_file_format_with_its_defaults():
    word = tokenizers.from_dict({"kind": "word", "words": ["a", "b"], "unk": True})  # version 1 by default
    assert word.words == ["a", "b"] and word.unk and word.vocab_size == 3
    assert tokenizers.from_dict({"kind": "word", "version": 1, "words": ["a"]}).unk is False
    assert tokenizers.from_dict({"kind": "char", "chars": ["a"]}).unk is False
    assert tokenizers.from_dict({"kind": "char", "chars": ["a"], "unk": True}).vocab_size == 2
    bpe = tokenizers.from_dict({"kind": "bpe", "merges": [[97, 98]]})
    assert bpe.pattern == tokenizers.PRETOKENIZE_PATTERN and bpe.encode("ab") == [256]
    assert tokenizers.from_dict({"kind": "bpe", "merges": [], "pattern": "a"}).pattern == "a"
    assert isinstance(tokenizers.from_dict({"kind": "byte", "version": 0}), tokenizers.ByteTokenizer)


@pytest.mark.parametrize("spec, message", [
    (["kind", "byte"], "not a tokenizer description: kind is None, expected one of ['bpe', 'byte', 'char', 'word']"),
    ({"kind": 3}, "not a tokenizer description: kind is 3, expected one of"),
    ({"kind": "byte", "version": 2}, "tokenizer format version 2 is newer than this lmlib understands"),
    ({"kind": "byte", "version": "1"}, "damaged byte tokenizer description: version is '1', expected an int"),
    ({"kind": "byte", "version": True}, "damaged byte tokenizer description: version is True, expected an int"),
    ({"kind": "char"}, "damaged char tokenizer description: KeyError('chars')"),
    ({"kind": "word", "words": 3}, "damaged word tokenizer description: TypeError('words must be a sequence of "
                                   "strings, got int')"),
    ({"kind": "bpe", "merges": [[1, 2]], "pattern": 5}, "damaged bpe tokenizer description: TypeError('pattern must"),
])
def test_from_dict_refuses_damaged_descriptions(spec, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        tokenizers.from_dict(spec)


def test_load_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a tokenizer file (not UTF-8 JSON: "
                                                   "UnicodeDecodeError)")):
        tokenizers.load(path)


@pytest.mark.parametrize("make, message", [
    (lambda: tokenizers.CharTokenizer.fit(""), "cannot fit a tokenizer on empty text"),
    (lambda: tokenizers.WordTokenizer.fit(""), "cannot fit a tokenizer on empty text"),
    (lambda: tokenizers.WordTokenizer.fit("a", max_vocab=0), "max_vocab must be an int >= 1 or None, got 0"),
    (lambda: tokenizers.WordTokenizer.fit("a", max_vocab=True), "max_vocab must be an int >= 1 or None, got True"),
    (lambda: tokenizers.WordTokenizer.fit("a", max_vocab=1.0), "max_vocab must be an int >= 1 or None, got 1.0"),
    (lambda: tokenizers.WordTokenizer(["a", "a"]), "words must not repeat"),
    (lambda: tokenizers.CharTokenizer(["a", "ab"]), "chars must be single characters; item 1 is 'ab'"),
    (lambda: tokenizers.WordTokenizer(["a", ""]), "words must be non-empty strings; item 1 is ''"),
    (lambda: tokenizers.WordTokenizer(["a", "\ud800"]), "words must be valid Unicode text; item 1 ('\\ud800') holds a "
                                                         "lone surrogate"),
    (lambda: tokenizers.BPETokenizer.fit("ab", vocab_size=255), "vocab_size must be an int, at least 256 (the byte "
                                                                 "alphabet), got 255"),
    (lambda: tokenizers.BPETokenizer([(1, 2, 3)]), "merges must be pairs of token ids (ints); merge 0 is (1, 2, 3)"),
    (lambda: tokenizers.BPETokenizer([(1, 2), (256, 258)]), "merge 1 (256, 258) refers to a token that does not "
                                                             "exist yet"),
    (lambda: tokenizers.BPETokenizer([], pattern="("), "pattern '(' is not a valid regular expression"),
])
def test_constructors_name_what_is_wrong(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: tokenizers.CharTokenizer(b"ab"), "chars must be a sequence of strings, got bytes"),
    (lambda: tokenizers.CharTokenizer("ab", unk=1), "unk must be True or False, got 1"),
    (lambda: tokenizers.WordTokenizer(["a"], unk=None), "unk must be True or False, got None"),
    (lambda: tokenizers.BPETokenizer("ab"), "merges must be a sequence of (int, int) pairs, got str"),
    (lambda: tokenizers.BPETokenizer([], pattern=None), "pattern must be a regular expression (str), got NoneType"),
    (lambda: tokenizers.ByteTokenizer().decode("ab"), "ids must be a sequence of token ids (ints), got str"),
    (lambda: tokenizers.ByteTokenizer().token_bytes("a"), "token_id must be an int, got str"),
])
def test_wrong_types_are_named(make, message):
    with pytest.raises(TypeError, match="^" + re.escape(message)):
        make()


def test_word_fit_keeps_the_most_frequent_words_ties_alphabetical():
    tok = tokenizers.WordTokenizer.fit("b a b c a b", max_vocab=2)
    assert tok.words == [" ", "b"]  # " " 5 times, "b" 3, "a" 2
    assert tokenizers.WordTokenizer.fit("b a", max_vocab=1).words == [" "]
    assert tokenizers.WordTokenizer.fit("b a").words == [" ", "a", "b"]


def test_unknown_word_message_says_how_to_allow_it():
    with pytest.raises(ValueError, match=re.escape("word 'z' at position 2 is not in the vocabulary of 3 words; use "
                                                   "WordTokenizer.fit(text, unk=True) to map unseen words to <unk>")):
        tokenizers.WordTokenizer.fit("a b").encode("a z")


def test_unknown_character_message_says_how_to_allow_it():
    with pytest.raises(ValueError, match=re.escape("is not in the vocabulary of 2 characters; fit on text that "
                                                   "contains it, or use CharTokenizer.fit(text, unk=True) to map "
                                                   "unseen characters to <unk>")):
        tokenizers.CharTokenizer.fit("ab").encode("abc")


def test_decode_names_a_non_integer_id_and_its_position():
    with pytest.raises(ValueError, match=re.escape("token id at position 1 is 1.5; ids must be ints")):
        tokenizers.ByteTokenizer().decode([65, 1.5])
    with pytest.raises(ValueError, match=re.escape("token id at position 0 is True; ids must be ints")):
        tokenizers.ByteTokenizer().decode([True])
    assert tokenizers.ByteTokenizer().decode([]) == ""
    assert tokenizers.CharTokenizer.fit("ab", unk=True).decode([2, 0]) == "<unk>a"


def test_bpe_encodes_text_its_pattern_skips():
    tok = tokenizers.BPETokenizer([(97, 98)], pattern="b")  # the pattern matches only "b"
    assert tok.encode("abab") == [97, 98, 97, 98]  # "a" skipped before each match, encoded on its own
    assert tok.encode("xab") == [120, 97, 98]
    tok = tokenizers.BPETokenizer([(97, 98)], pattern="a")
    assert tok.encode("abx") == [97, 98, 120]  # text after the last match


def test_bpe_merges_by_rank_not_by_position():
    tok = tokenizers.BPETokenizer([(98, 99), (97, 98)], pattern=r".+")
    assert tok.encode("abc") == [97, 256]  # (b, c) has the better rank, although (a, b) comes first
    assert tok.encode("abab") == [257, 257]
    assert tok.encode("aab") == [97, 257]  # both merges apply once each


def _naive_bpe_merges(text, vocab_size, pattern=tokenizers.PRETOKENIZE_PATTERN):
    """The merges BPE training must learn, recounting every pair from scratch after each merge (slow, obvious)."""
    words = [list(chunk.encode("utf-8")) for chunk in re.findall(pattern, text)]
    merges = []
    for new_id in range(256, vocab_size):
        counts = {}
        for w in words:
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        if counts[pair] < 2:
            break
        merges.append(pair)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == pair:
                    w[i:i + 2] = [new_id]
                i += 1
    return merges


@pytest.mark.parametrize("text, vocab_size", [
    ("aaaa aaaa aaab abab abab", 270),
    ("the cat sat on the mat; the cat ate the rat. 这是一个 这是一个", 300),
    ("xyxyxy xyxy zzzz zzz", 263),
])
def test_bpe_fit_matches_a_from_scratch_recount(text, vocab_size):
    tok = tokenizers.BPETokenizer.fit(text, vocab_size=vocab_size)
    assert tok.merges == _naive_bpe_merges(text, vocab_size)
    assert tok.decode(tok.encode(text)) == text


def test_bpe_fit_verbose_prints_each_merge(capsys):
    tokenizers.BPETokenizer.fit("aaab aaab aaab", vocab_size=258, verbose=True)
    assert capsys.readouterr().out == ("merge    1: (97, 97) -> 256 (count 6)\n"
                                       "merge    2: (97, 98) -> 257 (count 3)\n")
    tokenizers.BPETokenizer.fit("aaab aaab aaab", vocab_size=258)
    assert capsys.readouterr().out == ""


def test_bpe_fit_respects_its_pattern_and_default_size():
    tok = tokenizers.BPETokenizer.fit("ab-ab-ab", vocab_size=260, pattern="[a-z]+|-")
    assert tok.pattern == "[a-z]+|-" and tok.merges == [(97, 98)]  # "-" never merges with a neighbour
    assert tokenizers.BPETokenizer.fit(data.load_corpus()[:20_000]).vocab_size == 512


def test_bpe_vocab_size_is_a_whole_number_of_at_least_256():
    tok = tokenizers.BPETokenizer.fit("abab abab", vocab_size=256)  # the byte alphabet alone: no merges
    assert tok.merges == [] and tok.vocab_size == 256
    for bad in (300.0, True, "300"):
        with pytest.raises(ValueError, match="^" + re.escape(f"vocab_size must be an int, at least 256 (the byte "
                                                             f"alphabet), got {bad!r}")):
            tokenizers.BPETokenizer.fit("abab", vocab_size=bad)


def test_bpe_merges_are_pairs_of_existing_integer_ids():
    assert tokenizers.BPETokenizer([(0, 1)]).encode("\x00\x01") == [256]  # byte 0 is a token like any other
    assert tokenizers.BPETokenizer([(1, 0)]).encode("\x01\x00") == [256]
    with pytest.raises(ValueError, match="^" + re.escape("merges must be pairs of token ids (ints); merge 0 is "
                                                         "(97.0, 98)")):
        tokenizers.BPETokenizer([(97.0, 98)])
    with pytest.raises(TypeError, match="^" + re.escape("pattern must be a regular expression (str), got int")):
        tokenizers.BPETokenizer([], pattern=5)
