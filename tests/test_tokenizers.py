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
