"""lmlib.hf_gpt2: lmlib's GPT and transformers' GPT-2 give the same logits from the same weights."""

import pytest
import torch

pytest.importorskip("transformers")

from conftest import tiny_gpt  # noqa: E402
from lmlib import hf_gpt2, models  # noqa: E402


def test_same_logits_as_transformers_gpt2():
    model = tiny_gpt(40, block_size=16).eval()
    with torch.no_grad():  # move every weight off its initial value, so nothing matches by accident
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    hf = hf_gpt2.to_transformers(model)
    idx = torch.randint(0, 40, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(idx), hf(idx).logits
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()  # tied, as in lmlib


def test_models_that_are_not_gpt2_are_refused():
    with pytest.raises(ValueError, match="bias=False"):
        hf_gpt2.to_transformers(models.GPT(models.GPTConfig(vocab_size=10, n_layer=1, n_head=1, n_embd=8, bias=False)))
    with pytest.raises(ValueError, match="lmlib GPT"):
        hf_gpt2.to_transformers(models.RNNLM(models.RNNConfig(vocab_size=10)))
