"""Issue 14's rule for the modules that came later (chapter 6's metrics, baselines, adapt, retrieval, chat,
taskdata; chapter 7's profiling, debugging, bibliography, TensorBoard and JAX helpers): bad input gets a ValueError or TypeError that names the argument and what
is allowed, never an AttributeError/IndexError from inside, a hang, or a silently wrong result.

Every case here failed before its check was added (an unclear error, a wrong number, or minutes of work).
Functions whose source a chapter shows (retrieval.BM25.scores, chat.prompt_for) keep that source: their
callers and helpers check instead.
"""

import time

import pytest
import torch

from lmlib import adapt, baselines, bibliography, chat, debugging, metrics, models, profiling, retrieval, taskdata
from lmlib import tensorboard_log, tokenizers


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return models.GPT(models.GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=1, n_embd=8))


@pytest.fixture(scope="module")
def byte_gpt():
    torch.manual_seed(0)
    return models.GPT(models.GPTConfig(vocab_size=256, block_size=32, n_layer=1, n_head=1, n_embd=8))


CASES = [
    # metrics: a lone string where a list of strings belongs used to be scored character by character
    (lambda m: metrics.char_error_rate("abc", "abd"), TypeError, r"pred must be a list of strings"),
    (lambda m: metrics.rouge("a b", "a c"), TypeError, r"pred must be a list of strings"),
    (lambda m: metrics.exact_match(["a"], [1]), TypeError, r"gold must hold strings only"),
    (lambda m: metrics.accuracy(None, [1]), TypeError, r"pred must be a sequence"),
    (lambda m: metrics.edit_distance(None, "a"), TypeError, r"a must be a sequence"),
    (lambda m: metrics.rouge_n("a b", "a b", 0), ValueError, r"n must be a positive int"),
    (lambda m: metrics.rouge_n(None, "a b"), TypeError, r"pred must be a str"),
    (lambda m: metrics.rouge_l("a", 3), TypeError, r"ref must be a str"),
    (lambda m: metrics.words(None), TypeError, r"text must be a str"),
    (lambda m: metrics.bootstrap_interval([1.0, 0.0], samples=0), ValueError, r"samples must be an int in \[1, "),
    (lambda m: metrics.bootstrap_interval([1.0, 0.0], samples=10**12), ValueError, r"samples must be an int in \[1, "),
    (lambda m: metrics.bootstrap_interval([1.0, float("nan")]), ValueError, r"scores must be finite numbers"),
    # taskdata
    (lambda m: taskdata.split_items([], test_fraction=-1), ValueError, r"test_fraction must be strictly between"),
    (lambda m: taskdata.split_items([1], key=3), TypeError, r"key must be a function"),
    (lambda m: taskdata.tag_bytes(None), TypeError, r"source must be a str"),
    (lambda m: taskdata.code_samples(-5), ValueError, r"max_chars must be a positive int"),
    # baselines
    (lambda m: baselines.BagOfWords(min_count=1).fit(["a b", "c"], [0, 5], 2), ValueError, r"labels must be in 0..1"),
    (lambda m: baselines.BagOfWords().fit("abc", [0, 1, 0], 2), TypeError, r"texts must be a list of strings"),
    (lambda m: baselines.BagOfWords("char", ngram=(3, 1)), ValueError, r"ngram must be a pair of ints"),
    (lambda m: baselines.LookupTagger().fit([("ab", [0, 0])]), TypeError, r"\(bytes, tags\) pair"),
    (lambda m: baselines.LookupTagger().fit([]), ValueError, r"samples hold no tagged bytes"),
    (lambda m: baselines.lead_sentence(None), TypeError, r"text must be a str"),
    (lambda m: baselines.nearest_translation("a", ["ab"]), TypeError, r"train must be a list of \(source, translation\)"),
    # adapt
    (lambda m: adapt.pad_batch([[1, 2]], 0), ValueError, r"max_len must be an int >= 1"),
    (lambda m: adapt.features(m, [[1]], batch_size=0, progress=False), ValueError, r"batch_size must be an int >= 1"),
    (lambda m: adapt.features(m, [[1]], pool="median", progress=False), ValueError, r"pool must be 'mean' or 'last'"),
    (lambda m: adapt.fit_linear(torch.randn(2, 4), [0, 0], 0), ValueError, r"n_classes must be an int >= 1"),
    (lambda m: adapt.fit_linear(torch.randn(2, 4), [0, 1], 2, steps=-1), ValueError, r"steps must be an int >= 0"),
    (lambda m: adapt.fit_linear(torch.randn(2, 4), [0, 1], 2, lr=float("nan")), ValueError, r"lr must be a finite number"),
    (lambda m: adapt.finetune_classifier(m, [[1, 2]], [5], 2, steps=1, progress=False), ValueError,
     r"labels must be in 0..1"),
    (lambda m: adapt.complete_batch(m, [[1, 2]], -1), ValueError, r"max_new_tokens must be an int >= 0"),
    (lambda m: adapt.tagging_features(m, torch.zeros(1, 4, dtype=torch.long), -1, progress=False), ValueError,
     r"lookahead must be an int >= 0"),
    (lambda m: adapt.predict("not tuned", [[1]]), ValueError, r"tuned must be what finetune_classifier returned"),
    # retrieval
    (lambda m: retrieval.BM25("abc"), TypeError, r"documents must be a list of strings"),
    (lambda m: retrieval.BM25(["a b"], k1=float("inf")), ValueError, r"need k1 >= 0"),
    (lambda m: retrieval.BM25(["a b", "c"]).scores(None), TypeError, r"text must be a str"),
    (lambda m: retrieval.BM25(["a b", "c"]).rank("a", k=0), ValueError, r"k must be an int >= 1"),
    (lambda m: retrieval.dense_ranking(torch.randn(2, 3), torch.randn(4, 3), k=0), ValueError, r"k must be an int >= 1"),
    (lambda m: retrieval.dense_ranking([[1.0]], [[1.0]]), ValueError, r"queries and documents must be tensors"),
    (lambda m: retrieval.top_k_accuracy([[0, 1]], [0], 0), ValueError, r"k must be an int >= 1"),
    # chat
    (lambda m: chat.Turn("wizard", "hi"), ValueError, r"role must be 'user' or 'assistant'"),
    (lambda m: chat.Turn("user", None), TypeError, r"text must be a str"),
    (lambda m: chat.ChatTemplate(user=None), TypeError, r"user must be a str"),
    (lambda m: chat.ChatTemplate(end=""), ValueError, r"end must be a non-empty marker"),
    (lambda m: chat.reply(m, tokenizers.ByteTokenizer(), "hello"), TypeError, r"history must be a list of Turn"),
    (lambda m: chat.reply(m, tokenizers.ByteTokenizer(), [chat.Turn("user", "hi")], max_new_tokens=2), ValueError,
     r"tokenizer has 256 tokens but the model expects 20"),
    (lambda m: chat.chat_examples([("q", "a")], tokenizers.ByteTokenizer(), turns=0), ValueError,
     r"turns must be an int >= 1"),
    (lambda m: chat.chat_examples(["qa"], tokenizers.ByteTokenizer()), TypeError, r"pairs must be a list of \(question"),
    (lambda m: chat.transcript_html(["hi"]), TypeError, r"history must be a list of Turn"),
    # profiling
    (lambda m: profiling.profile_steps(3), TypeError, r"step must be a function"),
    (lambda m: profiling.time_steps({"a": 1}), TypeError, r"steps must be a dict \{name: function"),
    # chapter 7's other helpers
    (lambda m: tensorboard_log.token_labels(None, -1), ValueError, r"vocab_size must be an int >= 0"),
    (lambda m: bibliography.parse_bibtex(None), TypeError, r"text must be the BibTeX source as a str"),
    (lambda m: bibliography.identifier(None), TypeError, r"entry must be a BibEntry"),
    (lambda m: bibliography.cited_keys(b"{cite}`x`"), TypeError, r"text must be a str"),
    (lambda m: debugging.shorten_paths(None), TypeError, r"text must be a str"),
]


@pytest.mark.parametrize("call, error, message", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_input_gets_a_clear_error(gpt, call, error, message):
    started = time.perf_counter()
    with pytest.raises(error, match=message):
        call(gpt)
    assert time.perf_counter() - started < 10  # refused, not worked through (a 10**12-sample bootstrap ran for hours)


def test_jax_train_step_refuses_a_negative_learning_rate():
    jax_twin = pytest.importorskip("lmlib.jax_twin")
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
        jax_twin.make_train_step(-1.0)
    with pytest.raises(ValueError, match=r"betas must be two floats"):
        jax_twin.make_train_step(0.1, betas=(0.9, 1.0))


def test_valid_input_still_works(byte_gpt):
    assert metrics.char_error_rate(["abc"], ["abd"]) == pytest.approx(1 / 3)
    assert metrics.bootstrap_interval([True, False, True], samples=50) <= (1.0, 1.0)
    assert metrics.rouge_n("a b", "a b", 2) == 1.0
    assert retrieval.BM25(("x y", "z")).rank("z", k=1) == [1]
    assert retrieval.top_k_accuracy([[1, 0]], [0], 2) == 1.0
    assert adapt.pad_batch([[1, 2, 3]], 2)[0].tolist() == [[1, 2]]
    tok = tokenizers.ByteTokenizer()
    history = [chat.Turn("user", "hi")]
    assert chat.prompt_for(history, tok, chat.ChatTemplate(), 20) == tok.encode("User: hi\nBot: ")
    assert isinstance(chat.reply(byte_gpt, tok, history, max_new_tokens=3), str)
    assert "hi" in chat.transcript_html(history, note="n")
    assert chat.chat_examples([("q", "a")], tok, turns=1, small_talk=())[0][0] == tok.encode("User: q\nBot: a\n")
    assert baselines.LookupTagger().fit([(b"abcde", [1, 2, 3, 4, 5])]).predict(b"abcde") == [1, 2, 3, 4, 5]
