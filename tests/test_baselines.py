"""lmlib.baselines: each baseline on small data whose answer is known."""

import pytest

from lmlib import baselines


def test_bag_of_words_separates_two_topics():
    texts = ["the loop iterates", "a loop and a loop", "iterate the loop again",
             "send the message", "a message header", "parse the message header"]
    labels = [0, 0, 0, 1, 1, 1]
    bow = baselines.BagOfWords("word", min_count=1).fit(texts, labels, 2)
    assert bow.predict(["one more loop", "the header of a message"]) == [0, 1]
    assert set(bow.vocab) >= {"loop", "message", "header"}
    chars = baselines.BagOfWords("char", ngram=(2, 3), min_count=1)
    assert chars.tokens("ab") == [" a", "ab", "b ", " ab", "ab "]
    with pytest.raises(ValueError, match="call fit before predict"):
        baselines.BagOfWords().predict(["x"])
    with pytest.raises(ValueError, match="analyzer must be"):
        baselines.BagOfWords("sentence")


def test_lookup_tagger_uses_context_and_backs_off():
    data = b"ab ab ac"
    tags = [1, 2, 0, 1, 2, 0, 1, 3]  # 'b' after 'a' is 2, 'c' after 'a' is 3
    tagger = baselines.LookupTagger(left=1, right=0).fit([(data, tags)])
    assert tagger.predict(b"ab ac") == [1, 2, 0, 1, 3]
    assert tagger.predict(b"zz") == [tagger.default, tagger.default]
    with pytest.raises(ValueError, match="3 bytes but 2 tags"):
        baselines.LookupTagger().fit([(b"abc", [0, 1])])


def test_nearest_translation_and_lead_sentence():
    train = [("12", "twelve"), ("120", "one hundred twenty"), ("7", "seven")]
    assert baselines.nearest_translation("13", train) == "twelve"
    assert baselines.nearest_translation("121", train) == "one hundred twenty"
    assert baselines.lead_sentence("Open it.  Then read\nall of it. Done") == "Open it."
    assert baselines.lead_sentence("No full stop") == "No full stop"
    assert baselines.lead_sentence("Version 3.11 adds e.g. this. More.") == "Version 3.11 adds e.g."
