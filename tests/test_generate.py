import re

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn
from lmlib import generate, models, tokenizers, train


@pytest.fixture(scope="module")
def trained():
    """A tiny byte-level GPT trained for a few steps, so its distribution is not uniform."""
    tok = tokenizers.ByteTokenizer()
    model = tiny_gpt(tok.vocab_size, block_size=16)
    cfg = train.TrainConfig(steps=60, batch_size=8, seq_len=16, lr=1e-2, progress=False)
    train.fit(model, tok.encode(TINY_TEXT), None, cfg)
    return model, tok


def test_temperature_zero_is_greedy(trained):
    model, tok = trained
    ids = tok.encode("The quick")
    expected = list(ids)
    for _ in range(5):
        logits = model(torch.tensor([expected[-16:]], device=model.device))
        expected.append(int(logits[0, -1].argmax()))
    out = generate.generate(model, tok, "The quick", max_new_tokens=5, temperature=0)
    assert out == tok.decode(expected)


@pytest.mark.parametrize("block_size", [16, 64])
def test_cached_and_uncached_greedy_agree_past_the_block_size(block_size):
    model = tiny_gpt(256, block_size=block_size, seed=3)
    prompt = list(b"Hello")
    a = list(generate.generate_ids(model, prompt, max_new_tokens=3 * block_size, temperature=0, use_cache=True))
    b = list(generate.generate_ids(model, prompt, max_new_tokens=3 * block_size, temperature=0, use_cache=False))
    assert a == b
    assert len(a) == 3 * block_size


def test_long_prompt_is_cut_to_the_block(trained):
    model, tok = trained
    prompt = TINY_TEXT[:100]
    out = generate.generate(model, tok, prompt, max_new_tokens=4, temperature=0)
    # the model sees only the last block_size // 2 = 8 tokens of a prompt longer than its block
    assert out == prompt + generate.generate(model, tok, prompt[-8:], max_new_tokens=4, temperature=0)[8:]


def test_seeded_sampling_repeats_and_starts_with_prompt(trained):
    model, tok = trained
    a = generate.generate(model, tok, "The ", 40, temperature=0.8, top_k=20, top_p=0.95, seed=0)
    b = generate.generate(model, tok, "The ", 40, temperature=0.8, top_k=20, top_p=0.95, seed=0)
    c = generate.generate(model, tok, "The ", 40, temperature=0.8, top_k=20, top_p=0.95, seed=1)
    ids = generate.generate_ids(model, tok.encode("The "), 40, temperature=0.8, top_k=20, top_p=0.95, seed=0)
    assert a == b == "The " + tok.decode(list(ids))
    assert a != c


def test_stream_yields_pieces_that_add_up(trained):
    model, tok = trained
    pieces = list(generate.stream(model, tok, "The ", max_new_tokens=30, seed=0))
    assert len(pieces) > 1
    assert "".join(pieces) == tok.decode(list(generate.generate_ids(model, tok.encode("The "), 30, seed=0)))


def test_stream_waits_for_whole_characters(monkeypatch, trained):
    model, tok = trained
    fake = [0xE8, 0xBF, 0x99, 0x41, 0xFF]  # the three bytes of "这", then "A", then an invalid byte

    def fake_ids(*args, **kwargs):
        yield from fake

    monkeypatch.setattr(generate, "generate_ids", fake_ids)
    assert list(generate.stream(model, tok, "x", max_new_tokens=5)) == ["这", "A", "\ufffd"]


def test_rnn_generates_any_unicode_prompt_with_bytes():
    tok = tokenizers.ByteTokenizer()
    model = tiny_rnn(256)
    out = generate.generate(model, tok, "这是一个", max_new_tokens=10, seed=0)
    assert out == "这是一个" + tok.decode(list(generate.generate_ids(model, tok.encode("这是一个"), 10, seed=0)))


def test_top_k_keeps_k_tokens():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    probs = generate.next_token_probs(logits, temperature=1.0, top_k=2)
    assert (probs > 0).tolist() == [False, True, True, False]
    assert float(probs.sum()) == pytest.approx(1.0)


def test_top_p_keeps_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert (generate.next_token_probs(logits, top_p=0.5) > 0).tolist() == [True, False, False, False]
    assert (generate.next_token_probs(logits, top_p=0.8) > 0).tolist() == [True, True, False, False]
    assert (generate.next_token_probs(logits, top_p=0.81) > 0).tolist() == [True, True, True, False]
    assert (generate.next_token_probs(logits, top_p=1.0) > 0).all()


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([2.0, 1.0, 0.0])
    cold = generate.next_token_probs(logits, temperature=0.5)
    hot = generate.next_token_probs(logits, temperature=2.0)
    assert cold[0] > generate.next_token_probs(logits)[0] > hot[0]
    assert generate.next_token_probs(logits, temperature=0).tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=-0.1), "temperature must be a finite number >= 0"),
        (dict(top_k=0), "top_k must be a positive int or None, got 0"),
        (dict(top_k=2.5), "top_k must be a positive int"),
        (dict(top_p=0.0), r"top_p must be in \(0, 1\] or None, got 0.0"),
        (dict(top_p=1.5), r"top_p must be in \(0, 1\]"),
        (dict(max_new_tokens=-1), "max_new_tokens must be an int >= 0"),
    ],
)
def test_invalid_sampling_arguments(trained, kwargs, message):
    model, tok = trained
    with pytest.raises(ValueError, match=message):
        generate.generate(model, tok, "The ", **{"max_new_tokens": 5, **kwargs})


def test_empty_prompt_and_wrong_tokenizer(trained):
    model, tok = trained
    with pytest.raises(ValueError, match="at least one token"):
        generate.generate(model, tok, "", 5)
    with pytest.raises(ValueError, match="tokenizer has 3 tokens but the model expects 256"):
        generate.generate(model, tokenizers.CharTokenizer.fit("abc"), "ab", 5)


def test_generation_leaves_training_mode_as_it_was(trained):
    model, tok = trained
    model.train()
    generate.generate(model, tok, "a", 2)
    assert model.training
    model.eval()


def test_sampling_inverts_the_cdf_at_one_uniform_per_row():
    logits = torch.log(torch.tensor([0.5, 0.0, 0.3, 0.2]))
    draws = generate.sample(logits.expand(100_000, 4), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / 100_000
    assert freq[1] == 0 and freq.tolist() == pytest.approx([0.5, 0.0, 0.3, 0.2], abs=0.01)
    # The tokens follow from torch.rand alone (not torch.multinomial, whose algorithm changed between
    # torch releases): u = rand * total, token = first index whose cumulative probability exceeds u.
    u = torch.rand(8, 1, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    expected = [0 if x < 0.5 else 2 if x < 0.8 else 3 for x in u.view(-1).tolist()]
    got = generate.sample(logits.expand(8, 4), generator=torch.Generator().manual_seed(7)).tolist()
    assert got == expected
    assert generate.sample(logits, top_k=1, generator=torch.Generator().manual_seed(0)).item() == 0


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py): each test pins one promise of the module that a planted bug broke unnoticed.


@pytest.mark.parametrize("logits, what", [
    ([1.0, 2.0], "list"),
    (torch.tensor([1, 2]), "a tensor of dtype torch.int64 and shape (2,)"),
    (torch.tensor(1.0), "a tensor of dtype torch.float32 and shape ()"),
    (torch.zeros(3, 0), "a tensor of dtype torch.float32 and shape (3, 0)"),
])
def test_logits_that_are_not_a_distribution_are_named(logits, what):
    message = f"logits must be a floating-point tensor (..., vocab_size) with vocab_size >= 1, got {what}"
    for fn in (generate.sample, generate.next_token_probs, generate.filter_logits):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(logits)


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=float("nan")), "temperature must be a finite number >= 0 (0 means greedy), got nan"),
    (dict(temperature=float("inf")), "temperature must be a finite number >= 0 (0 means greedy), got inf"),
    (dict(temperature=True), "temperature must be a finite number >= 0 (0 means greedy), got True"),
    (dict(temperature="1"), "temperature must be a finite number >= 0 (0 means greedy), got '1'"),
    (dict(top_k=True), "top_k must be a positive int or None, got True"),
    (dict(top_k=-3), "top_k must be a positive int or None, got -3"),
    (dict(top_p=True), "top_p must be in (0, 1] or None, got True"),
    (dict(top_p="0.5"), "top_p must be in (0, 1] or None, got '0.5'"),
    (dict(top_p=-0.5), "top_p must be in (0, 1] or None, got -0.5"),
])
def test_sampling_settings_are_checked_everywhere(kwargs, message):
    logits = torch.tensor([0.0, 1.0])
    for fn in (generate.sample, generate.next_token_probs):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(logits, **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        list(generate.generate_ids(tiny_rnn(4), [1], 1, **kwargs))


def test_edges_of_the_sampling_ranges_are_accepted():
    logits = torch.tensor([0.0, 1.0, 2.0])
    assert generate.next_token_probs(logits, top_k=1).tolist() == [0.0, 0.0, 1.0]
    assert generate.next_token_probs(logits, top_k=3).tolist() == generate.next_token_probs(logits).tolist()
    assert generate.next_token_probs(logits, top_k=10).tolist() == generate.next_token_probs(logits).tolist()
    assert generate.next_token_probs(logits, top_p=1e-300).tolist() == [0.0, 0.0, 1.0]  # the top token stays
    assert generate.filter_logits(logits).tolist() == logits.tolist()  # nothing to filter: a copy
    assert generate.filter_logits(logits) is not logits


def test_top_p_of_one_keeps_even_a_vanishing_token():
    logits = torch.tensor([0.0, -80.0])  # the second token's probability, ~2e-35, rounds to a total of exactly 1
    assert generate.next_token_probs(logits, top_p=1.0)[1] > 0
    assert generate.filter_logits(logits, top_p=1.0)[1] == -80.0
    assert generate.filter_logits(logits, top_p=0.999)[1] == float("-inf")


def test_filtering_works_row_by_row():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    kept = generate.filter_logits(logits, top_k=2).isfinite().tolist()
    assert kept == [[True, True, False, False], [False, False, True, True]]
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    kept = generate.filter_logits(probs.log(), top_p=0.75).isfinite().tolist()
    assert kept == [[True, True, False], [False, True, True]]


def test_greedy_probabilities_keep_the_logits_dtype_and_a_tiny_temperature_is_greedy():
    logits = torch.tensor([[0.0, 3.0, 1.0]], dtype=torch.float64)
    greedy = generate.next_token_probs(logits, temperature=0)
    assert greedy.dtype == torch.float64 and greedy.tolist() == [[0.0, 1.0, 0.0]]
    assert generate.next_token_probs(logits, temperature=1e-300).tolist() == [[0.0, 1.0, 0.0]]
    assert generate.next_token_probs(logits.float(), temperature=1e-45).tolist() == [[0.0, 1.0, 0.0]]


def test_sample_shapes_greedy_and_bad_logits():
    logits = torch.tensor([[[0.0, 5.0, 1.0], [9.0, 0.0, 1.0]]])  # (1, 2, 3)
    assert generate.sample(logits, temperature=0).tolist() == [[1, 0]]
    drawn = generate.sample(logits, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == (1, 2) and drawn.dtype == torch.long
    assert generate.sample(torch.tensor([0.0, 0.0, 50.0]), temperature=0.5,
                           generator=torch.Generator().manual_seed(0)).item() == 2
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        generate.sample(logits, generator=3)
    for bad in ([0.0, float("nan")], [float("-inf"), float("-inf")], [0.0, float("inf")]):
        with pytest.raises(ValueError, match="^" + re.escape("logits give no distribution to sample from (they hold "
                                                             "NaN, +inf, or only -inf)") + "$"):
            generate.sample(torch.tensor(bad), generator=torch.Generator().manual_seed(0))


def test_generate_ids_checks_the_model_seed_cache_flag_and_prompt():
    model = tiny_rnn(5)
    with pytest.raises(ValueError, match="model must be an lmlib model \\(RNNLM or GPT\\), got Linear"):
        list(generate.generate_ids(torch.nn.Linear(2, 2), [1], 1))
    with pytest.raises(ValueError, match=re.escape("seed must be an int in [0, 2**64) or None, got -1")):
        list(generate.generate_ids(model, [1], 1, seed=-1))
    with pytest.raises(ValueError, match=re.escape("seed must be an int in [0, 2**64) or None, got True")):
        list(generate.generate_ids(model, [1], 1, seed=True))
    with pytest.raises(ValueError, match="use_cache must be True or False, got 1"):
        list(generate.generate_ids(model, [1], 1, use_cache=1))
    with pytest.raises(ValueError, match=re.escape("prompt token id 5 is outside the model's vocabulary (0..4)")):
        list(generate.generate_ids(model, [1, 5], 1))
    with pytest.raises(ValueError, match=re.escape("prompt token id -1 is outside the model's vocabulary (0..4)")):
        list(generate.generate_ids(model, [-1], 1))
    with pytest.raises(ValueError, match="prompt_ids must be a sequence of token ids: token ids must be a sequence"):
        list(generate.generate_ids(model, "ab", 1))
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 0, got True"):
        list(generate.generate_ids(model, [1], True))
    with pytest.raises(ValueError, match="^the prompt must encode to at least one token$"):
        list(generate.generate_ids(model, [], 1))
    assert list(generate.generate_ids(model, [1], 0)) == []
    assert len(list(generate.generate_ids(model, [1], 3, seed=2**64 - 1))) == 3  # the largest seed


def test_default_generation_length_is_100_tokens():
    assert len(list(generate.generate_ids(tiny_rnn(4), [1], seed=0))) == 100


def test_a_gpt_with_a_one_token_block_still_generates():
    model = tiny_gpt(7, block_size=1)
    cached = list(generate.generate_ids(model, [1, 2, 3], 5, temperature=0))
    assert cached == list(generate.generate_ids(model, [1, 2, 3], 5, temperature=0, use_cache=False))
    # each token is predicted from the previous one alone
    expected, last = [], 3
    for _ in range(5):
        last = int(model(torch.tensor([[last]], device=model.device))[0, -1].argmax())
        expected.append(last)
    assert cached == expected


def test_stream_checks_its_prompt_tokenizer_and_model():
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    with pytest.raises(ValueError, match="prompt must be a str, got bytes"):
        list(generate.stream(model, tok, b"ab"))
    with pytest.raises(ValueError, match="tokenizer must be an lmlib tokenizer, got str"):
        list(generate.stream(model, "bytes", "ab"))
    with pytest.raises(ValueError, match="model must be an lmlib model"):
        list(generate.stream(None, tok, "ab"))
    with pytest.raises(ValueError, match=r"expects 10; the tokenizer must be the one the model was trained with$"):
        list(generate.stream(tiny_rnn(10), tok, "ab"))


def test_stream_and_generate_pass_every_setting_on(monkeypatch):
    seen = []

    def fake_ids(*args):
        seen.append(args[2:])
        yield from b"ok"

    monkeypatch.setattr(generate, "generate_ids", fake_ids)
    model, tok = tiny_rnn(256), tokenizers.ByteTokenizer()
    assert generate.generate(model, tok, "p", 7, 0.5, 3, 0.9, 11, False) == "pok"
    assert list(generate.stream(model, tok, "p")) == ["o", "k"]
    assert generate.generate(model, tok, "p") == "pok"
    defaults = (100, 1.0, None, None, None, True)
    assert seen == [(7, 0.5, 3, 0.9, 11, False), defaults, defaults]


def test_sampling_settings_are_checked_even_when_unused():
    """Greedy decoding ignores top_k and top_p, and zero new tokens sample nothing: bad values still fail."""
    logits = torch.tensor([1.0, 2.0, 3.0])
    for bad, message in [({"top_k": 0}, "top_k must be a positive int"), ({"top_p": 0.0}, "top_p must be in")]:
        with pytest.raises(ValueError, match=message):
            generate.next_token_probs(logits, temperature=0, **bad)
        with pytest.raises(ValueError, match=message):
            list(generate.generate_ids(tiny_rnn(4), [1], 0, **bad))
        with pytest.raises(ValueError, match=message):
            list(generate.generate_ids(tiny_rnn(4), [1], 2, temperature=0, **bad))
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        generate.filter_logits(logits, top_k=-1)


def test_a_tiny_temperature_turns_greedy_only_the_rows_that_overflow():
    """logits / temperature overflows to inf only where the logits differ; a flat row stays uniform."""
    probs = generate.next_token_probs(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), temperature=1e-40)
    torch.testing.assert_close(probs, torch.tensor([[0.0, 1.0], [0.5, 0.5]]))


def test_a_row_with_no_finite_logit_is_no_distribution_even_beside_a_good_row():
    """Its probabilities stay NaN (sample then names the problem) instead of turning greedy."""
    inf = float("inf")
    probs = generate.next_token_probs(torch.tensor([[-inf, -inf], [1.0, 2.0]]))
    assert probs[0].isnan().all()
    torch.testing.assert_close(probs[1], torch.tensor([1.0, 2.0]).softmax(-1))
    with pytest.raises(ValueError, match="no distribution to sample from"):
        generate.sample(torch.tensor([[-inf, -inf], [1.0, 2.0]]))


def test_token_id_zero_is_a_valid_prompt_token():
    model = tiny_rnn(4)
    assert len(list(generate.generate_ids(model, [0], 3, seed=0))) == 3
    assert len(list(generate.generate_ids(model, [0, 3, 0], 3, seed=0))) == 3
    with pytest.raises(ValueError, match=r"prompt token id -1 is outside the model's vocabulary \(0..3\)"):
        list(generate.generate_ids(model, [0, -1], 1))


def test_a_prompt_that_exactly_fills_the_block_is_read_whole():
    """Only a prompt longer than block_size is cut (to its last block_size // 2 tokens)."""
    model = tiny_gpt(13, block_size=8, seed=3).eval()
    prompt = torch.randint(0, 13, (8,), generator=torch.Generator().manual_seed(0)).tolist()
    whole = int(model(torch.tensor([prompt]))[0, -1].argmax())
    half = int(model(torch.tensor([prompt[-4:]]))[0, -1].argmax())
    assert whole != half  # (so that reading half of it would be noticed)
    for use_cache in (True, False):
        assert list(generate.generate_ids(model, prompt, 1, temperature=0, use_cache=use_cache)) == [whole]


def _spy_on_advance(model):
    """Record (tokens fed, ids checked already?, cached length before the call) for every model.advance."""
    calls, advance = [], model.advance

    def spy(idx, state=None):
        calls.append((idx.shape[1], model._ids_checked, state.length if isinstance(state, models.KVCache) else state))
        return advance(idx, state)

    model.advance = spy
    return calls


@pytest.mark.parametrize("use_cache", [True, False])
def test_what_each_step_feeds_the_model(use_cache):
    """With the cache: the prompt once, then one token at a time onto the cache. Without: the whole text each
    step, from an empty cache. Either way the ids are checked once up front, not on every forward pass."""
    model = tiny_gpt(13, block_size=16)
    calls = _spy_on_advance(model)
    out = list(generate.generate_ids(model, [1, 2, 3], 4, temperature=0, use_cache=use_cache))
    if use_cache:
        assert calls == [(3, True, 0), (1, True, 3), (1, True, 4), (1, True, 5)]
    else:
        assert calls == [(3, True, 0), (4, True, 0), (5, True, 0), (6, True, 0)]
    assert model._ids_checked is False and len(out) == 4


def test_the_one_token_step_is_asked_for_once_and_only_with_the_cache(monkeypatch):
    asked = []
    monkeypatch.setattr(generate, "_one_token_step", lambda model, state, capture: asked.append(capture))
    model = tiny_gpt(13, block_size=16)
    list(generate.generate_ids(model, [1, 2, 3], 4, temperature=0))
    assert asked == [generate.CUDA_GRAPHS]
    list(generate.generate_ids(model, [1, 2, 3], 4, temperature=0, use_cache=False))
    assert asked == [generate.CUDA_GRAPHS]


def test_an_rnn_reads_a_long_prompt_in_pieces_that_keep_its_state(monkeypatch):
    model = tiny_rnn(4)
    prompt = [0, 1, 2, 3, 2, 1, 0, 1, 2]
    whole = list(generate.generate_ids(model, prompt, 3, temperature=0))
    monkeypatch.setattr(generate, "PREFILL_LOGITS", 3 * 4)  # pieces of 3 tokens of a 4-token vocabulary
    calls = _spy_on_advance(model)
    assert list(generate.generate_ids(model, prompt, 3, temperature=0)) == whole
    assert [n for n, _, _ in calls] == [3, 3, 3, 1, 1]  # the prompt in three pieces, then one token a step
    assert calls[0][2] is None and all(state is not None for _, _, state in calls[1:])
    monkeypatch.setattr(generate, "PREFILL_LOGITS", 1)  # smaller than the vocabulary: one token a piece
    calls.clear()
    assert list(generate.generate_ids(model, prompt, 1, temperature=0)) == whole[:1]
    assert [n for n, _, _ in calls] == [1] * 9


class _Wrapped(torch.nn.Module):
    """A model of one's own that offers what generation needs (config, new_state, advance) and nothing more."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def new_state(self):
        return self.inner.new_state()

    def advance(self, idx, state=None):
        return self.inner.advance(idx, state)


def test_a_model_without_ids_checked_generates_the_same_tokens():
    inner = tiny_rnn(5)
    assert not hasattr(_Wrapped(inner), "ids_checked")
    expected = list(generate.generate_ids(inner, [1, 2], 6, seed=3))
    assert list(generate.generate_ids(_Wrapped(inner), [1, 2], 6, seed=3)) == expected
