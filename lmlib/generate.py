"""Generating text: greedy decoding, temperature, top-k and top-p sampling, streaming.

Chapter 3 (section 3.2, inference) reshapes a real next-token distribution with these functions;
chapters 1 and 5 generate with them.

A GPT sees at most ``block_size`` tokens. When the context is full, generation keeps the last
``block_size // 2`` tokens and goes on from there; the cached (``use_cache=True``) and uncached paths
follow this same rule, so they produce the same tokens, and the cache rebuilds itself only then.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import numbers
import warnings
from typing import Any, Iterator

import torch

from .data import as_tensor
from .models import KVCache
from .tokenizers import Tokenizer

__all__ = ["next_token_probs", "filter_logits", "sample", "generate", "stream", "generate_ids"]

PREFILL_LOGITS = 2**22  # a long prompt is read in pieces of at most this many logits (16 MiB as float32)


def _check_filters(top_k: int | None, top_p: float | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real)
                              or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not math.isfinite(temperature)
            or temperature < 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}")
    _check_filters(top_k, top_p)


def _check_logits(logits: Any) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() == 0 \
            or logits.size(-1) == 0:
        what = f"a tensor of dtype {logits.dtype} and shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) \
            else type(logits).__name__
        raise ValueError(f"logits must be a floating-point tensor (..., vocab_size) with vocab_size >= 1, got {what}")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Logits with every token outside the top ``k`` or outside the smallest set of mass ``p`` set to -inf."""
    _check_logits(logits)
    _check_filters(top_k, top_p)
    out = logits.clone()
    if top_k is not None and top_k < out.size(-1):
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = mass_before >= top_p  # keep a token while the mass above it is still below p
        drop_sorted[..., 0] = False  # the most likely token always stays (a tiny p can round to 0 in float32)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """The distribution sampling draws from: softmax(logits / temperature) after top-k and top-p.

    ``temperature=0`` puts all mass on the most likely token (greedy).
    """
    _check_logits(logits)
    _check_sampling(temperature, top_k, top_p)
    greedy = torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.size(-1)).to(logits.dtype)
    if temperature == 0:
        return greedy
    probs = filter_logits(logits / temperature, top_k, top_p).softmax(dim=-1)
    # a temperature so small that logits / temperature overflows: its limit is greedy decoding
    overflow = probs.isnan().any(dim=-1, keepdim=True) & logits.amax(dim=-1, keepdim=True).isfinite()
    return torch.where(overflow, greedy, probs)


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits`` (..., V): greedy when ``temperature == 0``, else sampled.

    Sampling inverts the cumulative distribution at one uniform number per row drawn from ``generator``
    on the CPU, so a seed gives the same tokens on every device and torch release (``torch.multinomial``
    changed its algorithm between releases).
    """
    _check_logits(logits)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    _check_sampling(temperature, top_k, top_p)  # before comparing: a tensor is not a number
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits.float(), temperature, top_k, top_p)
    flat = probs.reshape(-1, probs.size(-1)).cpu()
    if flat.isnan().any():
        raise ValueError("logits give no distribution to sample from (they hold NaN, +inf, or only -inf)")
    cdf = flat.double().cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
    ids = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[-1] - 1)  # first token whose cdf > u
    return ids.view(probs.shape[:-1]).to(logits.device)


def _context_limit(model: torch.nn.Module) -> int | None:
    return getattr(model.config, "block_size", None)


def _check_model(model: Any) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config") or not hasattr(model, "advance"):
        raise ValueError(f"model must be an lmlib model (RNNLM or GPT), got {type(model).__name__}")


def _checked_arguments(model: Any, prompt_ids: Any, max_new_tokens: Any, temperature: Any, top_k: Any, top_p: Any,
                       seed: Any, use_cache: Any) -> list[int]:
    """The prompt as a list of ids, after checking every argument of ``generate_ids``."""
    _check_model(model)
    vocab = model.config.vocab_size
    _check_sampling(temperature, top_k, top_p)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**64):
        raise ValueError(f"seed must be an int in [0, 2**64) or None, got {seed!r}")
    if not isinstance(use_cache, bool):
        raise ValueError(f"use_cache must be True or False, got {use_cache!r}")
    try:
        ids = as_tensor(prompt_ids)
    except (TypeError, ValueError) as err:
        raise ValueError(f"prompt_ids must be a sequence of token ids: {err}") from None
    if len(ids) == 0:
        raise ValueError("the prompt must encode to at least one token")
    bad = ids[(ids < 0) | (ids >= vocab)]
    if len(bad):
        raise ValueError(f"prompt token id {int(bad[0])} is outside the model's vocabulary (0..{vocab - 1})")
    return ids.tolist()


CUDA_GRAPHS = True  # replay the GPT's one-token step as a CUDA graph on a GPU (False: plain PyTorch calls)


class _OneTokenStep:
    """The GPT's step for one new token with fixed shapes (``KVCache.index``), run eagerly or, with
    ``capture``, recorded once as a CUDA graph and replayed: on a GPU a small model's step costs mostly
    the launching of its ~100 kernels, which one graph replay replaces. It writes into the cache's
    preallocated buffers, which must already hold at least one position."""

    def __init__(self, model: torch.nn.Module, cache, capture: bool):
        self.model, self.cache, self.graph = model, cache, None
        device = cache.keys[0].device
        self.token = torch.zeros(1, 1, dtype=torch.long, device=device)
        self.index = torch.full((1,), cache.length, dtype=torch.long, device=device)
        if capture:
            self._capture()

    def _capture(self) -> None:
        """Record the step as a CUDA graph (``self.graph``, writing its logits to ``self.logits``); the
        cache's length and index are left as they were."""
        model, cache, device = self.model, self.cache, self.token.device
        length = cache.length
        cache.index = self.index
        try:
            side = torch.cuda.Stream(device)  # warm-up off the default stream, as CUDA graphs require
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    cache.length = length
                    model(self.token, cache)  # writes at the free position ``length``: overwritten later
            torch.cuda.current_stream(device).wait_stream(side)
            cache.length = length
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = model(self.token, cache)
        finally:
            cache.index, cache.length = None, length

    def __call__(self, token: int) -> torch.Tensor:
        """Logits (1, 1, V) for ``token`` at the cache's next position; the cache grows by one."""
        self.token.fill_(token)
        self.index.fill_(self.cache.length)
        if self.graph is not None:
            return self._replay()
        self.cache.index = self.index
        try:
            return self.model(self.token, self.cache)  # (which counts the new position itself)
        finally:
            self.cache.index = None

    def _replay(self) -> torch.Tensor:
        """The captured graph run once more, on the token and position just written into its inputs."""
        self.graph.replay()
        self.cache.length += 1
        return self.logits


def _one_token_step(model: torch.nn.Module, state, capture: bool):
    """A ``_OneTokenStep`` for a GPT's cache on CUDA, or None (other models, devices, or a failed capture)."""
    if not capture or not isinstance(state, KVCache) or not state.keys or state.keys[0].device.type != "cuda":
        return None
    try:
        return _OneTokenStep(model, state, capture=True)
    except Exception as err:  # noqa: BLE001 - fall back to plain calls, which work wherever the graph does not
        warnings.warn(f"CUDA graph capture failed ({type(err).__name__}: {err}); generating without it",
                      RuntimeWarning, stacklevel=3)
        return None


@torch.no_grad()
def generate_ids(
    model: torch.nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> Iterator[int]:
    """Yield ``max_new_tokens`` new token ids continuing ``prompt_ids``, one at a time."""
    prompt_ids = _checked_arguments(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache)
    vocab = model.config.vocab_size
    generator = None
    if seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    limit = _context_limit(model)
    keep = max(1, limit // 2) if limit is not None else None
    tokens = list(prompt_ids)
    start = 0 if limit is None or len(tokens) <= limit else len(tokens) - keep
    state, state_start, fed = None, start, start  # the state holds tokens[state_start:fed]
    step = None  # a captured one-token step (CUDA), made at the first single new token; False: none
    checked = getattr(model, "ids_checked", None)
    settings = contextlib.ExitStack()
    try:
        if callable(checked):  # the prompt was checked above, and sampled ids lie in the vocabulary
            settings.enter_context(checked())
        for _ in range(max_new_tokens):
            if limit is not None and len(tokens) - start > limit:
                start = len(tokens) - keep
            if not use_cache or state is None or state_start != start:
                if step:  # keep the buffers the captured step writes into
                    state.length = 0
                else:
                    state = model.new_state()
                state_start, fed = start, start
            chunk = max(1, PREFILL_LOGITS // vocab)
            while limit is None and len(tokens) - fed > chunk:  # a long prompt for an RNN: read it in pieces
                _, state = model.advance(torch.tensor([tokens[fed:fed + chunk]], dtype=torch.long, device=device), state)
                fed += chunk
            if use_cache and step is None and len(tokens) - fed == 1:
                step = _one_token_step(model, state, CUDA_GRAPHS) or False
            if step and len(tokens) - fed == 1:
                logits = step(tokens[-1])
            else:
                new = torch.tensor([tokens[fed:]], dtype=torch.long, device=device)
                logits, state = model.advance(new, state)
            fed = len(tokens)
            token = int(sample(logits[0, -1].cpu(), temperature, top_k, top_p, generator))  # one sync per token
            tokens.append(token)
            yield token
    finally:
        settings.close()
        model.train(was_training)


def stream(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> Iterator[str]:
    """Yield the generated text piece by piece as tokens are produced (the prompt is not repeated).

    Pieces are whole characters: bytes of a character split across tokens wait for the rest.
    """
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a str, got {type(prompt).__name__}")
    if not isinstance(tokenizer, Tokenizer):
        raise ValueError(f"tokenizer must be an lmlib tokenizer, got {type(tokenizer).__name__}")
    _check_model(model)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model expects {model.config.vocab_size}; "
            "the tokenizer must be the one the model was trained with"
        )
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    ids = tokenizer.encode(prompt)
    for token in generate_ids(model, ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache):
        piece = decoder.decode(tokenizer.token_bytes(token))
        if piece:
            yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def generate(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> str:
    """The prompt followed by ``max_new_tokens`` generated tokens, as text."""
    return prompt + "".join(
        stream(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed, use_cache)
    )
