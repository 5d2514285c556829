"""lmlib.privacy: canaries, their exact exposure (checked against brute force) and extraction."""

import math

import pytest
import torch

from conftest import tiny_gpt
from lmlib import privacy, tokenizers, train


@pytest.fixture
def btok():
    return tokenizers.ByteTokenizer()


def test_canary_lines_and_checks():
    c = privacy.Canary("Ada", "0394", 3)
    assert c.prefix == "Ada's PIN is " and c.line() == "Ada's PIN is 0394\n" and c.line("1111").endswith("1111\n")
    for bad in ("12a4", "", "１２"):
        with pytest.raises(ValueError, match="ASCII digits"):
            privacy.Canary("Ada", bad, 1)
    with pytest.raises(ValueError, match="repeats must be an int >= 0"):
        privacy.Canary("Ada", "12", -1)


def test_make_canaries_is_seeded_and_distinct():
    a = privacy.make_canaries([1, 2, 0], digits=5, seed=3)
    assert a == privacy.make_canaries([1, 2, 0], digits=5, seed=3)
    assert a != privacy.make_canaries([1, 2, 0], digits=5, seed=4)
    assert [c.repeats for c in a] == [1, 2, 0] and len({c.name for c in a}) == 3
    assert all(len(c.secret) == 5 for c in a)
    with pytest.raises(ValueError, match="need as many names"):
        privacy.make_canaries([1] * 30)
    with pytest.raises(ValueError, match="digits must be an int from 1 to 9"):
        privacy.make_canaries([1], digits=0)


def test_insert_canaries_adds_each_line_repeats_times_and_keeps_the_text():
    text = "".join(f"line {i}\n" for i in range(20))
    canaries = privacy.make_canaries([3, 1, 0], seed=0)
    out = privacy.insert_canaries(text, canaries, seed=0)
    lines = out.splitlines(keepends=True)
    for c in canaries:
        assert lines.count(c.line()) == c.repeats
    assert [x for x in lines if x.startswith("line")] == text.splitlines(keepends=True)
    assert out == privacy.insert_canaries(text, canaries, seed=0)


def test_candidate_logprobs_match_brute_force(btok):
    model = tiny_gpt(256, block_size=32).eval()
    prefix = "Bo's PIN is "
    scores = privacy.candidate_logprobs(model, btok, prefix, 2, batch_size=7)
    n = len(btok.encode(prefix))
    with torch.no_grad():
        for value in (0, 7, 42, 99):
            ids = torch.tensor([btok.encode(prefix + f"{value:02d}")])
            logp = model(ids[:, :-1]).log_softmax(-1)[0]
            brute = logp[n - 1, ids[0, n]] + logp[n, ids[0, n + 1]]
            assert scores[value].item() == pytest.approx(brute.item(), abs=1e-5)
    assert len(scores) == 100 and (scores < 0).all()


def test_exposure_golden_and_formula(btok):
    model = tiny_gpt(256, block_size=32, seed=0).eval()
    e = privacy.exposure(model, btok, privacy.Canary("Ada", "42", 1))
    assert (e.rank, round(e.bits, 4), round(e.logprob, 4)) == (61, 0.7131, pytest.approx(-11.0722, abs=2e-4))
    assert e.bits == pytest.approx(math.log2(100) - math.log2(61)) and e.max_bits == pytest.approx(math.log2(100))


def test_a_repeated_secret_is_memorised_and_extracted(btok):
    canary = privacy.Canary("Ada", "731", 50)
    text = privacy.insert_canaries("the cat sat on the mat\n" * 20, [canary], seed=0)
    model = tiny_gpt(256, block_size=32, seed=0)
    config = train.TrainConfig(steps=120, batch_size=8, seq_len=24, lr=1e-2, seed=0, eval_interval=120,
                               progress=False)
    train.fit(model, btok.encode(text), None, config, device="cpu")
    e = privacy.exposure(model, btok, canary)
    assert e.rank == 1 and e.bits == pytest.approx(e.max_bits)
    assert privacy.extracted(model, btok, canary)
    assert not privacy.extracted(model, btok, privacy.Canary("Ada", "000", 0)) or canary.secret == "000"


def test_exposure_needs_one_token_per_digit():
    words = tokenizers.WordTokenizer.fit("Ada's PIN is 0123456789 0 1 2 3 4 5 6 7 8 9")
    with pytest.raises(ValueError, match="each digit its own token"):
        privacy.candidate_logprobs(tiny_gpt(words.vocab_size), words, "Ada's PIN is ", 2)


def test_candidate_logprobs_checks_length(btok):
    with pytest.raises(ValueError, match="digits must be an int from 1 to 7"):
        privacy.candidate_logprobs(tiny_gpt(256), btok, "x ", 8)
    with pytest.raises(ValueError, match="exceed block_size"):
        privacy.candidate_logprobs(tiny_gpt(256, block_size=16), btok, "a much longer prefix ", 3)
