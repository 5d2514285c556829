"""GPU benchmark of lmlib: train.fit against a bare bf16 + torch.compile loop on the same model, the
fraction of the GPU's measured bf16 matmul peak, a 60-second quality run, and generation with and without
the KV cache.

    python benchmarks/gpu.py                       # --device cuda: the issue's configuration (GPT 6 x 384,
                                                   # block 256, batch 64); a few minutes on a recent GPU
    python benchmarks/gpu.py --device cpu          # the same measurements on a small model, so the script is
                                                   # known to work without a GPU (about 5 minutes on 2 cores)

Target: fit reaches at least 0.9x the bare loop's tokens/s, and the cache makes generation at least 3x
faster at block 256 on a GPU (and keeps its lead on the CPU). Figures go to benchmarks/results/gpu_DEVICE.json.

The bare loop is what a careful user writes by hand (as nanoGPT does): batches drawn on the device, bf16
autocast (fp16 + grad scaler where bf16 is missing), torch.compile, fused AdamW, gradient clipping, and no
host-device sync until the end. fit runs with ``precision="auto"`` and ``compile=True`` and does what fit
always does besides (one read of the loss per step, the divergence guard, the history). Both train the
same lmlib model from the same initial weights, in interleaved A/B/B/A repetitions.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import _common as C
import torch
import torch._dynamo
import torch.nn.functional as F

from lmlib import data, generate, models, tokenizers, train

CONFIGS = {
    # the configuration (nanoGPT's Shakespeare-char size)
    "cuda": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64, train_steps=200, warmup=30,
                 gen_layers=(6, 6, 384)),
    # small enough for two CPU cores; the generation model is speed.py's (GPT 4 x 128 at block 256)
    "cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12, train_steps=20, warmup=3,
                gen_layers=(4, 4, 128)),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Best TFLOP/s of a large square matmul in ``dtype`` (2 n^3 flops per product)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5 if device.type == "cuda" else 2):
        sync(device)
        t0 = time.perf_counter()
        reps = 10 if device.type == "cuda" else 1
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t0) / 1e12)
    return best


def flops_per_token(model: models.GPT, seq_len: int) -> float:
    cfg = model.config
    n = models.count_parameters(model) - model.pos_emb.weight.numel()
    return 6 * n + 12 * cfg.n_layer * cfg.n_embd * seq_len


def fit_rate(model, train_ids, cfg, steps, warmup, precision, compile_) -> float:
    """Training tokens/s of train.fit, timed between its step ``warmup`` and its last step."""
    marks = {}

    def mark(step, loss, history):  # an on_step hook: fit reads each step's loss anyway
        marks[step] = time.perf_counter()

    class Marks(train.Callback):
        def on_step(self, step, loss, history):
            mark(step, loss, history)

    if compile_:
        torch._dynamo.reset()
    config = train.TrainConfig(steps=warmup + steps, batch_size=cfg["batch"], seq_len=cfg["block_size"], lr=3e-3,
                               betas=(0.9, 0.99), grad_clip=1.0, progress=False, eval_interval=10**9,
                               precision=precision, compile=compile_)
    history = train.fit(model, train_ids, None, config, callbacks=Marks(), device=model.device)
    assert history.completed, history.stop_reason
    return steps * cfg["batch"] * cfg["block_size"] / (marks[warmup + steps] - marks[warmup])


def bare_rate(model, train_ids, cfg, steps, warmup, precision, compile_) -> float:
    """Training tokens/s of a hand-written loop: device-side batches, autocast, compile, fused AdamW, clipping."""
    device = model.device
    ids = train_ids.to(device)
    B, T = cfg["batch"], cfg["block_size"]
    offsets = torch.arange(T + 1, device=device)
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.0, **fused)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    if compile_:
        torch._dynamo.reset()  # a fresh model each time: compile it afresh (and stay under the recompile limit)
    forward = torch.compile(model) if compile_ else model
    gen = torch.Generator(device=device).manual_seed(0)
    matmul_precision = torch.get_float32_matmul_precision()
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    model.train()

    def step():
        starts = torch.randint(0, len(ids) - T, (B,), device=device, generator=gen)
        window = ids[starts.unsqueeze(1) + offsets]
        x, y = window[:, :-1], window[:, 1:]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = forward(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        return loss

    try:
        with model.ids_checked():  # the ids come from a tensor of valid ids: no per-step check
            for _ in range(warmup):
                step()
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = step()
            final = float(loss.detach())  # the only sync, at the end
            elapsed = time.perf_counter() - t0
    finally:
        torch.set_float32_matmul_precision(matmul_precision)
    assert math.isfinite(final)
    model.eval()
    return steps * B * T / elapsed


def fit_vs_bare(model0, train_ids, cfg, precision, compile_, pairs) -> dict:
    rows = []
    for i in range(pairs):
        order = ("fit", "bare") if i % 2 == 0 else ("bare", "fit")
        rates = {}
        with C.CpuMonitor() as mon:
            for which in order:
                model = copy.deepcopy(model0)
                fn = fit_rate if which == "fit" else bare_rate
                rates[which] = fn(model, train_ids, cfg, cfg["train_steps"], cfg["warmup"], precision, compile_)
                del model
        rows.append({**rates, "ratio": rates["fit"] / rates["bare"], "foreign_cores": mon.foreign_cores})
        print(f"  pair {i + 1}: fit {rates['fit']:,.0f} tok/s, bare {rates['bare']:,.0f} tok/s, "
              f"ratio {rates['fit'] / rates['bare']:.3f}  (foreign cores {rows[-1]['foreign_cores']})", flush=True)
    return {"pairs": rows, "fit_tokens_per_s": C.median([r["fit"] for r in rows]),
            "bare_tokens_per_s": C.median([r["bare"] for r in rows]),
            "ratio_median": C.median([r["ratio"] for r in rows])}


def quality_run(model, train_ids, val_ids, cfg, seconds, rate, precision, compile_) -> dict:
    """Train for about ``seconds`` (steps planned from ``rate``) with a cosine schedule; full validation loss."""
    steps = max(10, int(0.95 * seconds * rate / (cfg["batch"] * cfg["block_size"])))
    config = train.TrainConfig(steps=steps, batch_size=cfg["batch"], seq_len=cfg["block_size"], lr=1e-3,
                               betas=(0.9, 0.99), weight_decay=0.1, warmup_steps=min(100, steps // 10),
                               schedule="cosine", min_lr_ratio=0.1, progress=False, eval_interval=10**9,
                               precision=precision, compile=compile_, seed=0)
    history = train.fit(model, train_ids, None, config, device=model.device)
    val = train.evaluate(model, val_ids, seq_len=cfg["block_size"], batch_size=64)
    return {"steps": steps, "train_s": history.elapsed, "tokens": history.tokens_seen, "val_loss": val,
            "stop_reason": history.stop_reason}


def generation(device, layers, new_tokens, reps) -> dict:
    tok = tokenizers.ByteTokenizer()
    torch.manual_seed(0)
    n_layer, n_head, n_embd = layers
    model = models.GPT(models.GPTConfig(vocab_size=256, block_size=256, n_layer=n_layer, n_head=n_head,
                                        n_embd=n_embd)).to(device).eval()
    prompt = "The Python reference manual says: "
    for use_cache in (True, False):  # warm-up
        generate.generate(model, tok, prompt, max_new_tokens=20, temperature=0, use_cache=use_cache)
    rows, texts = [], {}
    for i in range(reps):
        rates = {}
        with C.CpuMonitor() as mon:
            for use_cache in ((True, False) if i % 2 == 0 else (False, True)):
                sync(device)
                t0 = time.perf_counter()
                texts[use_cache] = generate.generate(model, tok, prompt, max_new_tokens=new_tokens, temperature=0,
                                                     use_cache=use_cache)
                rates[use_cache] = new_tokens / (time.perf_counter() - t0)
        rows.append({"cached": rates[True], "uncached": rates[False], "ratio": rates[True] / rates[False],
                     "foreign_cores": mon.foreign_cores})
        print(f"  rep {i + 1}: cached {rates[True]:,.0f} tok/s, uncached {rates[False]:,.0f} tok/s, "
              f"ratio {rates[True] / rates[False]:.2f}  (foreign cores {mon.foreign_cores})", flush=True)
    return {"layers": layers, "block_size": 256, "new_tokens": new_tokens, "reps": rows,
            "cached_tokens_per_s": C.median([r["cached"] for r in rows]),
            "uncached_tokens_per_s": C.median([r["uncached"] for r in rows]),
            "speedup_median": C.median([r["ratio"] for r in rows]), "same_text": texts[True] == texts[False]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    ap.add_argument("--pairs", type=int, default=None, help="fit/bare pairs (default 4 on cuda, 2 on cpu)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile in both loops (default: on for cuda, off for cpu, where it takes minutes)")
    ap.add_argument("--precision", default="auto", choices=train.PRECISIONS)
    ap.add_argument("--quality-seconds", type=float, default=None, help="0 skips (default 60 on cuda, 0 on cpu)")
    ap.add_argument("--new-tokens", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    cfg = CONFIGS[device.type]
    compile_ = cuda if args.compile is None else args.compile
    precision = train.resolve_precision(args.precision, device)
    pairs = args.pairs or (4 if cuda else 2)
    quality_s = (60.0 if cuda else 0.0) if args.quality_seconds is None else args.quality_seconds

    info = C.env_info()
    info.update(device=str(device), precision=precision, compile=compile_, config=cfg)
    if cuda:
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    C.print_env(info)
    print(f"device {device} ({info.get('gpu', C.cpu_model())}), precision {precision}, compile {compile_}")
    started = time.perf_counter()

    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, val_text = data.split(text, 0.9)
    train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tok.encode(val_text), dtype=torch.long)
    torch.manual_seed(0)
    model0 = models.GPT(models.GPTConfig(vocab_size=tok.vocab_size, block_size=cfg["block_size"],
                                         n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"]))
    model0.to(device)

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    peak = matmul_peak(device, dtype)
    fpt = flops_per_token(model0, cfg["block_size"])
    print(f"\n{precision} matmul peak measured: {peak:.3f} TFLOP/s; {fpt / 1e6:.1f} MFLOP per training token")

    print(f"\ntrain.fit vs a bare loop, GPT {cfg['n_layer']} x {cfg['n_embd']}, block {cfg['block_size']}, "
          f"batch {cfg['batch']}, {cfg['train_steps']} timed steps after {cfg['warmup']}:")
    speed = fit_vs_bare(model0, train_ids, cfg, precision, compile_, pairs)
    for k in ("fit", "bare"):
        speed[f"{k}_fraction_of_peak"] = speed[f"{k}_tokens_per_s"] * fpt / (peak * 1e12)
    print(f"fit {speed['fit_tokens_per_s']:,.0f} tok/s ({100 * speed['fit_fraction_of_peak']:.1f} % of peak), "
          f"bare {speed['bare_tokens_per_s']:,.0f} tok/s ({100 * speed['bare_fraction_of_peak']:.1f} %): "
          f"fit / bare = {speed['ratio_median']:.3f} (target >= 0.9)")

    quality = None
    if quality_s > 0:
        print(f"\n{quality_s:.0f} s of training through fit (cosine lr 1e-3, weight decay 0.1):")
        quality = quality_run(copy.deepcopy(model0), train_ids, val_ids, cfg, quality_s, speed["fit_tokens_per_s"],
                              precision, compile_)
        print(f"  {quality['steps']} steps, {quality['train_s']:.1f} s, {quality['tokens'] / 1e6:.1f} M tokens: "
              f"validation loss {quality['val_loss']:.4f} nats/char (full split)")

    print(f"\ngeneration, GPT {' x '.join(map(str, cfg['gen_layers']))} (layers, heads, width), block 256, "
          f"{args.new_tokens} new tokens, greedy:")
    gen = generation(device, cfg["gen_layers"], args.new_tokens, reps=5 if cuda else 3)
    print(f"cached {gen['cached_tokens_per_s']:,.0f} tok/s, uncached {gen['uncached_tokens_per_s']:,.0f} tok/s: "
          f"{gen['speedup_median']:.2f}x (target >= 3x on a GPU); same text: {gen['same_text']}")

    info["wall_s"] = time.perf_counter() - started
    path = C.write_json(f"gpu_{device.type}", {"env": info, "matmul_peak_tflops": peak, "flops_per_token": fpt,
                                               "fit_vs_bare": speed, "quality": quality, "generation": gen})
    print(f"\n{info['wall_s']:.0f} s; figures written to {path}")


if __name__ == "__main__":
    main()
