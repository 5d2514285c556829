"""The article's network (Embedding -> RNN -> Linear) written a second time, in JAX.

Chapter 7 (section 7.2.3, frameworks) trains this twin beside ``lmlib.models.RNNLM`` (cell ``"rnn"``) on
the same batches from the same starting weights, and compares the losses step by step. Only the pieces
the comparison needs are here: copying weights from the PyTorch model, the forward pass as a
``jax.lax.scan`` over time, the mean cross-entropy, and Adam written out by hand (so no optimiser
library is needed and both sides run the same update rule).

JAX is optional for lmlib: importing this module without it raises an ImportError that says how to
install it.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

try:
    import jax
    import jax.numpy as jnp
except ImportError as err:  # pragma: no cover - exercised only where JAX is missing
    raise ImportError(
        "lmlib.jax_twin needs JAX: install it with `pip install jax` (CPU wheels, about 90 MB), "
        "then restart the kernel"
    ) from err

__all__ = ["Params", "AdamState", "params_from_torch", "forward", "loss", "adam_init", "adam_update",
           "make_train_step", "to_numpy"]

Params = dict  # {"embedding", "w_ih", "w_hh", "b_ih", "b_hh", "head_w", "head_b"}: jnp arrays


class AdamState(NamedTuple):
    """Adam's running moments (same pytree shape as the parameters) and the number of steps taken.

    A NamedTuple is a pytree, so the whole state passes through ``jax.jit`` and ``jax.tree_util``.
    """

    m: Params
    v: Params
    step: Any  # a scalar array, so that one compiled step function serves every step


def params_from_torch(model: Any) -> Params:
    """The weights of an ``lmlib.models.RNNLM`` with ``cell="rnn"`` and one layer, as JAX arrays."""
    config = getattr(model, "config", None)
    if getattr(config, "cell", None) != "rnn" or getattr(config, "num_layers", None) != 1:
        raise ValueError(
            "params_from_torch copies a one-layer RNNLM with cell='rnn' (the article's network); "
            f"got {type(model).__name__} with config {config!r}"
        )
    # copied: some JAX releases wrap a NumPy array without copying, and torch may change its weights later
    state = {name: tensor.detach().cpu().numpy().copy() for name, tensor in model.state_dict().items()}
    return {
        "embedding": jnp.asarray(state["embedding.weight"]),
        "w_ih": jnp.asarray(state["rnn.weight_ih_l0"]),
        "w_hh": jnp.asarray(state["rnn.weight_hh_l0"]),
        "b_ih": jnp.asarray(state["rnn.bias_ih_l0"]),
        "b_hh": jnp.asarray(state["rnn.bias_hh_l0"]),
        "head_w": jnp.asarray(state["head.weight"]),
        "head_b": jnp.asarray(state["head.bias"]),
    }


def forward(params: Params, idx: jnp.ndarray) -> jnp.ndarray:
    """Logits (B, T, V) for token ids ``idx`` (B, T); the hidden state starts at zero, as in PyTorch."""
    x = params["embedding"][idx]  # (B, T, E)
    inputs = x @ params["w_ih"].T + params["b_ih"]  # the input part of every step, all at once

    def step(h, u):  # one time step: h_t = tanh(u_t + h_{t-1} W_hh^T + b_hh)
        h = jnp.tanh(u + h @ params["w_hh"].T + params["b_hh"])
        return h, h

    h0 = jnp.zeros((idx.shape[0], params["w_hh"].shape[0]), dtype=x.dtype)
    _, hs = jax.lax.scan(step, h0, jnp.swapaxes(inputs, 0, 1))  # scan runs over the leading (time) axis
    hs = jnp.swapaxes(hs, 0, 1)  # back to (B, T, H)
    return hs @ params["head_w"].T + params["head_b"]


def loss(params: Params, x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """Mean cross-entropy (nats per token) of the next-token predictions for ``x`` against ``y``."""
    logp = jax.nn.log_softmax(forward(params, x), axis=-1)
    picked = jnp.take_along_axis(logp, y[..., None], axis=-1)
    return -picked.mean()


def adam_init(params: Params) -> AdamState:
    """Zero moments for every parameter, step 0."""
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return AdamState(m=zeros, v=jax.tree_util.tree_map(jnp.zeros_like, params), step=jnp.asarray(0))


def adam_update(params: Params, grads: Params, state: AdamState, lr: float,
                betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> tuple[Params, AdamState]:
    """One Adam step with bias correction, the update ``torch.optim.Adam`` makes: a pure function that
    returns new parameters and state instead of changing them in place."""
    b1, b2 = betas
    step = state.step + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
    c1, c2 = 1 - b1**step, 1 - b2**step
    params = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
    return params, AdamState(m=m, v=v, step=step)


def make_train_step(lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                    jit: bool = True) -> Callable:
    """``(params, state, x, y) -> (params, state, loss)``: the gradient of ``loss``, then ``adam_update``.

    With ``jit=True`` XLA compiles the whole step (forward, backward and update) on its first call.
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(betas, tuple) and len(betas) == 2 and all(isinstance(b, float) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be two floats in [0, 1), got {betas!r}")

    def train_step(params: Params, state: AdamState, x: jnp.ndarray, y: jnp.ndarray):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        params, state = adam_update(params, grads, state, lr, betas, eps)
        return params, state, value

    return jax.jit(train_step) if jit else train_step


def to_numpy(tree: Any) -> Any:
    """A pytree of JAX arrays as NumPy arrays (for comparing with PyTorch)."""
    import numpy as np

    return jax.tree_util.tree_map(np.asarray, tree)
