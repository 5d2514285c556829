"""The candidates of the 60-second quality benchmark (``quality.py``): each a model spec and training settings,
by name; ``BASELINE`` and ``BEST`` are the two the default run compares. The figures of every candidate are in
benchmarks/README.md and results/quality_search.json.
"""
from __future__ import annotations


def gru(hidden=256, emb=128, layers=1, dropout=0.0):
    return {"kind": "rnn", "cell": "gru", "embedding_dim": emb, "hidden_dim": hidden, "num_layers": layers,
            "dropout": dropout}


def lstm(hidden=256, emb=128, layers=1, dropout=0.0):
    return {"kind": "rnn", "cell": "lstm", "embedding_dim": emb, "hidden_dim": hidden, "num_layers": layers,
            "dropout": dropout}


def gpt(block=64, layers=4, heads=4, embd=128, dropout=0.0, **modern):
    """A GPT; ``modern`` takes GPTConfig's options of chapter 8 (pos, norm, mlp, qk_norm, bias)."""
    return {"kind": "gpt", "block_size": block, "n_layer": layers, "n_head": heads, "n_embd": embd,
            "dropout": dropout, **modern}


MODERN = {"pos": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": True, "bias": False}  # chapter 8


def fit_cfg(batch=32, seq=64, lr=3e-3, schedule="constant", warmup=0.0, wd=0.0, min_lr=0.1, muon_lr=None,
            ns_steps=None, precision=None):
    """Training settings; ``warmup`` is a fraction of the steps (the steps depend on the calibration).
    ``muon_lr`` selects the Muon optimiser (chapter 8) for the hidden matrices, at that learning rate, with
    ``ns_steps`` Newton-Schulz iterations per step (TrainConfig's default, 5, if None). ``precision`` is
    TrainConfig's ("bf16": forward passes under bfloat16 autocast; None: float32 on the CPU)."""
    out = {"batch_size": batch, "seq_len": seq, "lr": lr, "schedule": schedule, "warmup_frac": warmup,
           "weight_decay": wd, "min_lr_ratio": min_lr}
    if muon_lr is not None:  # only then: the stored calibrations of the other candidates keep their keys
        out.update(optimizer="muon", muon_lr=muon_lr)
    if ns_steps is not None:
        out.update(muon_ns_steps=ns_steps)
    if precision is not None:
        out.update(precision=precision)
    return out


def to_zero(batch=32, lr=5e-3, muon_lr=None, seq=64, ns_steps=None, precision=None, wd=0.0):
    """A 2 % warm-up, then a cosine decay of the learning rate to zero."""
    return fit_cfg(batch=batch, seq=seq, lr=lr, schedule="cosine", warmup=0.02, min_lr=0.0, muon_lr=muon_lr,
                   ns_steps=ns_steps, precision=precision, wd=wd)


def muon_lstm(hidden=256, dropout=0.0, batch=32, seq=32, lr=2e-2, muon_lr=0.03, wd=0.0, precision=None, **spec):
    """The LSTM with Muon (3 Newton-Schulz iterations) and a cosine decay to zero, the recipe of 2026-12-01,
    with its knobs; ``spec`` adds to the model's (screening-only keys of ``build_model``)."""
    return ({**lstm(hidden, dropout=dropout), **spec},
            to_zero(batch=batch, lr=lr, muon_lr=muon_lr, seq=seq, ns_steps=3, precision=precision, wd=wd))


BASELINE = "gru256-b32-const"  # the reference: 1.30 nats/char measured on this machine
# lowest mean validation loss over 3 seeds, candidates interleaved (see benchmarks/README.md): the LSTM with
# Muon for its two gate matrices (3 Newton-Schulz iterations), AdamW at 0.02 for the embedding, the head and
# the biases, decoupled weight decay 0.07 on every matrix, cosine decay to zero, on windows of 32 characters
# in batches of 32 (2026-12-01, schedule on the clock).
# Before it: lstm256-b48-s32-lr2e-2-muon0.03-ns3-cos0 (2026-12-01), lstm256-b32-lr2e-2-muon0.03-cos0
# (2026-11-30), and before that lstm256-b32-lr5e-3-cos, chapter 5's llm.BEST.
BEST = "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07"

CANDIDATES = {
    BASELINE: (gru(), fit_cfg()),
    "gru256-b32-lr5e-3-cos": (gru(), fit_cfg(lr=5e-3, schedule="cosine", warmup=0.02)),
    "gru256-b64-lr5e-3-cos": (gru(), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02)),
    "gru256-b64-lr5e-3-cos-do0.1": (gru(dropout=0.1), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02)),
    "gru256-b64-lr5e-3-cos-wd0.1": (gru(), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02, wd=0.1)),
    "gru256-b64-lr8e-3-cos": (gru(), fit_cfg(batch=64, lr=8e-3, schedule="cosine", warmup=0.02)),
    "gru256-b128-lr8e-3-cos": (gru(), fit_cfg(batch=128, lr=8e-3, schedule="cosine", warmup=0.02)),
    "gru256x2-b64-lr5e-3-cos": (gru(256, layers=2), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02)),
    "lstm256-b16-lr3e-3-cos": (lstm(), fit_cfg(batch=16, lr=3e-3, schedule="cosine", warmup=0.02)),
    "lstm256-b32-lr5e-3-cos": (lstm(), fit_cfg(lr=5e-3, schedule="cosine", warmup=0.02)),
    "lstm256-b64-lr5e-3-cos": (lstm(), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02)),
    "lstm256-b64-lr1e-2-cos": (lstm(), fit_cfg(batch=64, lr=1e-2, schedule="cosine", warmup=0.02)),
    "lstm384-b64-lr5e-3-cos": (lstm(384), fit_cfg(batch=64, lr=5e-3, schedule="cosine", warmup=0.02)),
    # the cosine decayed to zero, smaller batches, Muon on the LSTM's two gate matrices (2026-11-30)
    "lstm256-b32-lr5e-3-cos0": (lstm(), to_zero()),
    "lstm256-b16-lr5e-3-cos0": (lstm(), to_zero(batch=16)),
    "lstm256-b32-muon-cos0": (lstm(), to_zero(muon_lr=0.02)),
    "lstm256-b16-muon-cos0": (lstm(), to_zero(batch=16, muon_lr=0.02)),
    "lstm256-b32-muon0.05-cos0": (lstm(), to_zero(muon_lr=0.05)),
    "lstm256-b24-muon0.04-cos0": (lstm(), to_zero(batch=24, muon_lr=0.04)),
    "lstm256-b32-lr1e-2-muon0.05-cos0": (lstm(), to_zero(lr=1e-2, muon_lr=0.05)),
    "lstm192-b32-muon0.05-cos0": (lstm(192), to_zero(muon_lr=0.05)),
    "lstm256-b32-lr2e-2-muon0.05-cos0": (lstm(), to_zero(lr=2e-2, muon_lr=0.05)),
    "lstm256-b32-lr1e-2-muon0.08-cos0": (lstm(), to_zero(lr=1e-2, muon_lr=0.08)),
    "lstm192-b32-lr1e-2-muon0.05-cos0": (lstm(192), to_zero(lr=1e-2, muon_lr=0.05)),
    "lstm256-b32-lr4e-2-muon0.05-cos0": (lstm(), to_zero(lr=4e-2, muon_lr=0.05)),
    "lstm256-b32-lr2e-2-muon0.03-cos0": (lstm(), to_zero(lr=2e-2, muon_lr=0.03)),
    "lstm256-b32-lr2e-2-cos0": (lstm(), to_zero(lr=2e-2)),
    # around the Muon recipe: forget gates opened at the start (their bias at 1), other widths, batch
    # shapes with shorter windows: each Muon step costs the same whatever the batch (2026-12-01)
    "lstm256-fb1-b32-lr2e-2-muon0.03-cos0": ({**lstm(), "forget_bias": 1.0}, to_zero(lr=2e-2, muon_lr=0.03)),
    "lstm192-b32-lr2e-2-muon0.03-cos0": (lstm(192), to_zero(lr=2e-2, muon_lr=0.03)),
    "lstm256-b24-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=24, lr=2e-2, muon_lr=0.03)),
    "lstm256-b32-lr3e-2-muon0.04-cos0": (lstm(), to_zero(lr=3e-2, muon_lr=0.04)),
    "lstm256-b64-s32-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=64, lr=2e-2, muon_lr=0.03, seq=32)),
    "lstm256-b64-s32-lr3e-2-muon0.04-cos0": (lstm(), to_zero(batch=64, lr=3e-2, muon_lr=0.04, seq=32)),
    "lstm256-b48-s32-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=48, lr=2e-2, muon_lr=0.03, seq=32)),
    "lstm256-b128-s16-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=128, lr=2e-2, muon_lr=0.03, seq=16)),
    "lstm256-b32-s32-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=32, lr=2e-2, muon_lr=0.03, seq=32)),
    "lstm256-b48-s32-lr3e-2-muon0.04-cos0": (lstm(), to_zero(batch=48, lr=3e-2, muon_lr=0.04, seq=32)),
    "lstm256-b64-s24-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=64, lr=2e-2, muon_lr=0.03, seq=24)),
    "lstm256-b48-s24-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=48, lr=2e-2, muon_lr=0.03, seq=24)),
    "lstm256-b96-s24-lr2e-2-muon0.03-cos0": (lstm(), to_zero(batch=96, lr=2e-2, muon_lr=0.03, seq=24)),
    "lstm256-b64-s24-lr3e-2-muon0.04-cos0": (lstm(), to_zero(batch=64, lr=3e-2, muon_lr=0.04, seq=24)),
    "lstm256-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(batch=48),
    # bfloat16 autocast for the forward passes: with AVX512-BF16 the LSTM's forward and backward take 0.65x the time
    "lstm256-b48-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(batch=48, precision="bf16"),
    "lstm256-b64-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(batch=64, precision="bf16"),
    "lstm384-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(384, batch=48),
    "lstm384-b48-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(384, batch=48, precision="bf16"),
    "lstm384-b32-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(384, precision="bf16"),
    "lstm384-b24-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(384, batch=24, precision="bf16"),
    "lstm384-b32-s32-lr3e-2-muon0.04-ns3-cos0-bf16": muon_lstm(384, lr=3e-2, muon_lr=0.04, precision="bf16"),
    "lstm384-b32-s32-lr2e-2-muon0.02-ns3-cos0-bf16": muon_lstm(384, muon_lr=0.02, precision="bf16"),
    "lstm384-b32-s32-lr1.5e-2-muon0.025-ns3-cos0-bf16": muon_lstm(384, lr=1.5e-2, muon_lr=0.025, precision="bf16"),
    "lstm384-b32-s32-lr1e-2-muon0.025-ns3-cos0-bf16": muon_lstm(384, lr=1e-2, muon_lr=0.025, precision="bf16"),
    "lstm384-b32-s32-lr1.5e-2-muon0.03-ns3-cos0-bf16": muon_lstm(384, lr=1.5e-2, precision="bf16"),
    "lstm448-b32-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(448, precision="bf16"),
    "lstm512-b48-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(512, batch=48, precision="bf16"),
    # BEST over-fits: it sees the 418k training characters 5-6 times and ends about 0.27 nats/char below its
    # validation loss. Dropout before the output layer, on the embedded characters (edo), weight decay (wd)
    # on every matrix; then around the new best (2026-12-01, schedule on the clock)
    "lstm256-do0.05-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.05, batch=48),
    "lstm256-do0.1-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.1, batch=48),
    "lstm256-do0.15-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.15, batch=48),
    "lstm256-do0.2-b48-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.2, batch=48),
    "lstm256-do0.1-b48-s32-lr3e-2-muon0.04-ns3-cos0": muon_lstm(dropout=0.1, batch=48, lr=3e-2, muon_lr=0.04),
    "lstm384-do0.1-b32-s32-lr1.5e-2-muon0.025-ns3-cos0": muon_lstm(384, dropout=0.1, lr=1.5e-2, muon_lr=0.025),
    "lstm384-do0.2-b32-s32-lr1.5e-2-muon0.025-ns3-cos0": muon_lstm(384, dropout=0.2, lr=1.5e-2, muon_lr=0.025),
    "lstm256-do0.1-b32-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.1),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.15),
    "lstm256-do0.2-b32-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.2),
    "lstm256-do0.15-edo0.1-b32-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.15, embedding_dropout=0.1),
    "lstm256-do0.2-edo0.1-b32-s32-lr2e-2-muon0.03-ns3-cos0": muon_lstm(dropout=0.2, embedding_dropout=0.1),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0-bf16": muon_lstm(dropout=0.15, precision="bf16"),
    "lstm384-do0.2-b32-s32-lr1.5e-2-muon0.025-ns3-cos0-bf16": muon_lstm(384, dropout=0.2, lr=1.5e-2, muon_lr=0.025,
                                                                        precision="bf16"),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.03": muon_lstm(dropout=0.15, wd=0.03),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(dropout=0.15, wd=0.05),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.1": muon_lstm(dropout=0.15, wd=0.1),
    "lstm256-do0.15-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.2": muon_lstm(dropout=0.15, wd=0.2),
    "lstm256-do0.15-b48-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(dropout=0.15, batch=48, wd=0.05),
    "lstm256-do0.15-b48-s32-lr2e-2-muon0.03-ns3-cos0-wd0.1": muon_lstm(dropout=0.15, batch=48, wd=0.1),
    "lstm256-do0.05-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(dropout=0.05, wd=0.05),
    "lstm256-do0.05-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.1": muon_lstm(dropout=0.05, wd=0.1),
    "lstm256-do0.1-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(dropout=0.1, wd=0.05),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.03": muon_lstm(wd=0.03),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(wd=0.05),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(wd=0.07),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.1": muon_lstm(wd=0.1),
    "lstm256-do0-b24-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(batch=24, wd=0.05),
    "lstm256-do0-b48-s32-lr2e-2-muon0.03-ns3-cos0-wd0.05": muon_lstm(batch=48, wd=0.05),
    "lstm256-do0-b32-s32-lr3e-2-muon0.04-ns3-cos0-wd0.05": muon_lstm(lr=3e-2, muon_lr=0.04, wd=0.05),
    "lstm384-do0-b32-s32-lr1.5e-2-muon0.025-ns3-cos0-wd0.05": muon_lstm(384, lr=1.5e-2, muon_lr=0.025, wd=0.05),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07-bf16": muon_lstm(wd=0.07, precision="bf16"),
    "lstm256-do0-b32-s24-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(seq=24, wd=0.07),
    "lstm256-do0-b48-s24-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(batch=48, seq=24, wd=0.07),
    "lstm320-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(320, wd=0.07),
    "lstm256-do0-b32-s32-lr3e-2-muon0.04-ns3-cos0-wd0.07": muon_lstm(lr=3e-2, muon_lr=0.04, wd=0.07),
    "lstm256-do0-b32-s48-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(seq=48, wd=0.07),
    "lstm256-do0-b32-s64-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(seq=64, wd=0.07),
    "lstm256-do0-b24-s48-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(batch=24, seq=48, wd=0.07),
    "lstm256-do0.1-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07": muon_lstm(dropout=0.1, wd=0.07),
    # which matrices' decay matters: Muon's two gate matrices only, or AdamW's embedding and head only
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07-muononly": (lstm(), {**muon_lstm(wd=0.07)[1], "adamw_wd": 0.0}),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-wd0.07-adamwonly": (lstm(), {**muon_lstm(wd=0.07)[1], "muon_wd": 0.0}),
    "lstm256-do0-b32-s32-lr2e-2-muon0.03-ns3-cos0-muonwd0.1-adamwwd0.03": (lstm(), {
        **muon_lstm(wd=0.07)[1], "muon_wd": 0.1, "adamw_wd": 0.03}),
    "gpt4x128-b32-lr3e-3-cos": (gpt(), fit_cfg(batch=32, lr=3e-3, schedule="cosine", warmup=0.05)),
    "gpt2x128-b64-lr6e-3-cos": (gpt(64, 2, 4, 128), fit_cfg(batch=64, lr=6e-3, schedule="cosine", warmup=0.05)),
    # chapter 8's modern recipe (rotary positions, RMSNorm, SwiGLU, QK-norm, no biases) with Muon
    "gpt2x128-modern-muon-b64": (gpt(64, 2, 4, 128, **MODERN),
                                 fit_cfg(batch=64, lr=6e-3, schedule="cosine", warmup=0.05, muon_lr=0.02)),
    "gpt2x128-modern-muon-b32": (gpt(64, 2, 4, 128, **MODERN),
                                 fit_cfg(batch=32, lr=6e-3, schedule="cosine", warmup=0.05, muon_lr=0.02)),
    "gpt4x128-modern-muon-b32": (gpt(64, 4, 4, 128, **MODERN),
                                 fit_cfg(batch=32, lr=6e-3, schedule="cosine", warmup=0.05, muon_lr=0.02)),
    # the same minus the parts that cost CPU time (LayerNorm's fused kernel, learned positions, ReLU^2)
    "gpt2x128-qknorm-relu2-muon-b64": (gpt(64, 2, 4, 128, mlp="relu2", qk_norm=True, bias=False),
                                       fit_cfg(batch=64, lr=6e-3, schedule="cosine", warmup=0.05, muon_lr=0.02)),
}
