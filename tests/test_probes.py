"""lmlib.probes: tokenize labels for source code, hidden states per layer, linear probes."""

import pytest
import torch

from conftest import tiny_gpt, tiny_rnn
from lmlib import probes

SOURCE = 'def f(x):\n    s = "a b"  # c\n    if x:\n        return f"{x} y" + 12\n    return None\n'


def test_code_labels_golden():
    labels = probes.code_labels(SOURCE)
    assert len(labels["in_string"]) == len(SOURCE.encode())
    assert "".join(map(str, labels["in_string"])) == (
        "000000000000000000111110000000000000000000000000000000111111110000000000000000000000")
    assert "".join(map(str, labels["depth"])) == "0" * 10 + "1" * 29 + "2" * 29 + "1" * 16
    classes = "".join("NOMSCL"[c] for c in labels["token_class"])  # NAME OP NUMBER STRING COMMENT LAYOUT
    assert classes == ("NNNLNONOOLLLLLNLOLSSSSSLLCCCLLLLLNNLNOL"
                       "LLLLLLLLNNNNNNLSSSSSSSSLOLMMLLLLLNNNNNNLNNNNL")


def test_code_labels_count_bytes_not_characters():
    labels = probes.code_labels('s = "é"\n')
    assert len(labels["in_string"]) == len('s = "é"\n'.encode()) == 9
    assert labels["in_string"][4:8] == [1, 1, 1, 1]


def test_code_labels_errors():
    with pytest.raises(ValueError, match="does not tokenize"):
        probes.code_labels('x = """never closed\n')
    with pytest.raises(TypeError, match="source must be a str"):
        probes.code_labels(b"x = 1")


def test_gpt_states_short_input_match_the_full_forward():
    model = tiny_gpt(50, block_size=16).eval()
    ids = torch.randint(0, 50, (12,), generator=torch.Generator().manual_seed(0))
    states = probes.layer_states(model, ids)
    assert [name for name, _ in states] == ["embedding", "block 1", "block 2"]
    x = model.tok_emb(ids[None]) + model.pos_emb(torch.arange(12))
    assert torch.allclose(states[0][1], x[0].detach(), atol=1e-6)
    x = model.blocks[1](model.blocks[0](x))
    assert torch.allclose(states[2][1], x[0].detach(), atol=1e-5)


def test_gpt_states_long_input_use_windows_with_context():
    model = tiny_gpt(50, block_size=16).eval()
    ids = torch.randint(0, 50, (45,), generator=torch.Generator().manual_seed(1))
    states = dict(probes.layer_states(model, ids))
    assert states["block 2"].shape == (45, 16)
    # position 30 is read in the window starting at 16 (windows 0, 8, 16, 24, 29): it has 14 tokens of context
    window = ids[16:32][None]
    with torch.no_grad():
        x = model.tok_emb(window) + model.pos_emb(torch.arange(16))
        for block in model.blocks:
            x = block(x)
    assert torch.allclose(states["block 2"][30], x[0, 14], atol=1e-5)
    assert not torch.isnan(states["block 2"]).any()


def test_rnn_states():
    model = tiny_rnn(30)
    ids = torch.arange(20) % 30
    states = dict(probes.layer_states(model, ids))
    assert states["embedding"].shape == (20, 8) and states["recurrent"].shape == (20, 16)
    assert torch.allclose(states["embedding"], model.embedding(ids).detach())


def test_layer_states_errors():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        probes.layer_states(tiny_gpt(10), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="reads lmlib's GPT and RNNLM"):
        probes.layer_states(torch.nn.Linear(2, 2), [1, 2])
    with pytest.raises(ValueError, match="window must be in"):
        probes.layer_states(tiny_gpt(10, block_size=16), [1, 2, 3], window=32)


def test_probe_fits_a_linear_rule_and_beats_the_majority():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(400, 5, generator=g)
    labels = (feats[:, 0] + 0.5 * feats[:, 1] > 0).long()
    probe = probes.fit_probe(feats[:300], labels[:300])
    assert probes.probe_accuracy(probe, feats[300:], labels[300:]) >= 0.95
    assert probes.majority_accuracy(labels[:300], labels[300:]) < 0.7
    again = probes.fit_probe(feats[:300], labels[:300])
    assert torch.equal(again.weight, probe.weight)  # deterministic


def test_probe_errors():
    with pytest.raises(ValueError, match=r"features must be \(N, D\)"):
        probes.fit_probe(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="no examples"):
        probes.fit_probe(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="need training and test labels"):
        probes.majority_accuracy(torch.tensor([]), torch.tensor([1]))
