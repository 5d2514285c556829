import hashlib
import urllib.error

import pytest
import torch

from lmlib import data


def test_default_corpus_is_pydoc_topics_in_sorted_order():
    from pydoc_data import topics

    text = data.load_corpus()
    assert text == "".join(topics.topics[k] for k in sorted(topics.topics))
    assert 400_000 < len(text) < 600_000
    assert data.load_corpus("python-docs") == text


def test_text_file_corpus(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("héllo 这是一个\n", encoding="utf-8")
    assert data.load_corpus(path) == "héllo 这是一个\n"
    assert data.load_corpus(str(path)) == "héllo 这是一个\n"


def test_unknown_corpus_names_the_choices():
    with pytest.raises(ValueError, match=r"no corpus named 'nope'.*python-docs.*tiny-shakespeare"):
        data.load_corpus("nope")


def test_non_utf8_and_empty_files_are_refused(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match="not UTF-8"):
        data.load_corpus(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        data.load_corpus(empty)


@pytest.fixture
def fake_remote(monkeypatch, tmp_path):
    """A downloadable corpus whose 'server' is a function; counts downloads."""
    payload = "To be, or not to be\n".encode()
    corpus = data.RemoteCorpus("fake", "https://example.invalid/fake.txt", hashlib.sha256(payload).hexdigest(),
                               len(payload), "test corpus")
    monkeypatch.setitem(data.REMOTE_CORPORA, "fake", corpus)
    monkeypatch.setenv("LMLIB_CACHE", str(tmp_path / "cache"))
    calls = []

    def download(c, timeout):
        calls.append(c.name)
        return state["payload"]

    state = {"payload": payload}
    monkeypatch.setattr(data, "_download", download)
    return state, calls, tmp_path / "cache" / "fake.txt"


def test_remote_corpus_is_downloaded_once_verified_and_cached(fake_remote):
    state, calls, cached = fake_remote
    assert data.load_corpus("fake") == "To be, or not to be\n"
    assert data.load_corpus("fake") == "To be, or not to be\n"
    assert calls == ["fake"]
    assert cached.read_bytes() == state["payload"]


def test_remote_corpus_with_wrong_digest_falls_back(fake_remote):
    state, calls, cached = fake_remote
    state["payload"] = b"tampered"
    with pytest.warns(UserWarning, match="expected .*using the default corpus 'python-docs'"):
        text = data.load_corpus("fake")
    assert text == data.load_corpus()
    assert not cached.exists()


def test_remote_corpus_offline_falls_back_with_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("LMLIB_CACHE", str(tmp_path))

    def offline(corpus, timeout):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.warns(UserWarning, match="could not download corpus 'tiny-shakespeare'.*'python-docs' instead"):
        assert data.load_corpus("tiny-shakespeare") == data.load_corpus()


def test_split_keeps_order_and_validates():
    train, val = data.split("abcdefghij", 0.9)
    assert (train, val) == ("abcdefghi", "j")
    assert data.split([1, 2, 3, 4], 0.5) == ([1, 2], [3, 4])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        data.split("abc", 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        data.split("a", 0.5)


def test_get_batch_targets_are_inputs_shifted_by_one():
    ids = torch.arange(100)
    g = torch.Generator().manual_seed(0)
    x, y = data.get_batch(ids, batch_size=4, seq_len=8, generator=g)
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(data.get_batch(ids, 4, 8, g2)[0], x)


def test_windows_cover_the_ids_in_order():
    x, y = data.windows(torch.arange(10), 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ValueError, match="at least seq_len"):
        data.windows(torch.arange(3), 3)


def test_as_tensor_rejects_2d_and_float():
    with pytest.raises(ValueError, match="1-D"):
        data.as_tensor(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integers"):
        data.as_tensor(torch.zeros(3))
