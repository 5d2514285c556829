"""Property-based attack on lmlib's public functions and constructors (issue 14).

Hypothesis feeds every public function and constructor of data, tokenizers, models, train, generate,
checkpoint, dashboard, growth, runtime, envreport, symbolic and plotting a mix of valid and hostile
arguments: wrong types, None, zero, negative and huge sizes, NaN and infinities, empty strings, lone
surrogates, out-of-range ids, wrong dtypes, ranks and devices, a mismatched tokenizer and model, damaged and
hostile checkpoint files. Only two outcomes pass:

* a correct result (each call has an oracle that checks it), or
* ``ValueError``, ``TypeError`` or ``OSError`` (or a subclass) whose message names an argument of the call
  and says what is allowed.

Valid sizes are drawn small; invalid ones may be huge, and must be refused before anything that size is
allocated. ``LMLIB_HYPOTHESIS_PROFILE`` picks how many examples: ``default`` (the test run), ``mutation``
(fewer, for scripts/mutation_test.py) or ``thorough`` (many). With ``LMLIB_PROPERTY_REPORT=<file>`` the
outcomes are counted per function and written to that file as JSON.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from lmlib import checkpoint, dashboard, data, envreport, generate, growth, models, runtime, tokenizers, train

PROFILE = os.environ.get("LMLIB_HYPOTHESIS_PROFILE", "default")
EXAMPLES = {"default": 30, "mutation": 8, "thorough": 300}[PROFILE]
ALLOWED = (ValueError, TypeError, OSError)
WHAT_IS_ALLOWED = ("must", "expected", "at least", "at most", "outside", "not ", "only", "invalid", "cannot",
                   "needs", "need ", "exceeds", "no ", "unknown", "damaged", "differ", "more than", "empty",
                   "does not", "too ")
OUTCOMES: dict[str, Counter] = defaultdict(Counter)


def examples(factor: float = 1.0):
    # Under mutation testing a failure only has to be seen, not explained: no shrinking of failing examples.
    phases = [p for p in Phase if p is not Phase.shrink] if PROFILE == "mutation" else list(Phase)
    return settings(max_examples=max(2, int(EXAMPLES * factor)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), phases=phases)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    target = os.environ.get("LMLIB_PROPERTY_REPORT")
    if target:
        old = json.loads(Path(target).read_text()) if Path(target).exists() else {}
        for name, counts in OUTCOMES.items():
            old[name] = dict(Counter(old.get(name, {})) + counts)
        Path(target).write_text(json.dumps(old, indent=1, sort_keys=True))


def attempt(name: str, names: tuple[str, ...], fn, *args, **kwargs):
    """Call ``fn``; return ``(True, result)`` or ``(False, error)`` for an allowed, clear error; fail otherwise."""
    try:
        result = fn(*args, **kwargs)
    except ALLOWED as err:
        message = str(err)
        assert any(n in message for n in names), f"{name}: {type(err).__name__} names no argument of {names}: {message!r}"
        assert any(w in message.lower() for w in WHAT_IS_ALLOWED), f"{name}: does not say what is allowed: {message!r}"
        OUTCOMES[name][type(err).__name__] += 1
        return False, err
    except BaseException as err:  # anything else is a failure of lmlib, reported with its type
        OUTCOMES[name][type(err).__name__] += 1
        raise AssertionError(f"{name}({args!r:.300}, {kwargs!r:.300}) raised {type(err).__name__}: {err}") from err
    OUTCOMES[name]["ok"] += 1
    return True, result


# ------------------------------------------------------------------ strategies

HUGE = st.sampled_from([2**40, 2**63 - 1, 2**64, 10**30])  # beyond any machine's memory: refused before allocating
ODD_NUMBERS = st.sampled_from([0, -1, -7, 0.5, -0.0, float("nan"), float("inf"), -float("inf"), 1e-300, 1e300,
                               True, False])
ODD_TEXT = st.sampled_from(["", "\ud800", "a\udfffb", "\x00", "这是一个", "\U0001F600", " " * 3, "\n"])
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), HUGE, ODD_NUMBERS, st.floats(allow_nan=True),
    st.text(max_size=6), ODD_TEXT, st.binary(max_size=6), st.lists(st.integers(-2, 300), max_size=4),
    st.lists(st.floats(-2, 2), min_size=1, max_size=3), st.tuples(st.integers(), st.text(max_size=2)),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([np.int64(3), np.float32(0.5), np.array([1, 2]), torch.tensor(1), torch.zeros(2, 2),
                     object(), Path("x"), [[1, 2], [3, 4]], (), [], {}]),
)


def mix(valid, junk_weight: int = 1):
    """Mostly valid values, sometimes junk."""
    return st.one_of(*([valid] * 3), *([JUNK] * junk_weight))


SMALL = st.integers(1, 12)
WORDS = st.text(alphabet="ab \n.的", min_size=1, max_size=40)
TEXT_ANY = st.one_of(st.text(max_size=60), ODD_TEXT, WORDS)
VOCAB = 40  # the tiny models' vocabulary


def id_lists(vocab=VOCAB, min_size=0, max_size=80):
    return st.lists(st.integers(0, vocab - 1), min_size=min_size, max_size=max_size)


def bad_ids():
    return st.one_of(
        id_lists(), st.lists(st.integers(-5, VOCAB + 5), max_size=40), st.lists(st.floats(0, 9), max_size=10),
        st.just([[1, 2], [3, 4]]), st.just("abc"), st.just(torch.arange(20, dtype=torch.int32)),
        st.just(torch.zeros(20)), st.just(np.arange(30)), st.just(torch.arange(30).view(5, 6)), JUNK,
    )


def tiny_model(kind: str, vocab: int = VOCAB, block: int = 16):
    torch.manual_seed(0)
    if kind == "gpt":
        return models.GPT(models.GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=8))
    return models.RNNLM(models.RNNConfig(vocab_size=vocab, embedding_dim=4, hidden_dim=8, cell=kind))


MODELS = {kind: tiny_model(kind) for kind in ("gpt", "gru", "lstm", "rnn")}
CHAR_TOK = tokenizers.CharTokenizer.fit("".join(chr(97 + i % 26) if i < 26 else chr(0x4E00 + i) for i in range(VOCAB)))


# ------------------------------------------------------------------ data


@examples()
@given(ids=bad_ids())
def test_as_tensor(ids):
    ok, out = attempt("data.as_tensor", ("token ids",), data.as_tensor, ids)
    if ok:
        expected = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        assert out.dtype == torch.long and out.dim() == 1 and out.tolist() == expected


@examples()
@given(text=mix(st.one_of(st.text(min_size=0, max_size=30), id_lists())), fraction=mix(st.floats(0, 1)))
def test_split(text, fraction):
    ok, out = attempt("data.split", ("train_fraction", "text", "sequence"), data.split, text, fraction)
    if ok:
        a, b = out
        assert a + b == text and len(a) >= 1 and len(b) >= 1
        assert len(a) == min(max(int(len(text) * fraction), 1), len(text) - 1)


@examples()
@given(ids=bad_ids(), batch=mix(SMALL), seq=mix(SMALL), seed=st.integers(0, 5))
def test_get_batch(ids, batch, seq, seed):
    ok, out = attempt("data.get_batch", ("batch_size", "seq_len", "token ids", "tokens", "generator"), data.get_batch,
                      ids, batch, seq, torch.Generator().manual_seed(seed))
    if ok:
        x, y = out
        flat = data.as_tensor(ids).tolist()
        assert x.shape == y.shape == (batch, seq)
        for row, target in zip(x.tolist(), y.tolist()):
            assert any(flat[i:i + seq] == row and flat[i + 1:i + seq + 1] == target for i in range(len(flat) - seq))


@examples()
@given(ids=bad_ids(), seq=mix(SMALL))
def test_windows(ids, seq):
    ok, out = attempt("data.windows", ("seq_len", "token ids", "tokens"), data.windows, ids, seq)
    if ok:
        x, y = out
        flat = data.as_tensor(ids).tolist()
        n = (len(flat) - 1) // seq
        assert x.flatten().tolist() == flat[:n * seq] and y.flatten().tolist() == flat[1:n * seq + 1]


@examples(0.5)
@given(content=st.one_of(st.binary(max_size=30), st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))),
       name=mix(st.just("file")))
def test_load_corpus(tmp_path_factory, content, name):
    folder = tmp_path_factory.mktemp("corpus")
    path = folder / "c.txt"
    path.write_bytes(content)
    arg = path if name == "file" else name
    ok, out = attempt("data.load_corpus", ("corpus", "UTF-8", "empty", "timeout", "c.txt"), data.load_corpus, arg)
    if ok:
        assert name == "file" or name == data.DEFAULT_CORPUS
        if name == "file":
            assert out == content.decode("utf-8") and out


def test_corpus_listing():
    assert data.available_corpora()[0] == data.DEFAULT_CORPUS and isinstance(data.cache_dir(), Path)


@examples(0.5)
@given(name=mix(st.text(min_size=1, max_size=5)), url=mix(st.just("https://x/y.txt")), sha=mix(st.just("0" * 64)),
       size=mix(st.integers(1, 10)), description=mix(st.just("d")))
def test_remote_corpus(name, url, sha, size, description):
    attempt("data.RemoteCorpus", ("name", "url", "sha256", "size_bytes", "description"), data.RemoteCorpus,
            name, url, sha, size, description)


# ------------------------------------------------------------------ tokenizers

TOKENIZER_MAKERS = {
    "char": lambda text, **kw: tokenizers.CharTokenizer.fit(text, **kw),
    "word": lambda text, **kw: tokenizers.WordTokenizer.fit(text, **kw),
    "bpe": lambda text, **kw: tokenizers.BPETokenizer.fit(text, **kw),
}


@examples()
@given(kind=st.sampled_from(sorted(TOKENIZER_MAKERS)), text=mix(TEXT_ANY),
       kw=st.one_of(st.just({}), st.fixed_dictionaries({"unk": JUNK}), st.fixed_dictionaries({"max_vocab": mix(SMALL)}),
                    st.fixed_dictionaries({"vocab_size": mix(st.integers(256, 300))}),
                    st.fixed_dictionaries({"pattern": mix(st.sampled_from([r"\w+|\W", "(", r"\s+", ""]))})))
def test_tokenizer_fit(kind, text, kw):
    if kind == "char":
        kw = {k: v for k, v in kw.items() if k == "unk"}
    elif kind == "word":
        kw = {k: v for k, v in kw.items() if k in ("unk", "max_vocab")}
    else:
        kw = {k: v for k, v in kw.items() if k in ("vocab_size", "pattern")}
    names = ("text", "unk", "max_vocab", "vocab_size", "pattern", "word")
    ok, tok = attempt(f"tokenizers.{kind}.fit", names, TOKENIZER_MAKERS[kind], text, **kw)
    if ok:
        ok, ids = attempt("Tokenizer.encode", names, tok.encode, text)
        if ok:
            assert all(0 <= i < tok.vocab_size for i in ids)
            assert tok.decode(ids) == text or getattr(tok, "unk", False)


TOKENIZERS = [tokenizers.ByteTokenizer(), tokenizers.CharTokenizer.fit("abc 这"),
              tokenizers.CharTokenizer.fit("abc", unk=True), tokenizers.WordTokenizer.fit("a b c. a"),
              tokenizers.WordTokenizer.fit("a b", unk=True), tokenizers.BPETokenizer.fit("ab ab abc abc", 260)]


@examples(2)
@given(index=st.integers(0, len(TOKENIZERS) - 1), text=mix(TEXT_ANY, 2))
def test_encode_decode(index, text):
    tok = TOKENIZERS[index]
    ok, ids = attempt("Tokenizer.encode", ("text", "character", "word", "surrogate"), tok.encode, text)
    if ok:
        assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
        if not getattr(tok, "unk", False):
            assert tok.decode(ids) == text


@examples(2)
@given(index=st.integers(0, len(TOKENIZERS) - 1), ids=bad_ids())
def test_decode_and_token_bytes(index, ids):
    tok = TOKENIZERS[index]
    ok, text = attempt("Tokenizer.decode", ("ids", "token id"), tok.decode, ids)
    if ok:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if isinstance(tok, tokenizers.CharTokenizer):
            assert text == "".join(tokenizers.UNK if i == tok.unk_id else tok.chars[i] for i in ids)
        else:
            assert text == b"".join(tok.token_bytes(i) for i in ids).decode("utf-8", errors="replace")
    for token_id in (ids if isinstance(ids, list) else [ids])[:3]:
        ok, out = attempt("Tokenizer.token_bytes", ("token_id",), tok.token_bytes, token_id)
        if ok:
            assert isinstance(out, bytes) and 0 <= token_id < tok.vocab_size


@examples()
@given(chars=mix(st.lists(st.characters(), max_size=6)), unk=mix(st.booleans()))
def test_char_tokenizer_constructor(chars, unk):
    ok, tok = attempt("CharTokenizer", ("chars", "unk"), tokenizers.CharTokenizer, chars, unk)
    if ok:
        assert tok.vocab_size == len(chars) + unk
        assert tokenizers.from_dict(json.loads(json.dumps(tok.to_dict()))).encode("".join(chars)) == tok.encode("".join(chars))


@examples()
@given(words=mix(st.lists(st.text(min_size=0, max_size=3), max_size=5)), unk=mix(st.booleans()))
def test_word_tokenizer_constructor(words, unk):
    ok, tok = attempt("WordTokenizer", ("words", "unk"), tokenizers.WordTokenizer, words, unk)
    if ok:
        assert tok.vocab_size == len(words) + unk and tokenizers.from_dict(tok.to_dict()).words == tok.words


@examples()
@given(merges=mix(st.lists(st.tuples(st.integers(-1, 300), st.integers(-1, 300)), max_size=5)),
       pattern=mix(st.sampled_from([tokenizers.PRETOKENIZE_PATTERN, "(", r"\w"])))
def test_bpe_constructor(merges, pattern):
    ok, tok = attempt("BPETokenizer", ("merges", "merge", "pattern"), tokenizers.BPETokenizer, merges, pattern)
    if ok:
        assert tok.vocab_size == 256 + len(merges)
        assert tok.decode(tok.encode("abc de")) == "abc de"


@examples()
@given(spec=st.one_of(
    JUNK, st.fixed_dictionaries({"kind": mix(st.sampled_from(["char", "byte", "word", "bpe", "sentencepiece"])),
                                 "version": mix(st.integers(0, 2)), "chars": JUNK, "words": JUNK, "merges": JUNK,
                                 "unk": JUNK, "pattern": JUNK})))
def test_from_dict(spec):
    ok, tok = attempt("tokenizers.from_dict", ("kind", "version", "chars", "words", "merges", "merge", "unk", "pattern",
                                                "tokenizer"), tokenizers.from_dict, spec)
    if ok:
        assert tokenizers.from_dict(tok.to_dict()).vocab_size == tok.vocab_size


@examples(0.5)
@given(content=st.one_of(st.binary(max_size=40), st.just(b"[" * 5000), st.just(b'{"kind": "char", "chars": 5}'),
                         st.just(json.dumps(tokenizers.ByteTokenizer().to_dict()).encode())))
def test_tokenizer_load(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("tok") / "t.json"
    path.write_bytes(content)
    ok, tok = attempt("tokenizers.load", ("t.json", "kind", "chars"), tokenizers.load, path)
    if ok:
        assert isinstance(tok, tokenizers.Tokenizer)


# ------------------------------------------------------------------ models

CONFIG_SIZES = mix(st.integers(1, 8), 1)


@examples(2)
@given(vocab=st.one_of(CONFIG_SIZES, HUGE), block=CONFIG_SIZES, n_layer=st.one_of(CONFIG_SIZES, HUGE),
       n_head=CONFIG_SIZES, n_embd=st.one_of(CONFIG_SIZES, HUGE), dropout=mix(st.floats(0, 0.9)),
       bias=mix(st.booleans()))
def test_gpt_config_and_model(vocab, block, n_layer, n_head, n_embd, dropout, bias):
    names = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "config")
    ok, config = attempt("models.GPTConfig", names, models.GPTConfig, vocab, block, n_layer, n_head, n_embd, dropout,
                         bias)
    if ok:
        assert all(type(getattr(config, f)) is int for f in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"))
        ok, model = attempt("models.GPT", names, models.GPT, config)
        if ok:
            idx = torch.zeros(1, 1, dtype=torch.long)
            assert model.eval()(idx).shape == (1, 1, config.vocab_size)


@examples(2)
@given(vocab=st.one_of(CONFIG_SIZES, HUGE), emb=CONFIG_SIZES, hidden=st.one_of(CONFIG_SIZES, HUGE),
       cell=mix(st.sampled_from(models.CELLS)), layers=CONFIG_SIZES, dropout=mix(st.floats(0, 0.9)))
def test_rnn_config_and_model(vocab, emb, hidden, cell, layers, dropout):
    names = ("vocab_size", "embedding_dim", "hidden_dim", "cell", "num_layers", "dropout", "config")
    ok, config = attempt("models.RNNConfig", names, models.RNNConfig, vocab, emb, hidden, cell, layers, dropout)
    if ok:
        ok, model = attempt("models.RNNLM", names, models.RNNLM, config)
        if ok:
            assert model.eval()(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 3, config.vocab_size)


def model_inputs():
    return st.one_of(
        st.lists(st.lists(st.integers(-2, VOCAB + 2), min_size=1, max_size=20), min_size=1, max_size=3)
        .filter(lambda rows: len({len(r) for r in rows}) == 1).map(lambda rows: torch.tensor(rows)),
        st.sampled_from([torch.zeros(0, 3, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long),
                         torch.zeros(3, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.long),
                         torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.int32), torch.zeros(1, 40, dtype=torch.long),
                         torch.zeros(1, 3, dtype=torch.long, device="meta"), [[1, 2]], "ab", None]),
    )


@examples(3)
@given(kind=st.sampled_from(sorted(MODELS)), idx=model_inputs(), use_state=st.booleans())
def test_model_forward_and_advance(kind, idx, use_state):
    model = MODELS[kind].eval()
    names = ("idx", "token id", "sequence length", "cache", "state")
    ok, logits = attempt("model.forward", names, model, idx)
    if ok:
        assert logits.shape == (*idx.shape, VOCAB) and torch.isfinite(logits).all()
        assert int(idx.min()) >= 0 and int(idx.max()) < VOCAB
    state = model.new_state() if use_state else torch.zeros(3, 3)
    ok, out = attempt("model.advance", names, model.advance, idx, state)
    if ok:
        assert out[0].shape == (*idx.shape, VOCAB)
    if kind == "gpt":
        ok, maps = attempt("GPT.attention_maps", names, model.attention_maps, idx)
        if ok:
            assert len(maps) == 1 and torch.allclose(maps[0].sum(-1), torch.ones(()))


@examples()
@given(kind=mix(st.sampled_from(["gpt", "rnn", "mamba"])), config=st.one_of(JUNK, st.fixed_dictionaries(
    {"vocab_size": mix(SMALL)}, optional={"cell": JUNK, "n_head": JUNK, "block_size": JUNK, "colour": JUNK})))
def test_build(kind, config):
    ok, model = attempt("models.build", ("kind", "config", "vocab_size", "cell", "n_head", "block_size", "n_embd"),
                        models.build, kind, config)
    if ok:
        assert model.config.vocab_size == config["vocab_size"] and models.count_parameters(model) > 0


# ------------------------------------------------------------------ train

TRAIN_IDS = CHAR_TOK.encode("abcdefghij" * 30)


@examples(1.5)
@given(steps=mix(st.integers(1, 3)), batch=mix(st.integers(1, 4)), seq=mix(st.integers(1, 20)),
       lr=mix(st.sampled_from([1e-3, 1e-2, 1.0, 1e10, 1e30])), seed=mix(st.integers(0, 2**64 - 1)),
       weight_decay=mix(st.floats(0, 1)), betas=mix(st.tuples(st.floats(0, 0.999), st.floats(0, 0.999))),
       grad_clip=mix(st.one_of(st.none(), st.floats(1e-3, 10))), schedule=mix(st.sampled_from(train.SCHEDULES)),
       warmup=mix(st.integers(0, 2)), min_lr=mix(st.floats(0, 1)), interval=mix(st.integers(1, 3)),
       eval_tokens=mix(st.integers(1, 100)))
def test_train_config_and_fit(steps, batch, seq, lr, seed, weight_decay, betas, grad_clip, schedule, warmup, min_lr,
                              interval, eval_tokens):
    names = ("steps", "batch_size", "seq_len", "lr", "seed", "weight_decay", "betas", "grad_clip", "schedule",
             "warmup_steps", "min_lr_ratio", "eval_interval", "eval_tokens", "progress")
    ok, config = attempt("train.TrainConfig", names, train.TrainConfig, steps, batch, seq, lr, seed, weight_decay,
                         betas, grad_clip, schedule, warmup, min_lr, interval, eval_tokens, False)
    if not ok or config.steps > 3:  # a huge but valid number of steps is not run
        return
    for s in range(config.steps):
        rate = train.learning_rate(s, config)
        assert 0 < rate <= config.lr * (1 + 1e-12)
    model = tiny_model("gpt" if seed % 2 else "gru")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ok, history = attempt("train.fit", names + ("train_ids", "val_ids"), train.fit, model, TRAIN_IDS, TRAIN_IDS,
                              config, device="cpu")
    if ok:
        n = len(history.step_loss)
        assert len(history.lr) == n and history.tokens_seen == n * config.batch_size * config.seq_len
        assert len(history.steps) == len(history.train_loss) == len(history.val_loss)
        assert all(math.isfinite(v) for v in history.step_loss + history.train_loss)
        assert history.completed == (n == config.steps and history.stop_reason == "completed")
        assert all(torch.isfinite(p).all() for p in model.parameters())
        if not history.completed:
            assert history.stop_reason.startswith("training stopped at step")


@examples()
@given(kind=st.sampled_from(sorted(MODELS)), ids=bad_ids(), seq=mix(st.integers(1, 20)), batch=mix(SMALL),
       max_tokens=mix(st.one_of(st.none(), st.integers(1, 50))), model_junk=st.booleans())
def test_evaluate(kind, ids, seq, batch, max_tokens, model_junk):
    model = "model" if model_junk else MODELS[kind]
    ok, loss = attempt("train.evaluate", ("model", "seq_len", "batch_size", "max_tokens", "ids", "token id",
                                           "block_size"), train.evaluate, model, ids, seq, batch, max_tokens)
    if ok:
        assert math.isfinite(loss) and loss >= 0


@examples()
@given(kind=st.sampled_from(["gpt", "gru"]), train_ids=bad_ids(), val_ids=st.one_of(st.none(), bad_ids()),
       config=st.one_of(st.just(train.TrainConfig(steps=2, batch_size=2, seq_len=4, progress=False)),
                        JUNK.filter(lambda v: v is not None)),
       callbacks=st.one_of(st.none(), st.just([]), st.just(lambda s, h: None), JUNK),
       device=st.one_of(st.none(), st.just("cpu"), JUNK), optimizer=st.one_of(st.none(), JUNK))
def test_fit_arguments(kind, train_ids, val_ids, config, callbacks, device, optimizer):
    names = ("config", "model", "train_ids", "val_ids", "callbacks", "device", "optimizer", "seq_len", "token id")
    model = tiny_model(kind)
    ok, history = attempt("train.fit", names, train.fit, model, train_ids, val_ids, config, callbacks=callbacks,
                          device=device, optimizer=optimizer)
    if ok:
        assert history.completed and history.steps == [2]


@examples()
@given(loss=st.one_of(st.floats(allow_nan=True), st.integers(-5, 1000), JUNK))
def test_perplexity(loss):
    ok, value = attempt("train.perplexity", ("loss",), train.perplexity, loss)
    if ok:
        if math.isnan(loss):
            assert math.isnan(value)
        else:
            assert value == (pytest.approx(math.exp(loss)) if loss < 700 else math.inf) or loss >= 700


@examples()
@given(step=mix(st.integers(0, 10)), config=mix(st.just(train.TrainConfig(steps=5, warmup_steps=2))))
def test_learning_rate(step, config):
    ok, value = attempt("train.learning_rate", ("step", "config"), train.learning_rate, step, config)
    if ok:
        assert 0 < value <= config.lr


@examples(0.5)
@given(model=mix(st.just(MODELS["gru"])), config=mix(st.just(train.TrainConfig(weight_decay=0.1))))
def test_make_optimizer(model, config):
    ok, opt = attempt("train.make_optimizer", ("model", "config"), train.make_optimizer, model, config)
    if ok:
        assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]


@examples()
@given(d=st.one_of(JUNK, st.fixed_dictionaries({}, optional={"steps": JUNK, "train_loss": JUNK, "val_loss": JUNK,
                                                              "step_loss": JUNK, "lr": JUNK, "tokens_seen": JUNK,
                                                              "elapsed": JUNK, "stop_reason": JUNK})))
def test_history_from_dict(d):
    ok, history = attempt("History.from_dict", ("history", "steps", "train_loss", "val_loss", "step_loss", "lr",
                                                 "tokens_seen"), train.History.from_dict, d)
    if ok:
        assert train.History.from_dict(history.to_dict()) == history
        assert len(history.train_perplexity) == len(history.train_loss)


@examples()
@given(seed=st.one_of(st.integers(0, 2**64 - 1), JUNK))
def test_seed_everything(seed):
    ok, _ = attempt("runtime.seed_everything", ("seed",), runtime.seed_everything, seed)
    if ok:
        a = torch.rand(2)
        runtime.seed_everything(seed)
        assert torch.equal(torch.rand(2), a)


@examples()
@given(device=st.one_of(st.none(), st.sampled_from(["cpu", "cpu:0", "cuda", "cuda:7", "quantum", "meta"]), JUNK))
def test_resolve_device(device):
    ok, out = attempt("runtime.resolve_device", ("device",), runtime.resolve_device, device)
    if ok:
        assert isinstance(out, torch.device)


# ------------------------------------------------------------------ generate


def logits_inputs():
    return st.one_of(
        st.lists(st.floats(-50, 50), min_size=1, max_size=8).map(torch.tensor),
        st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=5).map(torch.tensor),
        st.sampled_from([torch.zeros(0), torch.zeros(2, 3), torch.tensor(1.0), torch.tensor([1, 2]),
                         torch.full((4,), -float("inf")), "logits", None]),
    )


SAMPLING = dict(temperature=mix(st.one_of(st.floats(0, 5), st.just(1e-45))), top_k=mix(st.one_of(st.none(), SMALL)),
                top_p=mix(st.one_of(st.none(), st.floats(1e-300, 1), st.just(1e-300))))
SAMPLING_NAMES = ("temperature", "top_k", "top_p", "logits", "generator")


@examples(3)
@given(logits=logits_inputs(), **SAMPLING)
def test_sampling_functions(logits, temperature, top_k, top_p):
    ok, probs = attempt("generate.next_token_probs", SAMPLING_NAMES, generate.next_token_probs, logits, temperature,
                        top_k, top_p)
    if ok and not logits.isnan().any() and torch.isfinite(logits.amax(-1)).all():
        assert (probs >= 0).all() and torch.allclose(probs.sum(-1), torch.ones(()))
    ok, filtered = attempt("generate.filter_logits", SAMPLING_NAMES, generate.filter_logits, logits, top_k, top_p)
    if ok:
        kept = torch.isfinite(filtered) | (filtered == logits) | logits.isnan()
        assert filtered.shape == logits.shape and kept.any(-1).all()
    ok, token = attempt("generate.sample", SAMPLING_NAMES, generate.sample, logits, temperature, top_k, top_p,
                        torch.Generator().manual_seed(0))
    if ok:
        assert token.shape == logits.shape[:-1] and ((token >= 0) & (token < logits.shape[-1])).all()


@examples(2)
@given(kind=st.sampled_from(sorted(MODELS)), prompt=st.one_of(id_lists(min_size=1, max_size=40), bad_ids()),
       n=mix(st.integers(0, 20)), seed=mix(st.one_of(st.none(), st.integers(0, 2**64 - 1))),
       use_cache=mix(st.booleans()), **SAMPLING)
def test_generate_ids(kind, prompt, n, seed, use_cache, temperature, top_k, top_p):
    names = SAMPLING_NAMES + ("prompt", "max_new_tokens", "seed", "use_cache", "model")
    import itertools

    ok, out = attempt("generate.generate_ids", names, lambda: list(itertools.islice(generate.generate_ids(
        MODELS[kind], prompt, n, temperature, top_k, top_p, seed, use_cache), 25)))
    if ok:
        assert len(out) == min(n, 25) and all(0 <= t < VOCAB for t in out)


@examples(2)
@given(kind=st.sampled_from(sorted(MODELS)), tok_index=st.integers(0, 2), prompt=mix(TEXT_ANY),
       n=mix(st.integers(0, 10)), seed=mix(st.one_of(st.none(), st.integers(0, 10))), **SAMPLING)
def test_generate_and_stream(kind, tok_index, prompt, n, seed, temperature, top_k, top_p):
    assume(not (isinstance(n, int) and n > 1000))  # huge but valid lengths would only take long
    tok = [CHAR_TOK, tokenizers.ByteTokenizer(), "tokenizer"][tok_index]
    names = SAMPLING_NAMES + ("prompt", "max_new_tokens", "seed", "tokenizer", "text", "character", "surrogate")
    ok, text = attempt("generate.generate", names, generate.generate, MODELS[kind], tok, prompt, n, temperature, top_k,
                       top_p, seed)
    if ok:
        assert text.startswith(prompt)
        pieces = list(generate.stream(MODELS[kind], tok, prompt, n, temperature, top_k, top_p, seed))
        if seed is not None:
            assert prompt + "".join(pieces) == text


# ------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    model = tiny_model("gpt")
    history = train.fit(model, TRAIN_IDS, None, train.TrainConfig(steps=2, batch_size=2, seq_len=4, progress=False))
    path = checkpoint.save(folder / "good.lmlib", model, CHAR_TOK, history=history, extra={"note": "x"})
    return path, model


def _header(raw: bytes):
    n = int.from_bytes(raw[:8], "little")
    return n, json.loads(raw[8:8 + n])


def _with_header(raw: bytes, header: dict) -> bytes:
    n, _ = _header(raw)
    new = json.dumps(header, default=repr).encode()
    return len(new).to_bytes(8, "little") + new + raw[8 + n:]


CONFIG_EDITS = st.fixed_dictionaries({}, optional={
    k: st.one_of(JUNK, HUGE, st.integers(0, 40)) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")
} | {"bias": JUNK, "dropout": JUNK, "colour": JUNK})


@examples(3)
@given(attack=st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10**9), st.just(0)),
    st.tuples(st.just("config"), CONFIG_EDITS, st.just(0)),
    st.tuples(st.just("meta"), st.sampled_from(["format", "model_kind", "tokenizer", "history", "extra",
                                                "model_config", "sha256", "lmlib_version"]), JUNK),
    st.tuples(st.just("entry"), st.integers(0, 30), st.sampled_from(["dtype", "shape", "data_offsets"])),
    st.tuples(st.just("garbage"), st.binary(max_size=64), st.just(0)),
))
def test_damaged_and_hostile_checkpoints(good_file, tmp_path_factory, monkeypatch, attack):
    path, model = good_file
    raw = path.read_bytes()
    what, a, b = attack
    if what == "flip":
        position = a % len(raw)
        damaged = bytearray(raw)
        damaged[position] ^= 1 << b
        damaged = bytes(damaged)
    elif what == "truncate":
        damaged = raw[:a % len(raw)]
    elif what == "config":
        _, header = _header(raw)
        config = json.loads(header["__metadata__"]["model_config"])
        config.update(a)
        header["__metadata__"]["model_config"] = json.dumps(config, default=repr)
        damaged = _with_header(raw, header)
    elif what == "meta":
        _, header = _header(raw)
        header["__metadata__"][a] = b if isinstance(b, str) else json.dumps(b, default=repr)
        damaged = _with_header(raw, header)
    elif what == "entry":
        _, header = _header(raw)
        names = sorted(k for k in header if k != "__metadata__")
        header[names[a % len(names)]][b] = {"dtype": "I8", "shape": [10**12], "data_offsets": [0, 10**15]}[b]
        damaged = _with_header(raw, header)
    else:
        damaged = a
    target = tmp_path_factory.mktemp("bad") / "bad.lmlib"
    target.write_bytes(damaged)
    built = []
    real_build = checkpoint.build

    def spy(kind, config):
        model = real_build(kind, config)
        meta = next(model.parameters()).device.type == "meta"
        built.append((config, 0 if meta else models.count_parameters(model)))
        return model

    monkeypatch.setattr(checkpoint, "build", spy)
    stored_elements = max(0, len(damaged) - 8) // 2  # the most float16 elements the file can hold
    names = ("bad.lmlib",)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        ok, out = attempt("checkpoint.load", names, checkpoint.load, target)
    for config, n_params in built:  # the stated bound: only small probes, or a model no bigger than the file
        probe = config["vocab_size"] <= 14 and config.get("block_size", 0) <= 22 and config["n_layer"] <= 2
        assert n_params <= (30_000_000 if probe else stored_elements), (config, n_params)
    if ok:
        loaded, tok = out
        # whatever loaded must be exactly what was saved (a harmless change, e.g. a flipped bit in JSON spacing)
        idx = torch.tensor([[1, 2, 3]])
        assert torch.equal(loaded(idx), model.eval()(idx)) and tok.to_dict() == CHAR_TOK.to_dict()
    for reader, label in ((checkpoint.read_metadata, "checkpoint.read_metadata"),
                          (checkpoint.load_history, "checkpoint.load_history")):
        attempt(label, names, reader, target)


@examples()
@given(path=st.one_of(JUNK, st.just("folder"), st.just("missing/x.lmlib"), st.just("ok.lmlib")),
       model=mix(st.sampled_from(sorted(MODELS))), tok=mix(st.sampled_from(["char", "byte"])),
       history=st.one_of(st.none(), st.just("history"), JUNK), extra=st.one_of(st.none(), JUNK))
def test_save(tmp_path_factory, path, model, tok, history, extra):
    folder = tmp_path_factory.mktemp("save")
    (folder / "folder").mkdir()
    if isinstance(path, (str, Path)):  # never a file outside the test's folder
        path = folder / path
    model = MODELS.get(model, model) if isinstance(model, str) else model
    tok = {"char": CHAR_TOK, "byte": tokenizers.ByteTokenizer()}.get(tok, tok) if isinstance(tok, str) else tok
    if history == "history":
        history = train.History(steps=[1], train_loss=[1.0], val_loss=[float("nan")], step_loss=[1.0], lr=[0.1])
    names = ("path", "model", "tokenizer", "history", "extra", "folder", "JSON")
    ok, written = attempt("checkpoint.save", names, checkpoint.save, path, model, tok, history, extra)
    if ok:
        loaded, tok2 = checkpoint.load(written)
        assert torch.equal(loaded(torch.tensor([[1, 2]])), model.eval()(torch.tensor([[1, 2]])))
        assert sorted(p.name for p in written.parent.iterdir() if p.name.startswith(written.name)) == [written.name]


@examples()
@given(name=st.one_of(JUNK, st.sampled_from(["first-taste", "../../x", "/etc/passwd", ".", "first-taste.lmlib"])),
       device=st.one_of(st.just("cpu"), JUNK))
def test_bundled_and_device(name, device):
    ok, path = attempt("checkpoint.bundled", ("bundled checkpoint",), checkpoint.bundled, name)
    if ok:
        assert path.parent.name == "assets" and path.name == "first-taste.lmlib"
        ok, out = attempt("checkpoint.load", ("device",), checkpoint.load, path, device)
        if ok:
            assert out[0].device == torch.device("cpu")


# ------------------------------------------------------------------ dashboard


@pytest.fixture(scope="module")
def dash():
    tok = tokenizers.ByteTokenizer()
    ids = tok.encode("The quick brown fox jumps over the lazy dog. " * 6)
    settings = dashboard.DashboardSettings(kind="gru", embedding_dim=8, hidden_dim=8, steps=2, seq_len=8,
                                           batch_size=2, eval_interval=2, sample_tokens=3)
    return dashboard.Dashboard(ids, ids, tok, settings)


SETTING_VALUES = {
    "kind": mix(st.sampled_from(dashboard.KINDS)), "embedding_dim": mix(st.integers(1, 8)),
    "hidden_dim": mix(st.integers(1, 8)), "n_layer": mix(st.integers(1, 2)), "n_head": mix(st.integers(1, 4)),
    "lr": mix(st.floats(1e-5, 1)), "seq_len": mix(st.integers(1, 16)), "batch_size": mix(st.integers(1, 4)),
    "steps": mix(st.integers(1, 3)), "eval_interval": mix(st.integers(1, 3)), "seed": mix(st.integers(0, 9)),
    "prompt": mix(TEXT_ANY), "sample_tokens": mix(st.integers(0, 5)), "colour": JUNK,
}


@examples(1.5)
@given(overrides=st.fixed_dictionaries({}, optional=SETTING_VALUES))
def test_dashboard_train(dash, overrides):
    before = dash.model
    OUTCOMES["Dashboard.train"]["calls"] += 1
    history = dash.train(**overrides)  # never raises: a bad setting is a message in the dashboard
    if history is None:
        assert 'color:#cf222e' in dash.status.value
        assert dash.model is before or "Cannot train" not in dash.status.value
        OUTCOMES["Dashboard.train"]["refused with a message"] += 1
    else:
        assert dash.history is history and not dash.train_button.disabled and dash.stop_button.disabled
        OUTCOMES["Dashboard.train"]["trained"] += 1


@examples()
@given(values=st.fixed_dictionaries({k: v for k, v in SETTING_VALUES.items() if k != "colour"}),
       vocab=mix(st.integers(1, 300)))
def test_dashboard_settings(values, vocab):
    ok, settings = attempt("dashboard.check_settings", tuple(SETTING_VALUES), dashboard.check_settings,
                           dashboard.DashboardSettings(**values))
    if ok:
        ok, model = attempt("dashboard.build_model", tuple(SETTING_VALUES) + ("vocab_size", "n_embd", "config"),
                            dashboard.build_model, settings, vocab)
        if ok:
            assert model.config.vocab_size == vocab


# ------------------------------------------------------------------ growth, envreport, symbolic, plotting


@examples()
@given(years=mix(st.lists(st.floats(1900, 2100), max_size=5)), counts=mix(st.lists(st.floats(1e-3, 1e12), max_size=5)))
def test_exponential_fits(years, counts):
    ok, fit = attempt("growth.fit_exponential", ("years", "counts", "fit"), growth.fit_exponential, years, counts)
    if ok:
        assert -1e-9 <= fit.r2 <= 1 + 1e-9
        assert growth.doubling_time(years, counts) == fit.doubling_time
        attempt("ExponentialFit.predict", ("year",), fit.predict, 2000.0)


@examples()
@given(s=st.one_of(st.floats(0, 1), JUNK), n=st.one_of(st.floats(1, 1e6), st.just(math.inf), JUNK))
def test_amdahl(s, n):
    ok, value = attempt("growth.amdahl_speedup", ("serial_fraction", "n"), growth.amdahl_speedup, s, n)
    if ok:
        assert 1 <= value <= n * (1 + 1e-9) or (value == math.inf and s == 0)


@examples()
@given(ns=mix(st.lists(st.integers(1, 16), min_size=1, max_size=4)), sp=mix(st.lists(st.floats(0.1, 20), max_size=4)))
def test_serial_fraction(ns, sp):
    ok, value = attempt("growth.fit_serial_fraction", ("n_threads", "speedups", "thread counts", "measurement"),
                        growth.fit_serial_fraction, ns, sp)
    if ok:
        assert 0 <= value <= 1


@examples()
@given(top=st.one_of(st.none(), st.integers(1, 64), JUNK))
def test_thread_counts(top):
    ok, counts = attempt("growth.thread_counts", ("max_threads",), growth.thread_counts, top)
    if ok:
        assert counts[0] == 1 and counts == sorted(set(counts)) and counts[-1] == (top or growth.available_threads())


@examples(0.5)
@given(n=st.one_of(st.integers(1, 2), JUNK))
def test_threads_context(n):
    before = torch.get_num_threads()

    def enter():
        with growth.threads(n):
            return torch.get_num_threads()

    ok, inside = attempt("growth.threads", ("n",), enter)
    assert torch.get_num_threads() == before
    if ok:
        assert inside == n


@examples(0.3)
@given(make=mix(st.just(lambda: tiny_model("gru"))), n_threads=mix(st.just([1])),
       config=mix(st.just(train.TrainConfig(steps=1, batch_size=1, seq_len=4))), repeats=mix(st.just(1)),
       max_seconds=st.one_of(st.none(), st.just(5.0), JUNK))
def test_measure_throughput(make, n_threads, config, repeats, max_seconds):
    ok, runs = attempt("growth.measure_throughput", ("make_model", "n_threads", "config", "repeats", "max_seconds",
                                                     "train_ids"),
                       growth.measure_throughput, make, TRAIN_IDS, n_threads, config, repeats, max_seconds, 0)
    if ok:
        assert runs[0].steps == 1 and runs[0].tokens_per_second > 0


@examples(0.5)
@given(packages=st.one_of(st.just(envreport.PACKAGES), st.lists(st.text(max_size=5), max_size=2), JUNK))
def test_envreport(packages):
    ok, out = attempt("envreport.versions", ("packages",), envreport.versions, packages)
    if ok:
        assert list(out) == list(dict.fromkeys(packages)) and all(isinstance(v, str) for v in out.values())  # a name once
    assert envreport.one_line().startswith("Python ") and "torch version" in envreport.report()


@examples(0.5)
@given(overrides=st.fixed_dictionaries({}, optional={
    "x": mix(st.lists(st.integers(-3, 3), min_size=3, max_size=3)), "lr": mix(st.sampled_from(["1/10", 0.5, "abc"])),
    "y": mix(st.sampled_from([0, 1])), "W1": JUNK, "b2": JUNK, "z": JUNK}))
def test_worked_example(overrides):
    from lmlib import worked_example

    ok, example = attempt("worked_example.worked_example", ("x", "lr", "y", "W1", "b1", "W2", "b2", "worked-example",
                                                             "shapes"), worked_example.worked_example, **overrides)
    if ok:
        import sympy as sp

        assert sp.N(example.loss_after).is_finite and sp.N(example.loss).is_finite


@examples(0.5)
@given(data_=st.one_of(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=2, max_size=4), JUNK),
       lr=mix(st.floats(0.001, 1)), start=mix(st.tuples(st.floats(-2, 2), st.floats(-2, 2))),
       steps=mix(st.integers(0, 5)), optimizer=mix(st.sampled_from(["sgd", "momentum", "adam"])))
def test_surfaces_and_paths(data_, lr, start, steps, optimizer):
    from lmlib import surfaces

    ok, surface = attempt("surfaces.line_fit_surface", ("data", "pair"), surfaces.line_fit_surface, data_)
    if not ok:
        return
    ok, path = attempt("surfaces.descent_path", ("lr", "start", "steps", "max_loss"), surfaces.descent_path, surface,
                       lr, start, steps)
    if ok:
        assert 1 <= len(path) <= steps + 1 and path[0] == (float(start[0]), float(start[1]))
    ok, path = attempt("surfaces.optimizer_path", ("optimizer", "lr", "start", "steps", "momentum", "beta"),
                       surfaces.optimizer_path, surface, optimizer, lr, start, steps)
    if ok:
        assert len(path) == steps + 1


@examples(0.2)
@given(n_in=mix(st.integers(1, 2)), n_hidden=mix(st.integers(1, 2)), n_out=mix(st.integers(1, 2)),
       output=mix(st.sampled_from(["sigmoid", "softmax"])))
def test_two_layer_net(n_in, n_hidden, n_out, output):
    from lmlib import symbolic

    ok, net = attempt("symbolic.TwoLayerNet.build", ("n_in", "n_hidden", "n_out", "output", "softmax"),
                      symbolic.TwoLayerNet.build, n_in, n_hidden, n_out, output)
    if ok:
        assert symbolic.two_layer_error(net) < 1e-9


@examples(0.5)
@given(lhs=mix(st.just("x")), rhs=mix(st.just(1)), args=mix(st.just(["z"])))
def test_symbolic_display_and_compile(lhs, rhs, args):
    import sympy as sp

    from lmlib import symbolic

    attempt("symbolic.equation", ("lhs", "rhs"), symbolic.equation, lhs, rhs)
    z = sp.Symbol("z")
    symbols = [z] if isinstance(args, list) and args == ["z"] else args
    ok, fn = attempt("symbolic.to_torch", ("args", "expr", "symbol"), symbolic.to_torch, z ** 2, symbols)
    if ok:
        assert torch.equal(fn(torch.tensor([3.0])), torch.tensor([9.0]))


@examples(0.5)
@given(history=st.one_of(st.none(), st.just(train.History(steps=[1], train_loss=[1.0], val_loss=[1.0],
                                                             step_loss=[1.0])), JUNK),
       title=mix(st.text(max_size=5)), height=mix(st.integers(10, 500)), config=st.one_of(st.none(), JUNK))
def test_plotting(history, title, height, config):
    from lmlib import plotting

    ok, fig = attempt("plotting.loss_figure", ("history", "title", "height"), plotting.loss_figure, history, title,
                      height)
    if ok:
        ok, bundle = attempt("plotting.mimebundle", ("config", "fig"), plotting.mimebundle, fig, config)
        if ok:
            assert "text/plain" in bundle
