"""lmlib.taskdata: the fixed split, real labels from Python itself, the pinned sentiment lexicon."""

import pytest

from lmlib import taskdata


def test_heldout_is_a_stable_hash_split():
    keys = [f"module.function_{i}" for i in range(2000)]
    share = sum(taskdata.heldout(k) for k in keys) / len(keys)
    assert 0.17 < share < 0.23
    assert taskdata.heldout("email.message.Message.get_payload") == taskdata.heldout("email.message.Message.get_payload")
    # golden values: the split must never change, or a test item would leak into a training set
    assert [taskdata.heldout(k) for k in ("a", "b", "c", "json.dumps", "email.message")] == [False, False, True, False, True]
    assert [n for n in range(60) if taskdata.heldout(str(n))] == [8, 9, 39, 46, 47, 49, 50, 51, 53, 54, 55]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        taskdata.heldout("x", 1.0)
    with pytest.raises(TypeError, match="key must be a str"):
        taskdata.heldout(3)


def test_split_items_keeps_order_and_partitions():
    items = [str(n) for n in range(100)]
    train, test = taskdata.split_items(items, key=lambda s: s)
    assert sorted(train + test, key=int) == items
    assert train == sorted(train, key=int) and not set(train) & set(test)


def test_docstrings_have_labels_summaries_and_bodies():
    docs = taskdata.docstrings(("json",))
    assert docs and all(d.package == "json" for d in docs)
    dumps = next(d for d in docs if d.key == "json.dumps")
    assert dumps.summary == "Serialize ``obj`` to a JSON formatted ``str``."
    assert dumps.body and dumps.text.startswith(dumps.summary + "\n\n")
    with pytest.raises(ValueError, match="not installed"):
        taskdata.docstrings(("no_such_package_xyz",))


def test_tag_bytes_follow_tokenize():
    data, tags = taskdata.tag_bytes("if x1 == 'é':  # hi\n    pass\n")
    names = [taskdata.TAGS[t] for t in tags]
    assert len(data) == len(tags) and data.decode() == "if x1 == 'é':  # hi\n    pass\n"
    assert names[:2] == ["B-KEYWORD", "I-KEYWORD"] and names[2] == "O"
    assert names[3:5] == ["B-NAME", "I-NAME"] and names[6:8] == ["B-OP", "I-OP"]
    # the string 'é' is 4 bytes: quote, two bytes of é, quote
    assert names[9:13] == ["B-STRING", "I-STRING", "I-STRING", "I-STRING"] and names[13] == "B-OP"
    assert names[16] == "B-COMMENT" and names[-5:-1] == ["B-KEYWORD"] + ["I-KEYWORD"] * 3


def test_fstrings_are_one_string_on_every_python():
    _, tags = taskdata.tag_bytes('y = f"{x!r} and {x}"\n')
    names = [taskdata.TAGS[t] for t in tags]
    assert names[4] == "B-STRING" and set(names[5:20]) == {"I-STRING"}


def test_code_samples_are_tagged_and_split_by_module():
    samples = taskdata.code_samples(max_chars=2000)
    assert len(samples) > 50 and all(len(s.source) == len(s.tags) for s in samples)
    assert not {s.key for s in samples} & set(taskdata.DOC_PACKAGES)


def test_sentiment_lexicon_is_the_pinned_file():
    lexicon = taskdata.sentiment_lexicon()
    assert len(lexicon) == 7520
    good = next(w for w in lexicon if w.key == "good")
    assert good.positive and len(good.ratings) == 10 and abs(sum(good.ratings) / 10 - good.rating) < 0.051


def test_number_words():
    assert [taskdata.number_words(n) for n in (0, 15, 40, 105, 4071, 999999)] == [
        "zero", "fifteen", "forty", "one hundred five", "four thousand seventy-one",
        "nine hundred ninety-nine thousand nine hundred ninety-nine"]
    with pytest.raises(ValueError, match=r"n must be an int in \[0, 1000000\)"):
        taskdata.number_words(-1)
    with pytest.raises(ValueError):
        taskdata.number_words(2.0)
