import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn
from lmlib import generate, tokenizers, train


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
