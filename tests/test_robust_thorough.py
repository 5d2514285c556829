"""Inputs that the property suite found only with its ``thorough`` profile (LMLIB_HYPOTHESIS_PROFILE=thorough,
300 examples per test instead of 30), each pinned here so the default test run keeps them fixed: a 0-d tensor
or array where a sequence is expected, a thread count beyond a C int, a symbolic network of 2**40 inputs
(built before any check: gigabytes of sympy symbols), and a device mismatch whose message did not say what
is allowed."""

import numpy as np
import pytest
import sympy as sp
import torch

from conftest import tiny_gpt
from lmlib import baselines, envreport, growth, metrics, symbolic, tokenizers, train_callbacks

ZERO_D = [torch.tensor(1), np.array(1)]  # both have __iter__, and both refuse to be iterated


@pytest.mark.parametrize("zero_d", ZERO_D, ids=["tensor", "array"])
@pytest.mark.parametrize("call, message", [
    (lambda z: envreport.versions(z), "packages must be a sequence of package names"),
    (lambda z: growth.fit_exponential([2000, 2001], z), "counts must be a sequence of numbers"),
    (lambda z: growth.fit_exponential(z, [1, 2]), "years must be a sequence of numbers"),
    (lambda z: tokenizers.CharTokenizer(z), "chars"),
    (lambda z: tokenizers.BPETokenizer(z), "merges"),
    (lambda z: symbolic.to_torch(sp.Symbol("x"), z), "args must be a sequence of sympy symbols"),
    (lambda z: train_callbacks._as_callbacks(z), "callbacks"),
    (lambda z: baselines.LookupTagger().fit(z), "samples must be a list of (bytes, tags) pairs"),
    (lambda z: metrics.exact_match(z, ["a"]), "pred"),
], ids=["versions", "counts", "years", "chars", "merges", "to_torch", "callbacks", "tagger", "exact_match"])
def test_a_0d_tensor_or_array_is_refused_with_a_message_naming_the_argument(call, message, zero_d):
    with pytest.raises((TypeError, ValueError)) as err:
        call(zero_d)
    assert message in str(err.value)
    assert "0-d" not in str(err.value)  # not numpy's or torch's own message from inside the iteration


def test_a_thread_count_beyond_the_limit_is_refused_before_torch_sees_it():
    before = torch.get_num_threads()
    for n in (2**40, growth.MAX_THREADS + 1, 0):
        with pytest.raises(ValueError) as err:
            with growth.threads(n):
                pass
        assert str(err.value) == f"n must be an int from 1 to 65536, got {n!r}"
    assert torch.get_num_threads() == before
    with growth.threads(np.int64(1)):  # numpy ints are ints
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("sizes", [(2**40, 2, 1), (3, 2**40, 1), (3, 2, 2**63 - 1), (33, 2, 1), (0, 2, 1)])
def test_a_symbolic_network_too_wide_is_refused_before_any_symbol_is_made(sizes):
    name = ("n_in", "n_hidden", "n_out")[next(i for i, v in enumerate(sizes) if not 1 <= v <= 32)]
    with pytest.raises(ValueError) as err:
        symbolic.TwoLayerNet.build(*sizes)
    assert str(err.value).startswith(f"{name} must be an int from 1 to 32 (every weight is a sympy symbol")


def test_the_widest_symbolic_network_allowed_is_built_and_numpy_sizes_are_ints():
    net = symbolic.TwoLayerNet.build(np.int64(32), 1, 1)
    assert (net.n_in, net.n_hidden, net.n_out) == (32, 1, 1) and type(net.n_in) is int
    assert net.params["W1"].shape == (1, 32)


def test_a_device_mismatch_says_where_the_ids_must_be():
    model = tiny_gpt(10).to("meta")
    with pytest.raises(ValueError) as err:
        model(torch.tensor([[1]]))
    assert str(err.value).startswith("idx must be on the model's device: idx is on cpu but the model is on meta")


def test_versions_reports_a_package_named_twice_once():
    assert list(envreport.versions(["torch", "torch"])) == ["torch"]


def test_to_torch_refuses_an_expression_with_a_symbol_that_args_does_not_list():
    z, w = sp.symbols("z w")
    with pytest.raises(ValueError) as err:
        symbolic.to_torch(w * z ** 2, [z])
    assert str(err.value) == "args must list every symbol of expr; missing: w"
    assert torch.equal(symbolic.to_torch(sp.Integer(2), [])(), torch.tensor(2.0, dtype=torch.float64))


def test_the_compiled_function_says_how_many_tensors_it_takes():
    z = sp.Symbol("z")
    fn = symbolic.to_torch(z ** 2, [z])
    with pytest.raises(TypeError) as err:
        fn(torch.tensor([1.0]), torch.tensor([2.0]))
    assert str(err.value) == "this function takes 1 tensor (one per symbol of args), got 2"
    assert torch.equal(fn(torch.tensor([3.0])), torch.tensor([9.0]))
