"""lmlib.jax_twin: the JAX copy of the article's network computes what the PyTorch RNNLM computes."""

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from conftest import tiny_rnn  # noqa: E402
from lmlib import jax_twin  # noqa: E402


def _batch(vocab, seed=0, shape=(3, 7)):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, shape, generator=gen)
    y = torch.randint(0, vocab, shape, generator=gen)
    return x, y, jnp.asarray(x.numpy()), jnp.asarray(y.numpy())


def test_forward_and_loss_match_pytorch():
    model = tiny_rnn(20, cell="rnn")
    params = jax_twin.params_from_torch(model)
    x, y, jx, jy = _batch(20)
    with torch.no_grad():
        logits = model(x)
    assert np.allclose(np.asarray(jax_twin.forward(params, jx)), logits.numpy(), atol=1e-5)
    assert float(jax_twin.loss(params, jx, jy)) == pytest.approx(float(model.loss(logits, y)), abs=1e-5)


def test_gradients_match_autograd():
    model = tiny_rnn(20, cell="rnn")
    params = jax_twin.params_from_torch(model)
    x, y, jx, jy = _batch(20, seed=1)
    model.loss(model(x), y).backward()
    grads = jax.grad(jax_twin.loss)(params, jx, jy)
    assert np.allclose(np.asarray(grads["embedding"]), model.embedding.weight.grad.numpy(), atol=1e-5)
    assert np.allclose(np.asarray(grads["head_w"]), model.head.weight.grad.numpy(), atol=1e-5)
    assert np.allclose(np.asarray(grads["w_hh"]), model.rnn.weight_hh_l0.grad.numpy(), atol=1e-5)


def test_adam_steps_track_torch_adam():
    model = tiny_rnn(20, cell="rnn")
    params = jax_twin.params_from_torch(model)
    state = jax_twin.adam_init(params)
    step = jax_twin.make_train_step(lr=1e-2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for seed in range(5):
        x, y, jx, jy = _batch(20, seed=seed)
        loss = model.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        params, state, value = step(params, state, jx, jy)
        assert float(value) == pytest.approx(loss.item(), abs=1e-5)
    assert int(state.step) == 5
    assert np.allclose(np.asarray(params["w_ih"]), model.rnn.weight_ih_l0.detach().numpy(), atol=1e-5)


def test_only_the_article_network_is_copied():
    with pytest.raises(ValueError, match="cell='rnn'"):
        jax_twin.params_from_torch(tiny_rnn(20, cell="gru"))


def test_the_copy_does_not_share_memory_with_the_torch_model():
    # Some JAX releases (0.6 on Python 3.10) wrap a NumPy array without copying it: a torch optimiser
    # step on the model then changed the "copied" JAX parameters too.
    model = tiny_rnn(20, cell="rnn")
    params = jax_twin.params_from_torch(model)
    before = {name: np.array(value) for name, value in params.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    for name, value in params.items():
        assert np.array_equal(np.asarray(value), before[name]), name
