"""Speed benchmark of lmlib on the CPU: training throughput, its fraction of matmul peak, train.fit's
overhead over a bare PyTorch loop, the AdamW step on its own, and generation with and without the KV cache.

    python benchmarks/speed.py            # full run (about 3-4 minutes on 2 quiet cores)
    python benchmarks/speed.py --quick    # smoke run (< 30 s)

Run it with nothing else on the machine. Every measurement is repeated and A/B comparisons are
interleaved (ABBA order); medians are reported. The CPU time other processes took during each repetition
is measured from /proc/stat ("foreign cores"): a repetition during which they used >= 0.2 cores is
discarded and redone (up to a limit), and a figure that still rests on disturbed repetitions is flagged.
Figures go to benchmarks/results/speed.json (speed_quick.json for --quick).
"""

from __future__ import annotations

import argparse
import time

import _common as C
import torch
import torch.nn.functional as F

from lmlib import data, generate, models, tokenizers, train

CONTENDED = 0.2  # foreign cores above which a repetition counts as disturbed
WAIT = True  # wait for a quiet CPU before each repetition (--no-wait turns it off)


def _sample(fn, n, max_tries):
    return C.sample_quiet(fn, n, max_tries, threshold=CONTENDED, wait=WAIT)


def _foreign_max(samples, clean_only=True):
    xs = [s["foreign"] for s in samples if s["foreign"] is not None and (s["quiet"] or not clean_only)]
    return max(xs) if xs else None


# --------------------------------------------------------------------------------------------- matmul peak
def matmul_peak(sizes: list[int], reps: int) -> dict:
    """Best float32 GFLOP/s of torch.matmul on square matrices, per size (2 n^3 flops per product)."""
    a = torch.randn(sizes[-1], sizes[-1])
    t_end = time.perf_counter() + (1.5 if sizes[-1] >= 1024 else 0.3)
    while time.perf_counter() < t_end:  # warm-up: thread pool, clock ramp; the first products run slow
        a @ a
    out = {}
    for n in sizes:
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        torch.matmul(a, b, out=c)

        def once(_):
            with C.CpuMonitor() as mon:
                t0 = time.perf_counter()
                torch.matmul(a, b, out=c)
                rate = 2 * n**3 / (time.perf_counter() - t0) / 1e9
            return rate, mon.foreign_cores

        samples = _sample(once, reps, 3 * reps)
        values, clean = C.quiet_values(samples)
        out[n] = {"best_gflops": max(values), "median_gflops": C.median(values), "clean": clean,
                  "foreign_cores_max": _foreign_max(samples, clean)}
    return out


# ------------------------------------------------------------------------------------------ training rates
def flops_per_token(model: torch.nn.Module, seq_len: int) -> tuple[float, str]:
    """Training FLOPs per token (forward + backward ~ 3 x forward = 6 per weight a token is multiplied by)."""
    if isinstance(model, models.GPT):
        cfg = model.config
        # Position embeddings are looked up, not multiplied; the tied token embedding counts once (as the head).
        n = models.count_parameters(model) - model.pos_emb.weight.numel()
        attn = 12 * cfg.n_layer * cfg.n_embd * seq_len  # QK^T and AV: 2*2*T*C per layer forward, x3 for training
        return 6 * n + attn, f"6*N + 12*L*C*T, N={n} (no position table)"
    # RNN: every token goes through W_ih, W_hh (all gates) and the head; the embedding is a lookup.
    n = models.count_parameters(model) - model.embedding.weight.numel()
    return 6 * n, f"6*N, N={n} (recurrent + head weights, no embedding table)"


def fit_rate(model, train_ids, batch, seq, steps, seed=0) -> tuple[float, float | None]:
    """Training tokens/s of one train.fit call (no validation data, so no evaluation happens)."""
    cfg = train.TrainConfig(steps=steps, batch_size=batch, seq_len=seq, progress=False,
                            eval_interval=10**9, seed=seed)
    with C.CpuMonitor() as mon:
        hist = train.fit(model, train_ids, None, cfg, device="cpu")
    return hist.tokens_seen / hist.elapsed, mon.foreign_cores


def training_rates(specs, train_ids, steps: int, reps: int, peak: float) -> list[dict]:
    """Each model trained ``reps`` undisturbed times for ``steps`` steps, models interleaved."""
    for s in specs:  # warm-up: first allocations, oneDNN primitive creation
        fit_rate(s["model"], train_ids, s["batch"], s["seq"], max(2, steps // 5))
    samples = {s["name"]: [] for s in specs}
    for _round in range(3 * reps):  # one repetition of every model not yet done per round
        todo = [s for s in specs if sum(x["quiet"] for x in samples[s["name"]]) < reps]
        if not todo:
            break
        for s in todo:
            k = len(samples[s["name"]])
            samples[s["name"]] += _sample(lambda i: fit_rate(s["model"], train_ids, s["batch"], s["seq"],
                                                            steps, seed=k + 1), 1, 1)
    rows = []
    for s in specs:
        fpt, how = flops_per_token(s["model"], s["seq"])
        values, clean = C.quiet_values(samples[s["name"]])
        rate = C.median(values)
        achieved = rate * fpt / 1e9
        rows.append({
            "model": s["name"], "params": models.count_parameters(s["model"]), "batch": s["batch"],
            "seq_len": s["seq"], "steps_per_rep": steps, "reps_used": len(values), "clean": clean,
            "tokens_per_s_median": rate, "tokens_per_s_used": values,
            "flops_per_token": fpt, "flops_formula": how,
            "achieved_gflops": achieved, "fraction_of_peak": achieved / peak,
            "foreign_cores_max": _foreign_max(samples[s["name"]], clean), "samples": samples[s["name"]],
        })
    return rows


# ----------------------------------------------------------------------------------------- trainer overhead
def bare_loop(model, train_ids, batch, seq, steps, lr=3e-3, betas=(0.9, 0.99), clip=1.0, seed=0) -> None:
    """The loop fit runs, written by hand: same sampling, AdamW (no weight decay), clipping, constant lr."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        x, y = data.get_batch(train_ids, batch, seq, gen)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()


def fit_loop(model, train_ids, batch, seq, steps, seed=0) -> None:
    cfg = train.TrainConfig(steps=steps, batch_size=batch, seq_len=seq, lr=3e-3, betas=(0.9, 0.99),
                            grad_clip=1.0, progress=False, eval_interval=10**9, seed=seed)
    train.fit(model, train_ids, None, cfg, device="cpu")


def trainer_overhead(name, model, train_ids, batch, seq, steps, reps) -> dict:
    """Wall time of a whole train.fit call vs the bare loop (same steps), in ABBA-ordered pairs;
    overhead = median over undisturbed pairs of (fit time / bare time) - 1."""
    fit_loop(model, train_ids, batch, seq, max(2, steps // 5))
    bare_loop(model, train_ids, batch, seq, max(2, steps // 5))

    def pair(i):
        times = {}
        with C.CpuMonitor() as mon:
            for which in (("fit", "bare") if i % 2 == 0 else ("bare", "fit")):
                fn = fit_loop if which == "fit" else bare_loop
                t0 = time.perf_counter()
                fn(model, train_ids, batch, seq, steps, seed=i)
                times[which] = time.perf_counter() - t0
        return times, mon.foreign_cores

    samples = _sample(pair, reps, 3 * reps)
    values, clean = C.quiet_values(samples)
    t_fit, t_bare = [v["fit"] for v in values], [v["bare"] for v in values]
    ratios = [f / b for f, b in zip(t_fit, t_bare)]
    return {
        "model": name, "batch": batch, "seq_len": seq, "steps_per_run": steps, "pairs_used": len(values),
        "clean": clean, "fit_s_median": C.median(t_fit), "bare_s_median": C.median(t_bare),
        "overhead_pct_median_of_ratios": 100 * (C.median(ratios) - 1),
        "overhead_pct_of_medians": 100 * (C.median(t_fit) / C.median(t_bare) - 1),
        "ratios": ratios, "foreign_cores_max": _foreign_max(samples, clean), "samples": samples,
    }


# ---------------------------------------------------------------------------------------- optimiser step
def optimizer_step_times(named_models, reps: int, inner: int) -> list[dict]:
    """Time of one AdamW step: lmlib's make_optimizer (torch's default per-tensor loop on the CPU) vs
    torch's fused AdamW (CPU support since torch 2.4), with random gradients."""
    out = []
    for name, model in named_models:
        params = [p for p in model.parameters() if p.requires_grad]
        saved = [p.detach().clone() for p in params]
        for p in params:
            p.grad = torch.randn_like(p)
        variants = {"make_optimizer": train.make_optimizer(model, train.TrainConfig())}
        try:
            variants["fused"] = torch.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.99), weight_decay=0.0, fused=True)
        except (RuntimeError, TypeError):  # torch < 2.4: no fused AdamW on the CPU
            pass
        for opt in variants.values():
            for _ in range(3):
                opt.step()

        def round_(i):
            times = {}
            with C.CpuMonitor() as mon:
                for k in (list(variants) if i % 2 == 0 else list(reversed(variants))):
                    t0 = time.perf_counter()
                    for _ in range(inner):
                        variants[k].step()
                    times[k] = (time.perf_counter() - t0) / inner
            return times, mon.foreign_cores

        samples = _sample(round_, reps, 3 * reps)
        values, clean = C.quiet_values(samples)
        with torch.no_grad():  # leave the model as it was
            for p, s in zip(params, saved):
                p.copy_(s)
                p.grad = None
        row = {"model": name, "param_tensors": len(params), "params": sum(p.numel() for p in params),
               "clean": clean, "foreign_cores_max": _foreign_max(samples, clean)}
        for k in variants:
            row[f"{k}_ms"] = 1e3 * C.median([v[k] for v in values])
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------- generation
def generation(block_sizes, new_tokens, reps) -> list[dict]:
    tok = tokenizers.ByteTokenizer()
    prompt = "The Python reference manual says: "
    out = []
    for block in block_sizes:
        torch.manual_seed(0)
        model = models.GPT(models.GPTConfig(vocab_size=256, block_size=block, n_layer=4, n_head=4, n_embd=128))
        model.eval()
        for use_cache in (True, False):  # warm-up
            generate.generate(model, tok, prompt, max_new_tokens=min(20, new_tokens), temperature=0,
                              use_cache=use_cache)
        texts = {}

        def pair(i):
            rates = {}
            with C.CpuMonitor() as mon:
                for use_cache in ((True, False) if i % 2 == 0 else (False, True)):
                    t0 = time.perf_counter()
                    texts[use_cache] = generate.generate(model, tok, prompt, max_new_tokens=new_tokens,
                                                         temperature=0, use_cache=use_cache)
                    rates[use_cache] = new_tokens / (time.perf_counter() - t0)
            return rates, mon.foreign_cores

        samples = _sample(pair, reps, 3 * reps)
        values, clean = C.quiet_values(samples)
        cached, uncached = [v[True] for v in values], [v[False] for v in values]
        out.append({
            "block_size": block, "new_tokens": new_tokens, "pairs_used": len(values), "clean": clean,
            "cached_tokens_per_s": C.median(cached), "uncached_tokens_per_s": C.median(uncached),
            "speedup_median_of_ratios": C.median([a / b for a, b in zip(cached, uncached)]),
            "same_text": texts[True] == texts[False], "foreign_cores_max": _foreign_max(samples, clean),
            "samples": [{**s, "value": {"cached": s["value"][True], "uncached": s["value"][False]}}
                        for s in samples],
        })
    return out


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _flag(row) -> str:
    return _fmt(row["foreign_cores_max"]) + ("" if row["clean"] else " DISTURBED")


def main() -> None:
    global WAIT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shrink everything for a smoke run (< 30 s)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    ap.add_argument("--no-wait", action="store_true",
                    help="neither wait for a quiet CPU nor redo disturbed repetitions")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    q = args.quick
    WAIT = not (q or args.no_wait)

    info = C.env_info()
    info["quick"] = q
    C.print_env(info)
    started = time.perf_counter()

    # The default corpus, character level (the GPT's and the RNNs' vocabulary).
    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, _ = data.split(text, 0.9)
    train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
    vocab = tok.vocab_size

    # 1. matmul peak
    sizes = [512, 1024] if q else [1024, 2048, 3072, 4096]
    mm = matmul_peak(sizes, reps=3 if q else 6)
    peak = max(v["best_gflops"] for v in mm.values())
    print(f"\nfloat32 matmul, {torch.get_num_threads()} threads, GFLOP/s:")
    print(C.table([[n, f"{v['best_gflops']:.1f}", f"{v['median_gflops']:.1f}", _flag(v)] for n, v in mm.items()],
                  ["n", "best", "median", "foreign cores"]))
    print(f"peak = {peak:.1f} GFLOP/s")

    # 2. training throughput through train.fit
    torch.manual_seed(0)
    gpt = models.GPT(models.GPTConfig(vocab_size=vocab, block_size=64, n_layer=4, n_head=4, n_embd=128))
    specs = [{"name": "GPT 4x4x128", "model": gpt, "batch": 12, "seq": 64}]
    for cell in ("rnn", "lstm", "gru"):
        rnn = models.RNNLM(models.RNNConfig(vocab, embedding_dim=128, hidden_dim=256, cell=cell))
        specs.append({"name": f"{cell.upper()} 128/256", "model": rnn, "batch": 32, "seq": 64})
    rates = training_rates(specs, train_ids, steps=6 if q else 40, reps=2 if q else 5, peak=peak)
    print(f"\ntraining through train.fit (char vocab {vocab}), median of undisturbed repetitions:")
    print(C.table([[r["model"], r["params"], f"{r['batch']}x{r['seq_len']}", f"{r['tokens_per_s_median']:,.0f}",
                    f"{r['flops_per_token'] / 1e6:.2f}", f"{r['achieved_gflops']:.1f}",
                    f"{100 * r['fraction_of_peak']:.1f} %", _flag(r)] for r in rates],
                  ["model", "params", "BxT", "tokens/s", "MFLOP/token", "GFLOP/s", "of peak", "foreign cores"]))

    # 3. trainer overhead: train.fit vs a bare loop
    steps, reps = (6, 2) if q else (30, 12)
    overhead = [
        trainer_overhead("GPT 4x4x128", gpt, train_ids, 12, 64, steps, reps),
        trainer_overhead("GRU 128/256", specs[3]["model"], train_ids, 32, 64, steps, reps),
    ]
    # The same comparison on a tiny model, whose step costs little, isolates fit's own per-step cost.
    torch.manual_seed(0)
    tiny = models.GPT(models.GPTConfig(vocab_size=vocab, block_size=8, n_layer=1, n_head=1, n_embd=16))
    t = trainer_overhead("tiny GPT 1x1x16", tiny, train_ids, 1, 8, 20 if q else 200, reps)
    t["fit_minus_bare_us_per_step"] = C.median(
        [1e6 * (s["value"]["fit"] - s["value"]["bare"]) / t["steps_per_run"] for s in t["samples"] if s["quiet"]]
        or [1e6 * (s["value"]["fit"] - s["value"]["bare"]) / t["steps_per_run"] for s in t["samples"]])
    overhead.append(t)
    gpt_step_s = overhead[0]["bare_s_median"] / overhead[0]["steps_per_run"]
    t["as_pct_of_gpt_step"] = 100 * t["fit_minus_bare_us_per_step"] / 1e6 / gpt_step_s
    print("\ntrain.fit overhead over a hand-written loop (same sampling, AdamW, clipping; ABBA pairs):")
    print(C.table([[o["model"], f"{o['steps_per_run']} x {o['pairs_used']}", f"{o['bare_s_median']:.3f}",
                    f"{o['fit_s_median']:.3f}", f"{o['overhead_pct_median_of_ratios']:+.1f} %",
                    f"{min(o['ratios']):.3f}..{max(o['ratios']):.3f}", _flag(o)] for o in overhead],
                  ["model", "steps x pairs", "bare s", "fit s", "overhead", "fit/bare range", "foreign cores"]))
    print(f"fit's own cost per step (tiny model, median of pairs): {t['fit_minus_bare_us_per_step']:.0f} us"
          f" = {t['as_pct_of_gpt_step']:.2f} % of a GPT 4x4x128 step ({1e3 * gpt_step_s:.1f} ms)")

    # 4. the optimiser step on its own
    opt = optimizer_step_times([("GPT 4x4x128", gpt), ("GRU 128/256", specs[3]["model"]),
                                ("LSTM 128/256", specs[2]["model"])], reps=2 if q else 7, inner=10 if q else 50)
    print("\nAdamW step, ms: lmlib's make_optimizer (per-tensor loop) vs torch's fused AdamW:")
    print(C.table([[o["model"], o["param_tensors"], f"{o['make_optimizer_ms']:.3f}",
                    f"{o['fused_ms']:.3f}" if "fused_ms" in o else "n/a", _flag(o)] for o in opt],
                  ["model", "tensors", "make_optimizer", "fused", "foreign cores"]))

    # 5. generation with and without the KV cache
    gen = generation([64, 256], new_tokens=40 if q else 500, reps=1 if q else 5)
    print("\ngeneration, GPT 4x4x128, byte tokenizer, greedy (temperature 0):")
    print(C.table([[g["block_size"], g["new_tokens"], f"{g['cached_tokens_per_s']:.0f}",
                    f"{g['uncached_tokens_per_s']:.0f}", f"{g['speedup_median_of_ratios']:.2f}x",
                    g["same_text"], _flag(g)] for g in gen],
                  ["block", "new tokens", "cached tok/s", "uncached tok/s", "speed-up", "same text", "foreign cores"]))

    info["wall_s"] = time.perf_counter() - started
    payload = {"env": info, "matmul_peak_gflops": peak, "matmul": mm, "training": rates,
               "trainer_overhead": overhead, "optimizer_step": opt, "generation": gen}
    path = C.write_json("speed_quick" if q else "speed", payload)
    disturbed = [str(r.get("model", r.get("block_size", ""))) for r in rates + overhead + opt + gen
                 if not r["clean"]]
    disturbed += [f"matmul {n}" for n, v in mm.items() if not v["clean"]]
    if disturbed and not q:
        print(f"\nWARNING: other processes disturbed: {', '.join(disturbed)}; those figures may be off")
    print(f"\n{info['wall_s']:.0f} s; figures written to {path}")


if __name__ == "__main__":
    main()
