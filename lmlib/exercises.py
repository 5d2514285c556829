"""Exercise checks for students, and the teacher's two commands.

Every chapter ends with exercises. Where an answer is a number or code, the notebook calls
``check("5.2", answer)``, which tells the student what is right or wrong in it. The truth is computed here
from lmlib, never stored as a bare number.

Teacher commands (one each)::

    python -m lmlib.exercises student chapters/ student_copy/     # notebooks without solutions
    python -m lmlib.exercises grade submissions/                  # run each notebook, print a score table
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["Result", "check", "CHECKS", "exercise_ids", "make_student_copy", "grade_folder", "main"]

METADATA_KEY = "lmlib_check"  # where a check output records its result, for grading
SOLUTION_TAG = "solution"


@dataclass
class Result:
    """The outcome of one check: passed or not, and what to tell the student."""

    exercise: str
    passed: bool
    message: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        mark = "✔" if self.passed else "✘"
        colour = "#1a7f37" if self.passed else "#cf222e"
        text = f"{mark} Exercise {self.exercise}: {self.message}"
        html = (
            f'<div class="lmlib-check" style="border-left:4px solid {colour};padding:4px 8px">'
            f"<b>{mark} Exercise {self.exercise}</b>: {_escape(self.message)}</div>"
        )
        data = {"text/plain": text, "text/html": html}
        return data, {METADATA_KEY: {"exercise": self.exercise, "passed": self.passed}}

    def __bool__(self) -> bool:
        return self.passed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {}


def _register(exercise: str) -> Callable:
    def wrap(fn: Callable[[Any], tuple[bool, str]]) -> Callable:
        CHECKS[exercise] = fn
        return fn

    return wrap


def exercise_ids() -> list[str]:
    """The exercises that have checks, in chapter order."""
    return sorted(CHECKS, key=lambda e: tuple(int(p) for p in e.split(".")))


def check(exercise: str, answer: Any) -> Result:
    """Check ``answer`` to ``exercise`` (e.g. ``"5.2"``); the result displays itself in a notebook."""
    if exercise not in CHECKS:
        raise ValueError(f"no exercise {exercise!r}; exercises with checks: {exercise_ids()}")
    if answer is ...:
        return Result(exercise, False, "replace the ... with your answer, then run the cell again")
    try:
        passed, message = CHECKS[exercise](answer)
    except Exception as err:  # a student's code may fail in any way: report it, don't crash the check
        passed, message = False, f"your answer raised {type(err).__name__}: {err}"
    return Result(exercise, passed, message)


def _grade(value: float, truth: float, rel_tol: float, right: str,
           mistakes: list[tuple[float, str]], otherwise: str) -> tuple[bool, str]:
    """Right when ``value`` is close to ``truth``; else the message of the first typical mistake it matches;
    else ``otherwise``."""
    if math.isclose(value, truth, rel_tol=rel_tol):
        return True, right
    for candidate, message in mistakes:
        if math.isclose(value, candidate, rel_tol=rel_tol):
            return False, message
    return False, otherwise


def _number(answer: Any) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        raise TypeError(f"expected a number, got {type(answer).__name__}")
    return float(answer)


# ---------------------------------------------------------------- chapter 1: background


@_register("1.1")
def _perplexity_of_uniform_bytes(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if math.isclose(value, 256, rel_tol=1e-6):
        return True, "right: a model that spreads its bets evenly over 256 bytes has perplexity 256."
    if math.isclose(value, math.log(256), rel_tol=1e-3):
        return False, "that is the loss ln(256) in nats; perplexity is exp(loss)."
    if math.isclose(value, 8, rel_tol=1e-6):
        return False, "8 is the loss in bits (log2 256); perplexity is 2**bits = exp(nats)."
    return False, f"{value:g} is not it: perplexity is exp(loss), and the loss of a uniform guess over V tokens is ln V."


@_register("1.2")
def _bytes_of_prompt(answer: Any) -> tuple[bool, str]:
    truth = len("这是一个".encode("utf-8"))
    value = _number(answer)
    if value == truth:
        return True, f"right: each of the 4 characters takes 3 bytes in UTF-8, so {truth} byte tokens."
    if value == 4:
        return False, "4 is the number of characters; a byte tokenizer sees their UTF-8 bytes."
    return False, f"{value:g} is not it; try len('这是一个'.encode('utf-8'))."


# ---------------------------------------------------------------- chapter 2: core concepts and the CPU analogy


@_register("2.1")
def _doubling_time_of_two_chips(answer: Any) -> tuple[bool, str]:
    from .growth import doubling_time

    (y0, c0), (y1, c1) = (1978, 29_000), (1993, 3_100_000)  # Intel 8086 and Pentium, as in chapter 2
    truth = doubling_time([y0, y1], [c0, c1])
    value = _number(answer)
    years, ratio = y1 - y0, c1 / c0
    mistakes = [
        (years / math.log(ratio), "you used the natural logarithm; a doubling time needs log2 (or ln(ratio)/ln 2)."),
        (years / math.log10(ratio), "you used log10; a doubling time needs log2 of the growth factor."),
        (math.log2(ratio), "that is the number of doublings; divide the years by it."),
        (math.log2(ratio) / years, "that is doublings per year; the doubling time is its inverse."),
        (ratio / years, "growth is not linear: count doublings with log2 of the ratio, then divide the years by them."),
    ]
    right = f"right: {y1 - y0} years / log2({c1:,}/{c0:,}) = {truth:.2f} years per doubling."
    otherwise = f"{value:g} is not it: count the doublings, log2({c1:,}/{c0:,}), and divide the {years} years by them."
    return _grade(value, truth, 0.01, right, mistakes, otherwise)


@_register("2.2")
def _amdahl_speedup(answer: Any) -> tuple[bool, str]:
    from .growth import amdahl_speedup

    s, n = 0.1, 8
    truth = amdahl_speedup(s, n)
    value = _number(answer)
    mistakes = [
        (n, "that is the ideal speed-up; the serial 10 % does not get faster with more threads."),
        (1 / s, "1/s = 10 is the limit for infinitely many threads; with 8 it is lower."),
        (s + (1 - s) * n, "that is Gustafson's scaled speed-up (the problem grows with n); Amdahl keeps the work fixed."),
        (amdahl_speedup(1 - s, n), "you swapped the fractions: s = 0.1 is the serial part, 0.9 runs in parallel."),
        (1 / (s + (1 - s) * n), "divide the parallel part by n, don't multiply: T(n) = s + (1 - s)/n."),
        (truth / n, "that is the parallel efficiency, speed-up / n; the question asks for the speed-up."),
    ]
    right = f"right: 1/(s + (1 - s)/n) = 1/({s} + {1 - s:.1f}/{n}) = {truth:.2f}."
    otherwise = f"{value:g} is not it: the time on n threads is s + (1 - s)/n of the time on one; invert it."
    return _grade(value, truth, 0.005, right, mistakes, otherwise)


@_register("2.3")
def _serial_fraction_from_speedup(answer: Any) -> tuple[bool, str]:
    from .growth import fit_serial_fraction

    n, speedup = 4, 3.2
    truth = fit_serial_fraction([n], [speedup])
    value = _number(answer)
    mistakes = [
        (1 - speedup / n, "that is 1 minus the parallel efficiency; solve 1/3.2 = s + (1 - s)/4 for s instead."),
        (1 / speedup, "1/3.2 is the time ratio T(4)/T(1); part of it is the parallel work (1 - s)/4."),
        (1 - truth, "that is the parallel fraction 1 - s; the question asks for the serial one."),
        (1 / speedup - 1 / n, "almost: 1/3.2 - 1/4 = s(1 - 1/4); divide by (1 - 1/4)."),
    ]
    if not 0 <= value <= 1:
        return False, f"a serial fraction lies between 0 and 1, got {value:g}."
    right = f"right: s = (1/{speedup} - 1/{n}) / (1 - 1/{n}) = {truth:.4f}."
    otherwise = f"{value:g} is not it: with s = {value:g}, Amdahl gives a speed-up of {1 / (value + (1 - value) / n):.2f}, not {speedup}."
    return _grade(value, truth, 0.01, right, mistakes, otherwise)


# ---------------------------------------------------------------- chapter 3: the core algorithm

EX_3_1_TEXT = "aaabdaaabac"


@_register("3.1")
def _bpe_tokens_by_hand(answer: Any) -> tuple[bool, str]:
    from .tokenizers import BPETokenizer

    tok = BPETokenizer.fit(EX_3_1_TEXT, vocab_size=300)
    truth = len(tok.encode(EX_3_1_TEXT))
    value = _number(answer)
    if value == truth:
        pieces = " ".join(tok.token_bytes(i).decode() for i in tok.encode(EX_3_1_TEXT))
        return True, f"right: after {len(tok.merges)} merges the text is {truth} tokens: {pieces}."
    if value == len(EX_3_1_TEXT.encode("utf-8")):
        return False, "that is the number of bytes before any merge; BPE then merges the most frequent pairs."
    if value == len(tok.merges):
        return False, f"{len(tok.merges)} is the number of merges; the question asks how many tokens remain."
    partial = {len(BPETokenizer(tok.merges[:k]).encode(EX_3_1_TEXT)): k for k in range(1, len(tok.merges))}
    if value in partial:
        k = partial[int(value)]
        return False, (f"that is the count after {k} merge{'s' if k > 1 else ''}; fit goes on while some pair "
                       "still occurs at least twice.")
    if value == 300 - 256:
        return False, "fit stops early, when no pair occurs twice, long before the vocabulary is full."
    return False, f"{value:g} is not it: merge (a, a) first, then the most frequent pair again, until none repeats."


def _as_probs(result: Any) -> Any:
    import torch

    if result is None:
        raise ValueError("your function returned None: return the probabilities")
    return torch.as_tensor(result, dtype=torch.float64).flatten()


@_register("3.2")
def _temperature_top_k(answer: Any) -> tuple[bool, str]:
    import torch

    from .generate import next_token_probs

    if not callable(answer):
        return False, "pass your function itself (my_next_token_probs), not its result."
    cases = [
        (torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 3.0]), 0.5, 3),
        (torch.tensor([0.3, -0.2, 1.7, 0.9]), 2.0, 2),
        (torch.tensor([1.0, 4.0, -2.0, 0.0, 2.5]), 1.0, 5),
    ]
    for logits, t, k in cases:
        try:
            got = _as_probs(answer(logits.clone(), t, k))
        except ValueError as err:
            return False, str(err) + "."
        want = next_token_probs(logits, temperature=t, top_k=k).double()
        if got.shape != want.shape:
            return False, (f"return one probability per token: expected shape {tuple(want.shape)}, "
                           f"got {tuple(got.shape)}.")
        if torch.allclose(got, want, atol=1e-6):
            continue
        if not math.isclose(float(got.sum()), 1.0, abs_tol=1e-4):
            return False, (f"your probabilities sum to {float(got.sum()):.4f}, not 1; after dropping the tokens "
                           "outside the top k, renormalise (softmax of the kept logits does it).")
        if torch.allclose(got, next_token_probs(logits, temperature=1 / t, top_k=k).double(), atol=1e-6):
            return False, "you multiplied the logits by the temperature; divide them by it (T < 1 sharpens)."
        if torch.allclose(got, next_token_probs(logits, temperature=1.0, top_k=k).double(), atol=1e-6):
            return False, "the temperature has no effect in your function: divide the logits by it before the softmax."
        if torch.allclose(got, next_token_probs(logits, temperature=t).double(), atol=1e-6):
            return False, "every token keeps some probability: set all but the k largest logits to -inf first."
        for kk in (k - 1, k + 1):
            if 1 <= kk <= len(logits) and torch.allclose(
                got, next_token_probs(logits, temperature=t, top_k=kk).double(), atol=1e-6
            ):
                return False, f"off by one: you kept {kk} tokens where top-k with k={k} keeps {k}."
        return False, (f"for logits {logits.tolist()}, T={t}, k={k} expected {[round(v, 4) for v in want.tolist()]}, "
                       f"got {[round(v, 4) for v in got.tolist()]}.")
    return True, "right: divide by the temperature, keep the k largest logits, softmax; as generate.next_token_probs."


EX_3_3_CONFIG = dict(vocab_size=100, block_size=16, n_layer=1, n_head=2, n_embd=32)


@_register("3.3")
def _count_gpt_parameters(answer: Any) -> tuple[bool, str]:
    from . import models

    c = models.GPTConfig(**EX_3_3_CONFIG)
    truth = models.count_parameters(models.GPT(c))
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters (the output layer reuses the token embedding)."
    e, layers = c.n_embd, c.n_layer
    linear_biases = layers * (3 * e + e + 4 * e + e)
    norm_params = (2 * layers + 1) * 2 * e
    hints = {
        -c.vocab_size * e: ("the output layer shares its weight matrix with the token embedding (weight tying): "
                            "count it once."),
        c.block_size * e: "you left out the position embeddings (block_size x n_embd).",
        linear_biases: "you left out the biases of the Linear layers in the block.",
        norm_params: "you left out the LayerNorms: two per block and a final one, each with a gain and a bias.",
        linear_biases + (2 * layers + 1) * e: "you left out all biases (Linear layers and LayerNorms).",
        c.vocab_size * e: "you left out the token embedding.",
        layers * 8 * e * e + layers * 5 * e: "you left out the feed-forward network (n_embd -> 4 n_embd -> n_embd).",
    }
    hint = hints.get(int(truth - value))
    if hint:
        return False, hint
    if value == truth * c.n_head or value == truth + (c.n_head - 1) * layers * 4 * e * e:
        return False, "the heads split n_embd between them; they add no parameters."
    return False, (f"{value:g} is not it (off by {truth - value:+g}): count token and position embeddings, per block "
                   "two LayerNorms, qkv and output projections, the 4x feed-forward layers, and the final LayerNorm.")


# ---------------------------------------------------------------- chapter 4: the mathematical model


def _sympy_answer(answer: Any, names: dict[str, Any]) -> Any:
    """A student's sympy expression (or string) with its symbols replaced by ours, matched by name."""
    import sympy as sp

    if isinstance(answer, str):
        expr = sp.sympify(answer, locals=dict(names))
    elif isinstance(answer, (int, float)) and not isinstance(answer, bool):
        expr = sp.sympify(answer)
    else:
        expr = answer
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__}")
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in names)
    if unknown:
        raise ValueError(f"your answer uses {unknown}; use only the symbols {sorted(names)}")
    expr = expr.subs({s: names[s.name] for s in expr.free_symbols})
    return expr.rewrite(sp.exp)  # lmlib.symbolic.Sigmoid(z) becomes 1/(1 + exp(-z))


def _is_zero(expr: Any) -> bool:
    import sympy as sp

    return sp.simplify(expr) == 0


@_register("4.1")
def _softplus_derivative(answer: Any) -> tuple[bool, str]:
    import sympy as sp

    z = sp.Symbol("z")
    expr = _sympy_answer(answer, {"z": z})
    truth = sp.diff(sp.log(1 + sp.exp(z)), z)
    if _is_zero(expr - truth):
        return True, "right: the derivative of softplus ln(1 + e^z) is the sigmoid e^z / (1 + e^z) = σ(z)."
    if _is_zero(expr + truth):
        return False, "the sign is flipped: ln(1 + e^z) grows with z, so its derivative is positive."
    if _is_zero(expr - 1 / (1 + sp.exp(z))):
        return False, ("you forgot the chain-rule factor: d/dz ln(u) = u'/u, and the inside u = 1 + e^z "
                       "has derivative u' = e^z.")
    if _is_zero(expr - sp.exp(z)):
        return False, "you kept only the inside's derivative e^z; the outer ln contributes the factor 1/(1 + e^z)."
    return False, "not yet: sympy.simplify(answer - truth) is not 0. Try sympy.diff(sympy.log(1 + sympy.exp(z)), z)."


@_register("4.2")
def _first_layer_gradient(answer: Any) -> tuple[bool, str]:
    import sympy as sp

    yhat, y, w, h, x = sp.symbols("yhat y w h x")
    expr = _sympy_answer(answer, {"yhat": yhat, "y": y, "w": w, "h": h, "x": x})
    truth = (yhat - y) * w * h * (1 - h) * x
    if _is_zero(expr - truth):
        return True, "right: (ŷ - y) · W2_j · h_j(1 - h_j) · x_k, one factor per link of the chain."
    if _is_zero(expr):
        return False, "your answer is 0; the loss does depend on W1_jk, through h_j and the output."
    ratio = sp.simplify(expr / truth)
    factors = [
        (-1, "the sign is flipped: the loss's gradient starts with ŷ - y (the log-likelihood's with y - ŷ)."),
        (1 / (w * h * (1 - h)), "your gradient skips the chain rule through the hidden layer (the article's "
                                "error): multiply by W2_j and by σ'(a_j) = h_j(1 - h_j)."),
        (1 / (h * (1 - h)), "you forgot the chain-rule factor σ'(a_j) = h_j(1 - h_j) of the hidden sigmoid."),
        (1 / w, "you forgot the factor W2_j: h_j reaches the output only through that weight."),
        (1 / x, "you forgot x_k, the derivative of a_j = Σ_k W1_jk x_k + b1_j with respect to W1_jk."),
        (yhat * (1 - yhat), "drop the factor ŷ(1 - ŷ): with cross-entropy on a sigmoid output, dL/da2 = ŷ - y "
                            "(the output sigmoid's derivative cancels against the log)."),
        (h, "h_j appears once too often: σ'(a_j) = h_j(1 - h_j), not h_j²(1 - h_j)."),
    ]
    for factor, message in factors:
        if _is_zero(ratio - factor):
            return False, message
    return False, "not yet: write dL/dW1_jk as (dL/da2)(da2/dh_j)(dh_j/da_j)(da_j/dW1_jk) and multiply the four."


@_register("4.3")
def _divergence_threshold(answer: Any) -> tuple[bool, str]:
    import sympy as sp

    from .symbolic import line_fit_surface

    surface = line_fit_surface()
    eigen = sorted(surface.hessian.eigenvals(), key=float)
    lmin, lmax = eigen[0], eigen[-1]
    value = _number(answer)
    mistakes = [
        (float(1 / lmax), "1/λ_max is where oscillation starts (each step overshoots the valley floor); it "
                          "still converges until the overshoot is more than double: 2/λ_max."),
        (float(2 / lmin), "use the largest eigenvalue: the steepest direction is the first to diverge."),
        (float(2 / (lmin + lmax)), "2/(λ_min + λ_max) is the best constant step, not the edge of divergence."),
        (float(lmax / 2), "you inverted it: the threshold is 2/λ_max, a step size, not λ_max/2."),
    ]
    right = f"right: 2/λ_max = {sp.nsimplify(2 / lmax)} ≈ {float(2 / lmax):.4f}; above it the steepest direction grows."
    otherwise = f"{value:g} is not it: find the Hessian's largest eigenvalue λ_max; plain descent diverges above 2/λ_max."
    return _grade(value, float(2 / lmax), 1e-4, right, mistakes, otherwise)


@_register("4.4")
def _summed_loss_learning_rate(answer: Any) -> tuple[bool, str]:
    import torch

    value = _number(answer)
    batch, lr = 32, 0.1
    gen = torch.Generator().manual_seed(0)
    x, t = torch.randn(batch, 3, generator=gen, dtype=torch.float64), torch.randn(batch, generator=gen, dtype=torch.float64)

    def step(reduction: str, rate: float) -> torch.Tensor:
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.mse_loss(x @ w, t, reduction=reduction)
        (g,) = torch.autograd.grad(loss, w)
        return -rate * g

    target = step("mean", lr)
    if value > 0 and torch.allclose(step("sum", value), target, rtol=1e-9, atol=0):
        return True, f"right: lr / N = {lr} / {batch} = {lr / batch:g}; the summed loss's gradient is N times larger."
    if math.isclose(value, lr * batch, rel_tol=1e-6):
        return False, "you multiplied by N; the summed loss already has an N times larger gradient, so divide."
    if math.isclose(value, lr, rel_tol=1e-6):
        return False, "the same rate would take steps N = 32 times larger with the summed loss."
    ratio = float(step("sum", value).norm() / target.norm()) if value > 0 else float("nan")
    return False, f"with lr = {value:g} the steps are {ratio:.3g} times those of the mean loss at lr {lr}; make them equal."


# ---------------------------------------------------------------- chapter 5: project practice


@_register("5.1")
def _windows(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (make_windows), not its result."
    ids = list(range(10))
    got = answer(ids, 3)
    if got is None:
        return False, "make_windows returned None: finish it so that it returns x, y."
    if not (isinstance(got, tuple) and len(got) == 2):
        return False, "return a pair (x, y)."
    x, y = (torch.as_tensor(t) for t in got)
    want_x = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    want_y = want_x + 1
    if x.shape != want_x.shape:
        return False, f"for 10 ids and seq_len 3, x should have shape (3, 3); yours has {tuple(x.shape)}."
    if torch.equal(x, want_x) and torch.equal(y, want_x):
        return False, "your targets equal the inputs; each target is the token that comes next (shift by one)."
    if torch.equal(x, want_x) and torch.equal(y, want_y):
        return True, "right: non-overlapping windows, targets shifted one step to the right."
    return False, f"for ids 0..9 and seq_len 3 expected x={want_x.tolist()}, y={want_y.tolist()}; got x={x.tolist()}, y={y.tolist()}."


def _rnn_parameters(cell: str, vocab: int, emb: int, hidden: int) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return vocab * emb + gates * (emb * hidden + hidden * hidden + 2 * hidden) + hidden * vocab + vocab


@_register("5.2")
def _count_rnn_parameters(answer: Any) -> tuple[bool, str]:
    from . import models

    model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=64, hidden_dim=128, cell="gru"))
    truth = models.count_parameters(model)
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters."
    diffs = {
        2 * 3 * 128: "you left out the GRU's biases (two bias vectors per gate, 3 gates).",
        3 * 128: "you counted one bias vector per GRU gate; PyTorch keeps two (input and hidden).",
        256: "you left out the output layer's bias.",
        2 * 3 * 128 + 256: "you left out all biases.",
        256 * 64: "you left out the embedding table.",
        128 * 256 + 256: "you left out the output layer.",
    }
    hint = diffs.get(int(truth - value))
    if hint:
        return False, hint
    if value == _rnn_parameters("rnn", 256, 64, 128):
        return False, "that is the count for a plain RNN cell; a GRU has 3 gates, each with its own weights."
    return False, f"{value:g} is not it (off by {truth - value:+g}); count embedding, GRU weights and biases, and the output layer."


# ---------------------------------------------------------------- teacher commands


def _is_solution(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return SOLUTION_TAG in tags or "{solution}" in "".join(cell.get("source", ""))


def make_student_copy(src: str | Path, dest: str | Path) -> list[Path]:
    """Copy every notebook under ``src`` to ``dest`` without solution cells and outputs of exercise cells."""
    import nbformat

    src, dest = Path(src), Path(dest)
    written = []
    for path in sorted(src.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        nb.cells = [cell for cell in nb.cells if not _is_solution(cell)]
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def _results_of(nb: Any) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(METADATA_KEY)
            if record:
                results[record["exercise"]] = bool(record["passed"])  # the last check of an exercise counts
    return results


def grade_folder(folder: str | Path, timeout: int = 600, execute: bool = True) -> list[dict[str, Any]]:
    """Run every notebook in ``folder`` (unless ``execute=False``) and collect its check results."""
    import nbformat

    rows = []
    for path in sorted(Path(folder).rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        error = ""
        if execute:
            from nbclient import NotebookClient
            from nbclient.exceptions import CellExecutionError

            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(path.parent)}})
            try:
                client.execute()
            except (CellExecutionError, RuntimeError, TimeoutError) as err:
                error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        results = _results_of(nb)
        rows.append({
            "notebook": str(path.relative_to(folder)),
            "passed": sum(results.values()),
            "checked": len(results),
            "results": results,
            "error": error,
        })
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    exercises = sorted({e for r in rows for e in r["results"]}, key=lambda e: tuple(int(p) for p in e.split(".")))
    header = ["notebook", *exercises, "score"]
    lines = [header]
    for r in rows:
        marks = [("✔" if r["results"][e] else "✘") if e in r["results"] else "–" for e in exercises]
        lines.append([r["notebook"], *marks, f"{r['passed']}/{len(exercises)}"])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``student SRC DEST`` or ``grade FOLDER [--json OUT]``."""
    parser = argparse.ArgumentParser(prog="python -m lmlib.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student copies of the notebooks, without solutions")
    student.add_argument("src")
    student.add_argument("dest")
    grade = sub.add_parser("grade", help="run each submitted notebook and print a score table")
    grade.add_argument("folder")
    grade.add_argument("--json", help="also write the results as JSON to this file")
    grade.add_argument("--no-execute", action="store_true", help="grade the stored outputs as they are")
    grade.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.command == "student":
        written = make_student_copy(args.src, args.dest)
        print(f"wrote {len(written)} student notebooks to {args.dest}")
        return 0
    folder = Path(args.folder)
    if not folder.is_dir():
        parser.error(f"{folder} is not a folder of notebooks")
    rows = grade_folder(folder, timeout=args.timeout, execute=not args.no_execute)
    if not rows:
        print(f"no notebooks in {folder}")
        return 1
    print(_table(rows))
    for r in rows:
        if r["error"]:
            print(f"{r['notebook']}: {r['error']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
