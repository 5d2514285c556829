"""Language models: the article's recurrent network and a small GPT-style Transformer decoder.

Chapter 3 (section 3.2, the network) builds both up step by step; chapter 5 trains them.

Both map token ids ``idx`` of shape (B, T) to next-token logits of shape (B, T, vocab_size), and both
generate incrementally through ``new_state`` / ``advance``: the RNN carries its hidden state, the GPT a
key/value cache (``KVCache``), so each new token costs one step instead of a pass over the whole context.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import MLPS, NORMS, POSITIONS, RMSNorm, Rotary, make_mlp, make_norm

__all__ = ["RNNConfig", "RNNLM", "GPTConfig", "GPT", "KVCache", "LanguageModel", "build", "count_parameters"]

CELLS = ("rnn", "lstm", "gru")


def _require_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return operator.index(value)


def _require_dropout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
    return float(value)


def _require_memory(what: str, n_params: int) -> None:
    """Refuse, before allocating, a model whose parameters alone (float32) exceed this machine's memory."""
    if torch.empty(0).device.type == "meta":  # built on the meta device: nothing is allocated
        return
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf (Windows): let torch decide
        return
    if 4 * n_params > memory:
        raise ValueError(
            f"this {what} config needs at least {n_params:,} parameters ({4 * n_params / 2**30:,.1f} GiB as float32), "
            f"more than this machine's {memory / 2**30:,.1f} GiB of memory; choose smaller sizes"
        )


@dataclass
class RNNConfig:
    """Size and kind of the recurrent language model (the article's Embedding -> RNN -> Linear)."""

    vocab_size: int  # number of distinct token ids the model reads and predicts
    embedding_dim: int = 128  # length of the vector each token id is mapped to
    hidden_dim: int = 256  # size of the recurrent state carried from token to token
    cell: str = "rnn"  # "rnn" (Elman, tanh), "lstm" or "gru"
    num_layers: int = 1  # recurrent layers stacked on each other
    dropout: float = 0.0  # dropout between layers and before the output layer (training only)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_dim", "hidden_dim", "num_layers"):
            setattr(self, name, _require_positive(name, getattr(self, name)))
        if not isinstance(self.cell, str) or self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        self.dropout = _require_dropout(self.dropout)


@dataclass
class GPTConfig:
    """Size of the GPT-style decoder (pre-norm Transformer blocks, learned positions, tied embeddings)."""

    vocab_size: int  # number of distinct token ids the model reads and predicts
    block_size: int = 64  # longest context the model attends to (learned positions 0..block_size-1)
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block; n_embd must be divisible by n_head
    n_embd: int = 128  # width of the residual stream
    dropout: float = 0.0  # dropout on attention, residual and embeddings (training only)
    bias: bool = True  # biases in Linear and LayerNorm layers
    # The modern recipe (chapter 8, section 8.1.2; lmlib.layers): the defaults keep the 2019 GPT.
    pos: str = "learned"  # positions: "learned" (a table added to the input) or "rope" (rotary, in attention)
    norm: str = "layernorm"  # "layernorm" or "rmsnorm"
    mlp: str = "gelu"  # "gelu" (4x wide), "swiglu" (gated, 8/3 x wide) or "relu2" (ReLU squared, 4x wide)
    qk_norm: bool = False  # RMS-normalise each head's queries and keys before attention

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, _require_positive(name, getattr(self, name)))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); "
                f"e.g. n_head in {[h for h in range(1, min(self.n_embd, 4096) + 1) if self.n_embd % h == 0][:8]}"
            )
        self.dropout = _require_dropout(self.dropout)
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")
        for name, allowed in (("pos", POSITIONS), ("norm", NORMS), ("mlp", MLPS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(
                f"rotary positions need an even head size, got n_embd / n_head = {self.n_embd // self.n_head}"
            )
        if not isinstance(self.qk_norm, bool):
            raise ValueError(f"qk_norm must be True or False, got {self.qk_norm!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _LanguageModel(nn.Module):
    """What both models share: input checks, loss, the config as a dict."""

    config: Union[RNNConfig, GPTConfig]
    kind: str = ""
    _ids_checked: bool = False  # True inside ``ids_checked()``

    def check_input(self, idx: Any, max_len: int | None = None) -> torch.Tensor:
        """Raise ValueError unless ``idx`` is a (B, T) integer tensor of ids inside the vocabulary."""
        if not isinstance(idx, torch.Tensor):
            raise ValueError(f"idx must be a torch.LongTensor of shape (batch, time), got {type(idx).__name__}")
        if idx.dtype != torch.long:
            raise ValueError(f"idx must have dtype torch.long (int64), got {idx.dtype}")
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (batch, time), got shape {tuple(idx.shape)} (rank {idx.dim()})")
        if idx.shape[1] == 0:
            raise ValueError("idx must hold at least one token per row, got time dimension 0")
        if idx.shape[0] == 0:
            raise ValueError("idx must hold at least one row, got batch dimension 0")
        if max_len is not None and idx.shape[1] > max_len:
            past = getattr(self.config, "block_size", max_len) - max_len  # positions already in a KV cache
            if past > 0:
                raise ValueError(
                    f"the cache already holds {past} of the model's block_size {self.config.block_size} positions; "
                    f"{idx.shape[1]} more tokens do not fit (at most {max_len}); start a new cache with new_state()"
                )
            raise ValueError(
                f"sequence length {idx.shape[1]} exceeds the model's block_size {self.config.block_size}; "
                f"pass at most {max_len} tokens"
            )
        if idx.device != self.device:
            raise ValueError(
                f"idx must be on the model's device: idx is on {idx.device} but the model is on {self.device}; "
                f"create the ids there (torch.tensor(..., device=model.device)) or move them with idx.to(model.device)"
            )
        if self._ids_checked:  # the caller checked the values already: skip the host-device sync below
            return idx
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= self.config.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"token id {bad} is outside the vocabulary (0..{self.config.vocab_size - 1})")
        return idx

    @contextlib.contextmanager
    def ids_checked(self) -> Iterator[None]:
        """Inside: forward passes do not check that the ids lie in the vocabulary, for callers that checked
        them once already (``fit``, ``evaluate``, ``generate``). Reading the ids' range would wait for the
        GPU on every pass, and stop ``torch.compile`` from compiling the model as one graph."""
        before = self._ids_checked
        self._ids_checked = True
        try:
            yield
        finally:
            self._ids_checked = before

    @staticmethod
    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats per token) of ``logits`` (B, T, V) against ``targets`` (B, T)."""
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))

    @property
    def device(self) -> torch.device:
        """The device the model's parameters are on."""
        return next(self.parameters()).device

    def config_dict(self) -> dict[str, Any]:
        """The config as a plain dict (for checkpoints)."""
        return asdict(self.config)


def _check_rnn_state(c: RNNConfig, state: Any, batch: int) -> None:
    """Raise ValueError unless ``state`` is None or a recurrent state of the right shape for ``batch`` rows."""
    if state is None:
        return
    parts = state if c.cell == "lstm" and isinstance(state, tuple) and len(state) == 2 else (state,)
    shape = (c.num_layers, batch, c.hidden_dim)
    if len(parts) != (2 if c.cell == "lstm" else 1) or any(
        not isinstance(t, torch.Tensor) or tuple(t.shape) != shape for t in parts
    ):
        want = f"a pair of tensors (h, c), each of shape {shape}" if c.cell == "lstm" else f"a tensor of shape {shape}"
        raise ValueError(f"state must be None or what advance() returned for this batch: {want}")


class RNNLM(_LanguageModel):
    """Embedding -> RNN/LSTM/GRU -> Linear: the network of the article's ``llm.py``, made to run."""

    kind = "rnn"

    def __init__(self, config: RNNConfig):
        super().__init__()
        if not isinstance(config, RNNConfig):
            raise ValueError(f"RNNLM needs an RNNConfig, got {type(config).__name__}")
        h = config.hidden_dim
        _require_memory("RNN", config.vocab_size * (config.embedding_dim + h) + config.num_layers * h * h)
        self.config = config
        rnn_class = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = rnn_class(
            config.embedding_dim,
            config.hidden_dim,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_dim, config.vocab_size)

    def forward(self, idx: torch.Tensor, state: Any = None) -> torch.Tensor:
        """Logits (B, T, vocab_size) for token ids ``idx`` (B, T), starting from ``state`` (zeros if None)."""
        logits, _ = self.advance(idx, state)
        return logits

    def new_state(self) -> Any:
        """The state before any token: None (the RNN starts from zeros)."""
        return None

    def advance(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits for ``idx`` (B, T) continuing from ``state``, and the state after its last token."""
        self.check_input(idx)
        _check_rnn_state(self.config, state, idx.shape[0])
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(self.drop(out)), state


@dataclass
class KVCache:
    """Keys and values of every past position, per layer: lets the GPT process one new token at a time.

    Each layer's keys and values live in one buffer of ``capacity`` positions, allocated at the first
    write; later tokens are written into it in place, so a new token costs no copy of the past ones.
    """

    keys: list[torch.Tensor] = field(default_factory=list)  # per layer, (batch, n_head, capacity, head_dim)
    values: list[torch.Tensor] = field(default_factory=list)  # same shape as keys
    capacity: int | None = None  # positions each buffer holds (the GPT's block_size; None: no limit, grows)
    length: int = 0  # positions filled so far, the same in every layer
    # Fixed shapes, for replaying one step as a CUDA graph (generate does): while set, a 1-element device
    # tensor with the position one new token is written at; attention then reads whole buffers, masked.
    index: torch.Tensor | None = None

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``k``, ``v`` (B, n_head, T, head_dim) after the ``length`` stored positions of ``layer``;
        return that layer's keys and values up to and including them (views, not copies)."""
        if self.index is not None:  # fixed shapes: write at the device-side position, return whole buffers
            self.keys[layer].index_copy_(2, self.index, k)
            self.values[layer].index_copy_(2, self.index, v)
            return self.keys[layer], self.values[layer]
        start, end = self.length, self.length + k.shape[2]
        if layer == len(self.keys):  # first write to this layer: allocate its buffers
            size = max(end, self.capacity or 0)
            # zeros, not empty: with fixed shapes attention reads unwritten slots too, masked to weight 0, and
            # 0 * (garbage that happens to be NaN or inf) would still be NaN
            self.keys.append(k.new_zeros(k.shape[0], k.shape[1], size, k.shape[3]))
            self.values.append(v.new_zeros(v.shape[0], v.shape[1], size, v.shape[3]))
        elif end > self.keys[layer].shape[2]:  # only without a capacity: double the buffers
            self.keys[layer] = _grown(self.keys[layer], end)
            self.values[layer] = _grown(self.values[layer], end)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def _grown(buffer: torch.Tensor, needed: int) -> torch.Tensor:
    out = buffer.new_zeros(*buffer.shape[:2], max(needed, 2 * buffer.shape[2]), buffer.shape[3])
    out[:, :, : buffer.shape[2]] = buffer
    return out


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees only itself and earlier positions."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_drop = nn.Dropout(config.dropout)
        head_dim = config.n_embd // config.n_head
        self.rotary = Rotary(head_dim, config.block_size) if config.pos == "rope" else None
        self.q_norm = RMSNorm(head_dim) if config.qk_norm else None
        self.k_norm = RMSNorm(head_dim) if config.qk_norm else None

    def split_heads(
        self, x: torch.Tensor, start: int | torch.Tensor = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values, each (B, n_head, T, head_dim), for positions start..start+T-1."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        return q, k, v

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        start = 0  # position of x's first token (rotary positions need it)
        if cache is not None:
            start = cache.index if cache.index is not None else cache.length
        q, k, v = self.split_heads(x, start)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.store(layer, k, v)
        drop = self.dropout if self.training else 0.0
        if cache is not None and cache.index is not None:  # one token against whole buffers: mask what is unwritten
            visible = (torch.arange(k.shape[2], device=x.device) <= cache.index).view(1, -1)  # (1 query, keys)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, dropout_p=drop)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:  # several new tokens after a cached prefix: new position i sees past + i + 1 keys
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Attention probabilities (B, n_head, T, T) for input ``x`` (for drawing, not for speed)."""
        q, k, _ = self.split_heads(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        T = x.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x), approximate="tanh")))


class Block(nn.Module):
    """One pre-norm Transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = make_norm(config.norm, config.n_embd, config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln2 = make_norm(config.norm, config.n_embd, config.bias)
        self.mlp = (MLP(config) if config.mlp == "gelu"
                    else make_mlp(config.mlp, config.n_embd, config.bias, config.dropout))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(_LanguageModel):
    """A small GPT-style decoder: token + position embeddings, ``n_layer`` blocks, final norm, tied head."""

    kind = "gpt"

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        _require_memory("GPT", (config.vocab_size + config.block_size) * config.n_embd + config.n_layer * 4 * config.n_embd ** 2)
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd) if config.pos == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = make_norm(config.norm, config.n_embd, config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # scaled init of the projections into the residual stream
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, vocab_size) for ``idx`` (B, T); with ``cache``, ``idx`` continues the cached tokens."""
        if cache is not None and not isinstance(cache, KVCache):
            raise ValueError(f"cache must be None or a KVCache (from new_state()), got {type(cache).__name__}")
        past = cache.length if cache is not None else 0
        self.check_input(idx, max_len=self.config.block_size - past)
        T = idx.shape[1]
        pos = torch.arange(past, past + T, device=idx.device)
        if cache is not None and cache.index is not None:
            pos = cache.index  # fixed shapes: the position is a device tensor (see KVCache.index)
        x = self.tok_emb(idx)
        if self.pos_emb is not None:  # learned positions; rotary ones act inside attention
            x = x + self.pos_emb(pos)
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.length += T
        return self.head(self.ln_f(x))

    def new_state(self) -> KVCache:
        """An empty key/value cache with room for ``block_size`` positions."""
        return KVCache(capacity=self.config.block_size)

    def advance(self, idx: torch.Tensor, state: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits for ``idx`` continuing the tokens in the cache ``state``, and the grown cache."""
        state = self.new_state() if state is None else state
        return self.forward(idx, state), state

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Attention probabilities of every layer, each (B, n_head, T, T), for drawing heatmaps."""
        self.check_input(idx, max_len=self.config.block_size)
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + (self.pos_emb(pos) if self.pos_emb is not None else 0)
        maps = []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.ln1(x)))
            x = block(x)
        return maps


LanguageModel = Union[RNNLM, GPT]

_KINDS = {"rnn": (RNNLM, RNNConfig), "gpt": (GPT, GPTConfig)}


def build(kind: str, config: dict[str, Any]) -> LanguageModel:
    """A fresh model of ``kind`` ("rnn" or "gpt") from a config dict (as stored in checkpoints)."""
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"model kind must be one of {sorted(_KINDS)}, got {kind!r}")
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"config must be a dict of settings by name, got {config!r:.200}")
    model_class, config_class = _KINDS[kind]
    try:
        return model_class(config_class(**config))
    except TypeError as err:
        raise ValueError(f"invalid {kind} config {config!r}: {err}") from err
