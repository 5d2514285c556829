"""lmlib's GPT as a Hugging Face ``transformers`` GPT-2: the same weights in the library's reference model.

Chapter 7 (section 7.2.3, frameworks) copies a trained ``lmlib.models.GPT`` into
``transformers.GPT2LMHeadModel`` and compares the logits: equal logits show that lmlib's decoder is the
GPT-2 architecture (pre-norm blocks, learned positions, the tanh GELU, tied input and output embeddings),
checked against an implementation that thousands of projects use. No network: the model is built from
a config, not downloaded.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["gpt2_config", "to_transformers"]


def _require_transformers():
    try:
        import transformers
    except ImportError as err:
        raise ImportError("lmlib.hf_gpt2 needs Hugging Face transformers: `pip install transformers`") from err
    return transformers


def _check_plain_gpt(model: Any) -> None:
    config = getattr(model, "config", None)
    if getattr(model, "kind", None) != "gpt" or config is None:
        raise ValueError(f"to_transformers copies an lmlib GPT, got {type(model).__name__}")
    if not getattr(config, "bias", True):
        raise ValueError("GPT-2 has biases in every Linear and LayerNorm; this GPT was built with bias=False")
    # Options that later lmlib versions may add (rotary positions, RMSNorm, gated MLPs, ...) are not GPT-2.
    for name, plain in (("rope", False), ("norm", "layernorm"), ("mlp", "gelu"), ("qk_norm", False)):
        value = getattr(config, name, plain)
        if value != plain:
            raise ValueError(f"this GPT uses {name}={value!r}; GPT-2 has {name}={plain!r}, so there is no equivalent")


def gpt2_config(model: Any):
    """A ``transformers.GPT2Config`` with ``model``'s sizes, no dropout, and the tanh GELU GPT-2 uses."""
    _check_plain_gpt(model)
    transformers = _require_transformers()
    c = model.config
    return transformers.GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head,
        n_inner=4 * c.n_embd, activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=0,  # GPT-2's defaults (50256) lie outside a small vocabulary
    )


@torch.no_grad()
def to_transformers(model: Any):
    """A ``transformers.GPT2LMHeadModel`` (in eval mode) holding a copy of ``model``'s weights.

    GPT-2 stores its projections as ``Conv1D`` layers, whose weight is the transpose of a ``Linear``'s,
    so those are transposed on the way.
    """
    transformers = _require_transformers()
    hf = transformers.GPT2LMHeadModel(gpt2_config(model))
    t = hf.transformer
    t.wte.weight.copy_(model.tok_emb.weight)
    t.wpe.weight.copy_(model.pos_emb.weight)
    for ours, theirs in zip(model.blocks, t.h):
        theirs.ln_1.weight.copy_(ours.ln1.weight)
        theirs.ln_1.bias.copy_(ours.ln1.bias)
        theirs.attn.c_attn.weight.copy_(ours.attn.qkv.weight.T)
        theirs.attn.c_attn.bias.copy_(ours.attn.qkv.bias)
        theirs.attn.c_proj.weight.copy_(ours.attn.proj.weight.T)
        theirs.attn.c_proj.bias.copy_(ours.attn.proj.bias)
        theirs.ln_2.weight.copy_(ours.ln2.weight)
        theirs.ln_2.bias.copy_(ours.ln2.bias)
        theirs.mlp.c_fc.weight.copy_(ours.mlp.fc.weight.T)
        theirs.mlp.c_fc.bias.copy_(ours.mlp.fc.bias)
        theirs.mlp.c_proj.weight.copy_(ours.mlp.proj.weight.T)
        theirs.mlp.c_proj.bias.copy_(ours.mlp.proj.bias)
    t.ln_f.weight.copy_(model.ln_f.weight)
    t.ln_f.bias.copy_(model.ln_f.bias)
    hf.tie_weights()
    return hf.eval()
