import hashlib
import re
import urllib.error
from pathlib import Path

import pytest
import torch

from conftest import warned_at_caller
from lmlib import data


def test_default_corpus_is_the_3_11_7_manual_on_every_python():
    # The same text whatever Python runs the book: each CPython release ships another edition of the manual
    # (458,917 characters in 3.10.13, 510,586 in 3.13.0), which changed the chapters' stored losses.
    text = data.load_corpus()
    topics = data.python_docs_topics()
    assert text == "".join(topics[k] for k in sorted(topics))
    assert len(text) == 464_970 and len(topics) == 79
    assert hashlib.sha256(text.encode()).hexdigest() == data.PYTHON_DOCS_SHA256
    assert data.load_corpus("python-docs") == text
    assert "The \"if\" statement" in topics["if"]


def test_the_bundled_manual_is_this_pythons_own_on_3_11_7():
    import sys
    from pydoc_data import topics

    if sys.version_info[:3] != (3, 11, 7):
        pytest.skip("the bundled edition is CPython 3.11.7's")
    assert data.python_docs_topics() == topics.topics


def test_a_damaged_bundled_manual_is_refused(monkeypatch):
    monkeypatch.setattr(data, "PYTHON_DOCS_SHA256", "0" * 64)
    with pytest.raises(OSError, match=r"python-docs-3\.11\.7\.json\.gz is damaged.*reinstall lmlib"):
        data.load_corpus()


def test_text_file_corpus(tmp_path, ascii_locale):  # read as UTF-8 whatever the locale
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
        state["timeouts"].append(timeout)
        return state["payload"]

    state = {"payload": payload, "timeouts": []}
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


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py): each test pins one promise of the module that a planted bug broke unnoticed.


def test_cache_dir_is_lmlib_cache_or_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LMLIB_CACHE", str(tmp_path / "c"))
    assert data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LMLIB_CACHE")
    assert data.cache_dir() == Path.home() / ".cache" / "lmlib"


def test_available_corpora_lists_the_default_first():
    assert data.available_corpora() == ["python-docs", "tiny-shakespeare"]


def test_download_reads_the_corpus_url_with_the_timeout(monkeypatch):
    calls = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append("closed")

        def read(self):
            return b"payload"

    def urlopen(url, timeout):
        calls.append((url, timeout))
        return Response()

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    corpus = data.REMOTE_CORPORA["tiny-shakespeare"]
    assert data._download(corpus, 7.5) == b"payload"
    assert calls == [(corpus.url, 7.5), "closed"]


def test_load_corpus_passes_its_timeout_to_the_download(fake_remote):
    state, calls, cached = fake_remote
    assert data.load_corpus("fake", timeout=0.5) == "To be, or not to be\n"
    cached.unlink()
    assert data.load_corpus("fake") == "To be, or not to be\n"
    assert state["timeouts"] == [0.5, 20.0]


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan"), True, "5"])
def test_load_corpus_refuses_a_bad_timeout(fake_remote, timeout):
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds > 0, got"):
        data.load_corpus("fake", timeout=timeout)
    assert fake_remote[1] == []  # nothing downloaded


def test_tampered_cache_is_downloaded_again_into_a_new_nested_folder(fake_remote, monkeypatch, tmp_path):
    state, calls, _ = fake_remote
    cached = tmp_path / "a" / "b" / "fake.txt"
    monkeypatch.setenv("LMLIB_CACHE", str(cached.parent))
    assert data.load_corpus("fake") == "To be, or not to be\n"  # parent folders are made
    cached.write_bytes(b"tampered")
    with pytest.warns(UserWarning, match=r"cached .*fake\.txt does not match its SHA-256 digest; downloading it "
                                         r"again") as record:
        assert data.load_corpus("fake") == "To be, or not to be\n"
    assert warned_at_caller(record[0])  # the warning points at the caller of load_corpus
    assert calls == ["fake", "fake"]
    assert cached.read_bytes() == state["payload"]
    assert [p.name for p in cached.parent.iterdir()] == ["fake.txt"]  # no .part file left behind


def test_fallback_warnings_name_the_digests_and_point_at_the_caller(fake_remote):
    state, _, _ = fake_remote
    state["payload"] = b"tampered"
    expected = data.REMOTE_CORPORA["fake"].sha256
    with pytest.warns(UserWarning) as record:
        data.load_corpus("fake")
    message = str(record[0].message)
    assert message == (f"downloaded corpus 'fake' has SHA-256 {hashlib.sha256(b'tampered').hexdigest()}, expected "
                       f"{expected}; not using it; using the default corpus 'python-docs' instead")
    assert warned_at_caller(record[0])


def test_offline_warning_names_the_error_and_points_at_the_caller(fake_remote, monkeypatch):
    def offline(corpus, timeout):
        raise TimeoutError("timed out")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.warns(UserWarning) as record:
        assert data.load_corpus("fake") == data.load_corpus()
    assert str(record[0].message) == ("could not download corpus 'fake' (timed out); using the default corpus "
                                      "'python-docs' instead")
    assert warned_at_caller(record[0])


def test_load_corpus_refuses_other_types_and_missing_paths(tmp_path):
    with pytest.raises(TypeError, match="corpus must be a name or a file path, got int"):
        data.load_corpus(3)
    with pytest.raises(ValueError, match=r"no corpus named '.*missing\.txt': it is not one of \['python-docs', "
                                         r"'tiny-shakespeare'\] and not an existing file"):
        data.load_corpus(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="not one of"):
        data.load_corpus(tmp_path)  # a folder is not a corpus file


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "name must be a non-empty str, got ''"),
    ("url", 5, "url must be a non-empty str, got 5"),
    ("description", "", "description must be a non-empty str"),
    ("url", "http://example.org/x.txt", "url must be an https:// address, got 'http://example.org/x.txt'"),
    ("sha256", "AB" * 32, "sha256 must be 64 lowercase hex digits"),
    ("sha256", "a" * 63, "sha256 must be 64 lowercase hex digits"),
    ("sha256", None, "sha256 must be 64 lowercase hex digits"),
    ("size_bytes", 0, "size_bytes must be a positive int, got 0"),
    ("size_bytes", True, "size_bytes must be a positive int, got True"),
    ("size_bytes", 1.5, "size_bytes must be a positive int, got 1.5"),
])
def test_remote_corpus_checks_every_field(field, value, message):
    good = dict(name="x", url="https://example.org/x.txt", sha256="0" * 64, size_bytes=1, description="d")
    data.RemoteCorpus(**good)  # the smallest valid one
    with pytest.raises(ValueError, match=re.escape(message)):
        data.RemoteCorpus(**{**good, field: value})


def test_split_keeps_at_least_one_item_on_each_side():
    assert data.split("ab", 0.01) == ("a", "b")
    assert data.split("ab", 0.99) == ("a", "b")
    assert data.split("abcd", 0.74) == ("ab", "cd")  # int(4 * 0.74) = 2: rounded down
    assert data.split("abc", 0.1) == ("a", "bc")
    assert data.split((1, 2, 3), 0.5) == ((1,), (2, 3))
    assert data.split("ab") == ("a", "b")
    assert data.split("a" * 10 + "b" * 10)[0] == "a" * 10 + "b" * 8  # default train_fraction 0.9


@pytest.mark.parametrize("text, fraction, error, message", [
    ("abc", 0.0, ValueError, "train_fraction must be a number strictly between 0 and 1, got 0.0"),
    ("abc", True, ValueError, "strictly between 0 and 1, got True"),
    ("abc", "0.5", ValueError, "strictly between 0 and 1, got '0.5'"),
    (5, 0.5, TypeError, "text must be a str or a sequence of token ids, got int"),
    ({1: 2, 3: 4}, 0.5, TypeError, "got dict"),
    ({1, 2, 3}, 0.5, TypeError, "got set"),
    ({"a": 1, "b": 2}.keys(), 0.5, TypeError, "got dict_keys"),
    ("", 0.5, ValueError, "cannot split a sequence of length 0; it needs at least 2 items"),
])
def test_split_refuses_bad_input(text, fraction, error, message):
    with pytest.raises(error, match=re.escape(message)):
        data.split(text, fraction)


def test_as_tensor_accepts_every_flat_integer_sequence():
    import numpy as np

    for ids in ([3, 1, 2], (3, 1, 2), np.array([3, 1, 2], dtype=np.int32),
                torch.tensor([3, 1, 2], dtype=torch.int16), (i for i in [3, 1, 2])):
        out = data.as_tensor(ids)
        assert out.dtype == torch.long and out.tolist() == [3, 1, 2]
    assert data.as_tensor([7]).tolist() == [7]
    empty = data.as_tensor([])
    assert empty.dtype == torch.long and empty.shape == (0,)
    assert data.as_tensor(np.array([], dtype=np.int64)).shape == (0,)


def test_as_tensor_returns_a_long_tensor_unchanged():
    ids = torch.arange(5)
    assert data.as_tensor(ids) is ids


@pytest.mark.parametrize("ids, error, message", [
    ("abc", TypeError, "got str; encode text with a tokenizer first"),
    (b"abc", TypeError, "token ids must be a sequence of ints or a 1-D integer tensor, got bytes"),
    (5, TypeError, "got int"),
    (torch.tensor([True, False]), ValueError, "token ids must be integers, got dtype torch.bool"),
    (torch.tensor([1 + 1j]), ValueError, "token ids must be integers, got dtype torch.complex64"),
    (torch.tensor(3), ValueError, "token ids must be 1-D, got a tensor of shape ()"),
    ([1.0, 2.0], ValueError, "got float values (dtype torch.float32); ids are never rounded"),
    ([True, False], ValueError, "token ids must be ints, got bool values (dtype torch.bool)"),
    ([1j], ValueError, "got float values (dtype torch.complex64)"),
    ([2**63], ValueError, "token ids must be ints between 0 and 2**63 - 1 in a flat sequence"),
    ([[1], [2]], ValueError, "token ids must be a flat (1-D) sequence of ints, got shape (2, 1)"),
])
def test_as_tensor_refuses_what_is_not_flat_integer_ids(ids, error, message):
    with pytest.raises(error, match=re.escape(message)) as info:
        data.as_tensor(ids)
    if error is TypeError:
        assert str(info.value).endswith(message)  # the hint about tokenizers is for text only


def test_as_tensor_refuses_a_2d_array():
    import numpy as np

    with pytest.raises(ValueError, match=re.escape("got an array of shape (2, 2)")):
        data.as_tensor(np.zeros((2, 2), dtype=np.int64))


def test_get_batch_reaches_every_window_and_only_those():
    ids = torch.arange(12)
    x, y = data.get_batch(ids, 400, 10, torch.Generator().manual_seed(0))
    assert sorted(set(x[:, 0].tolist())) == [0, 1]  # the two windows of 11 tokens, both drawn
    x, _ = data.get_batch(torch.arange(11), 5, 10)  # exactly one window (and no generator: the global RNG)
    assert x.tolist() == [list(range(10))] * 5


def test_get_batch_limit_is_inclusive_and_checked_before_the_ids():
    tokens = data.MAX_BATCH_TOKENS
    assert tokens == 2**28
    # exactly the limit passes the size check and fails only on the (too short) ids
    with pytest.raises(ValueError, match=re.escape("need at least seq_len + 1 = 256 tokens for one window, got 10")):
        data.get_batch(torch.arange(10), 2**20, 255)
    with pytest.raises(ValueError, match=re.escape(f"batch_size * (seq_len + 1) = {tokens + 2**20:,} tokens is more "
                                                   f"than one batch may hold ({tokens:,})")):
        data.get_batch(torch.arange(10), 2**20, 256)


def test_get_batch_refuses_a_generator_of_another_type():
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        data.get_batch(torch.arange(20), 2, 3, generator=0)


def test_windows_drop_the_incomplete_last_window():
    x, y = data.windows(list(range(11)), 5)
    assert x.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] and y[-1].tolist() == [6, 7, 8, 9, 10]
    x, y = data.windows(torch.arange(12), 5)
    assert x.shape == (2, 5)
    x, y = data.windows(torch.arange(4), 3)  # exactly seq_len + 1 ids: one window
    assert x.tolist() == [[0, 1, 2]] and y.tolist() == [[1, 2, 3]]
    with pytest.raises(ValueError, match=re.escape("need at least seq_len + 1 = 4 tokens for one window, got 3")):
        data.windows(torch.arange(3), 3)
