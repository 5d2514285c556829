"""fit's hardware paths (precision, grad scaler, torch.compile, ids checked once, device-side batches) and
the preallocated KV cache, exercised on the CPU. tests/test_gpu.py runs the CUDA side where there is a GPU."""

import math
import os
import sys
import types
import warnings

import pytest
import torch

from conftest import TINY_TEXT, quick, tiny_gpt, warned_at_caller
from lmlib import data, generate, models, runtime, tokenizers, train


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def test_precision_and_compile_are_checked_in_the_config():
    with pytest.raises(ValueError, match=r"precision must be one of \('auto', 'fp32', 'bf16', 'fp16'\), got 'fp8'"):
        train.TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="compile must be True or False, got 'yes'"):
        train.TrainConfig(compile="yes")


def test_auto_precision_is_fp32_on_the_cpu(char_tok, ids):
    assert train.resolve_precision("auto", torch.device("cpu")) == "fp32"
    a = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(precision="fp32"), device="cpu")
    b = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), device="cpu")
    assert a.step_loss == b.step_loss


def test_half_precisions_need_a_device_that_has_them():
    with pytest.raises(ValueError, match="precision 'bf16' is supported on 'cuda' and 'cpu', not 'meta'; use 'fp32'"):
        train.resolve_precision("bf16", torch.device("meta"))
    assert train.resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_with_fp32_weights(char_tok, ids, precision):
    if precision == "fp16" and not train._has_amp_grad_scaler():
        pytest.skip("fp16 on the CPU needs torch >= 2.3")
    model = tiny_gpt(char_tok.vocab_size)
    history = train.fit(model, ids, ids, quick(precision=precision), device="cpu")
    fp32 = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(), device="cpu")
    assert history.completed and all(math.isfinite(x) for x in history.step_loss + history.val_loss)
    assert history.step_loss != fp32.step_loss  # autocast did run in 16 bits ...
    assert history.step_loss == pytest.approx(fp32.step_loss, abs=0.02)  # ... and changed little
    assert all(p.dtype == torch.float32 for p in model.parameters())


class _Overflow(train.Callback):
    """Makes one parameter's gradient infinite during the backward pass of step ``at``."""

    def __init__(self, model, at):
        self.model, self.at, self.done, self.snapshots = model, at, 0, {}
        model.ln_f.weight.register_hook(lambda g: g * math.inf if self.done == self.at - 1 else g)

    def on_step(self, step, loss, history):
        self.done = step
        self.snapshots[step] = {k: v.clone() for k, v in self.model.state_dict().items()}


def test_fp16_skips_an_overflowing_step_where_fp32_stops(char_tok, ids):
    if not train._has_amp_grad_scaler():
        pytest.skip("fp16 on the CPU needs torch >= 2.3")
    model = tiny_gpt(char_tok.vocab_size)
    spy = _Overflow(model, at=3)
    history = train.fit(model, ids, None, quick(precision="fp16"), callbacks=spy, device="cpu")
    assert history.completed and len(history.step_loss) == 6  # the grad scaler skipped step 3 and went on
    for name, value in spy.snapshots[3].items():
        assert torch.equal(value, spy.snapshots[2][name]), name  # step 3 changed nothing
    assert any(not torch.equal(v, spy.snapshots[3][k]) for k, v in spy.snapshots[4].items())

    model = tiny_gpt(char_tok.vocab_size)
    spy = _Overflow(model, at=3)
    with pytest.warns(RuntimeWarning, match="training stopped at step 3: the gradient norm is inf"):
        history = train.fit(model, ids, None, quick(precision="fp32"), callbacks=spy, device="cpu")
    assert len(history.step_loss) == 2 and "weights after step 2" in history.stop_reason
    for name, value in model.state_dict().items():
        assert torch.equal(value, spy.snapshots[2][name])


def _traced(monkeypatch):
    """torch.compile made cheap for a test: Dynamo traces the model (and must, as one graph), no codegen."""
    calls = []
    real = torch.compile

    def compile_(model, **kwargs):
        calls.append(model)
        return real(model, backend="eager", fullgraph=True)

    monkeypatch.setattr(torch, "compile", compile_)
    return calls


@pytest.mark.skipif(sys.version_info[:3] == (3, 13, 0), reason="torch.compile raises 'Guards may run slower on Python "
                    "3.13.0' there (fixed in 3.13.1); fit then trains without it, as the next test checks")
def test_compile_traces_the_training_forward_as_one_graph(char_tok, ids, monkeypatch):
    calls = _traced(monkeypatch)
    import torch._dynamo

    torch._dynamo.reset()
    model = tiny_gpt(char_tok.vocab_size)
    with warnings.catch_warnings(record=True) as caught:  # a fallback to eager would warn
        warnings.simplefilter("always")
        compiled = train.fit(model, ids, ids, quick(compile=True), device="cpu")
    assert not [w for w in caught if "torch.compile" in str(w.message)]
    eager = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(), device="cpu")
    assert calls == [model]
    assert compiled.step_loss == pytest.approx(eager.step_loss, abs=1e-5)
    assert compiled.val_loss == pytest.approx(eager.val_loss, abs=1e-5)


def test_a_failing_compiler_falls_back_to_plain_pytorch(char_tok, ids, monkeypatch):
    def broken(*args):
        raise RuntimeError("no C++ compiler found")

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(model) or broken)
    eager = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), device="cpu")
    model = tiny_gpt(char_tok.vocab_size)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .RuntimeError: no C.. compiler found.; training without it"):
        history = train.fit(model, ids, None, quick(compile=True), device="cpu")
    assert history.step_loss == eager.step_loss
    assert compiled == [model]  # the model itself was handed to the compiler

    def unavailable(model, **kw):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", unavailable)
    with pytest.warns(RuntimeWarning, match="torch.compile is unavailable here .Dynamo is not supported") as caught:
        history = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(compile=True), device="cpu")
    assert history.step_loss == eager.step_loss
    assert [warned_at_caller(w) for w in caught if "unavailable" in str(w.message)] == [True]


@pytest.mark.slow
def test_real_torch_compile_on_the_cpu(char_tok, ids):
    """Inductor generates and compiles C++ here: minutes on a busy 2-core machine."""
    import torch._dynamo

    torch._dynamo.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(compile=True), device="cpu")
    assert not [w for w in caught if "torch.compile" in str(w.message)]
    eager = train.fit(tiny_gpt(char_tok.vocab_size), ids, ids, quick(), device="cpu")
    assert compiled.step_loss == pytest.approx(eager.step_loss, abs=1e-4)


def test_ids_checked_skips_only_the_value_check():
    model = tiny_gpt(10, block_size=8)
    bad = torch.tensor([[1, 2, 10]])
    with pytest.raises(ValueError, match="token id 10 is outside the vocabulary"):
        model(bad)
    with model.ids_checked():
        with model.ids_checked():
            pass
        with pytest.raises(IndexError):  # unchecked: torch's own error from the embedding
            model(bad)
        with pytest.raises(ValueError, match="sequence length 9 exceeds"):  # shapes are still checked
            model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="token id 10 is outside the vocabulary"):
        model(bad)


def test_input_on_another_device_has_a_clear_error():
    model = tiny_gpt(10, block_size=8).to("meta")
    with pytest.raises(ValueError, match=r"idx is on cpu but the model is on meta; create the ids there"):
        model(torch.tensor([[1, 2]]))


def test_fit_checks_the_ids_once_not_every_step(char_tok, ids, min_calls):
    counts = []
    for steps in (2, 12):
        min_calls["n"] = 0
        train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(steps=steps, eval_interval=100), device="cpu")
        counts.append(min_calls["n"])
    assert counts[0] == counts[1] <= 2


def test_device_batches_are_the_cpu_batches(ids):
    tensor = torch.tensor(ids)
    on_device = train._batch_sampler(tensor, 4, 8, torch.Generator().manual_seed(5), on_device=True)
    reference = torch.Generator().manual_seed(5)
    for _ in range(5):
        x, y = on_device()
        x_ref, y_ref = data.get_batch(tensor, 4, 8, reference)
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


# ----------------------------------------------------- precision on a GPU, decided without one
CUDA1 = torch.device("cuda", 1)


@pytest.fixture
def fake_gpu(monkeypatch):
    """What resolve_precision asks torch.cuda about a GPU, answered by the test: it runs without a GPU. The
    answers are only given for ``CUDA1``, so a question about another device (or none) fails the test."""
    gpu = types.SimpleNamespace(capability=(8, 0), name="Fake GPU", rocm_bf16=True)

    def about(device):
        assert device == CUDA1, f"asked about {device!r}, not the GPU being resolved"
        return gpu

    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: about(device).capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: about(device).name)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: gpu.rocm_bf16)
    return gpu


@pytest.mark.parametrize("capability, auto", [((7, 5), "fp16"), ((7, 9), "fp16"), ((8, 0), "bf16"), ((8, 6), "bf16"),
                                              ((9, 0), "bf16")])
def test_auto_precision_on_a_gpu_is_bf16_from_compute_capability_8_0(fake_gpu, capability, auto):
    fake_gpu.capability = capability
    assert train.resolve_precision("auto", CUDA1) == auto
    assert train.resolve_precision("fp16", CUDA1) == "fp16"  # fp16 and fp32 run on every GPU
    assert train.resolve_precision("fp32", CUDA1) == "fp32"
    if auto == "bf16":
        assert train.resolve_precision("bf16", CUDA1) == "bf16"


def test_bf16_on_a_gpu_without_it_names_the_gpu_and_the_way_out(fake_gpu):
    fake_gpu.capability, fake_gpu.name = (7, 5), "Tesla T4"
    with pytest.raises(ValueError) as err:
        train.resolve_precision("bf16", CUDA1)
    assert str(err.value) == ("precision 'bf16' needs a GPU with native bfloat16 (compute capability 8.0 or newer); "
                              "Tesla T4 has 7.5: use 'fp16' (or 'auto', which picks it)")


@pytest.mark.parametrize("rocm_bf16, auto", [(True, "bf16"), (False, "fp16")])
def test_on_rocm_bf16_is_what_torch_says_not_the_compute_capability(fake_gpu, monkeypatch, rocm_bf16, auto):
    monkeypatch.setattr(torch.version, "hip", "6.2.0", raising=False)
    fake_gpu.capability, fake_gpu.rocm_bf16 = ((7, 0) if rocm_bf16 else (9, 0)), rocm_bf16
    assert train.resolve_precision("auto", CUDA1) == auto


def test_a_torch_without_a_hip_attribute_is_a_cuda_build(fake_gpu, monkeypatch):
    monkeypatch.delattr(torch.version, "hip", raising=False)
    assert train.resolve_precision("auto", CUDA1) == "bf16"


def test_resolve_precision_names_an_unknown_precision_and_the_known_ones():
    for bad in ("fp8", "BF16", None):
        with pytest.raises(ValueError) as err:
            train.resolve_precision(bad, torch.device("cpu"))
        assert str(err.value) == f"precision must be one of ('auto', 'fp32', 'bf16', 'fp16'), got {bad!r}"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_on_another_device_is_refused_by_name(precision):
    with pytest.raises(ValueError) as err:
        train.resolve_precision(precision, torch.device("meta"))
    assert str(err.value) == f"precision {precision!r} is supported on 'cuda' and 'cpu', not 'meta'; use 'fp32'"
    assert train.resolve_precision("fp32", torch.device("meta")) == "fp32"
    assert train.resolve_precision("auto", torch.device("meta")) == "fp32"


def test_fp16_on_the_cpu_needs_a_grad_scaler_that_takes_a_device(fake_gpu, monkeypatch):
    from lmlib import train_hardware

    assert train_hardware._has_amp_grad_scaler()  # torch >= 2.3, as pinned
    assert train.resolve_precision("fp16", torch.device("cpu")) == "fp16"
    monkeypatch.setattr(train_hardware, "_has_amp_grad_scaler", lambda: False)
    with pytest.raises(ValueError) as err:
        train.resolve_precision("fp16", torch.device("cpu"))
    assert str(err.value) == (f"precision 'fp16' on the CPU needs torch >= 2.3 (this is {torch.__version__}); "
                              "use 'bf16' or 'fp32'")
    assert train.resolve_precision("fp16", CUDA1) == "fp16"  # CUDA has had its own grad scaler all along
    assert train.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_the_grad_scaler_is_recognised_by_its_device_argument(monkeypatch):
    from lmlib import train_hardware

    class OldScaler:  # torch < 2.3: torch.amp.GradScaler took no device
        def __init__(self, init_scale=2.0**16):
            pass

    class NewScaler:
        def __init__(self, device="cuda", init_scale=2.0**16):
            pass

    monkeypatch.setattr(torch.amp, "GradScaler", NewScaler)
    assert train_hardware._has_amp_grad_scaler() is True
    monkeypatch.setattr(torch.amp, "GradScaler", OldScaler)
    assert train_hardware._has_amp_grad_scaler() is False
    monkeypatch.delattr(torch.amp, "GradScaler")  # older still: no torch.amp.GradScaler at all
    assert train_hardware._has_amp_grad_scaler() is False


def test_fp16_gets_a_grad_scaler_for_its_device_and_the_others_none():
    from lmlib import train_hardware

    cpu = torch.device("cpu")
    scaler = train_hardware._grad_scaler(cpu, "fp16")
    assert isinstance(scaler, torch.amp.GradScaler) and scaler._device == "cpu"
    assert train_hardware._grad_scaler(cpu, "bf16") is None and train_hardware._grad_scaler(cpu, "fp32") is None


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_runs_forward_passes_at_the_chosen_precision(precision, dtype):
    from lmlib import train_hardware

    if precision == "fp16" and not train._has_amp_grad_scaler():
        pytest.skip("fp16 on the CPU needs torch >= 2.3")
    cpu = torch.device("cpu")
    with train_hardware._autocast(cpu, precision):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == dtype
    with train_hardware._autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_tf32_is_switched_on_for_cuda_only_and_restored(monkeypatch):
    from lmlib import train_hardware

    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        with train_hardware._tf32_matmuls(torch.device("cpu")):
            assert torch.get_float32_matmul_precision() == "highest"
        with pytest.raises(KeyError):
            with train_hardware._tf32_matmuls(CUDA1):
                assert torch.get_float32_matmul_precision() == "high"
                raise KeyError("a failing step")
        assert torch.get_float32_matmul_precision() == "highest"  # restored, even after an error
        torch.set_float32_matmul_precision("medium")  # a reader's own choice is kept
        with train_hardware._tf32_matmuls(CUDA1):
            assert torch.get_float32_matmul_precision() == "medium"
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


def test_models_without_ids_checked_train_with_their_checks_on():
    from lmlib import train_hardware

    class Plain(torch.nn.Module):
        ids_checked = "not a context"  # an attribute of that name that is not a method is ignored too

    for model in (torch.nn.Linear(2, 2), Plain()):
        with train_hardware._ids_checked(model) as entered:
            assert entered is None
    gpt = tiny_gpt(10)
    with train_hardware._ids_checked(gpt):
        assert gpt._ids_checked
    assert not gpt._ids_checked


def test_make_optimizer_is_not_fused_on_the_cpu():
    opt = train.make_optimizer(tiny_gpt(10), train.TrainConfig())
    assert not opt.defaults.get("fused")


def test_default_device_can_be_set_by_environment(monkeypatch):
    monkeypatch.setenv("LMLIB_DEVICE", "cpu")
    assert runtime.resolve_device() == torch.device("cpu")
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("LMLIB_DEVICE", "toaster")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got 'toaster'"):
        runtime.resolve_device()


def test_kv_cache_is_allocated_once_and_written_in_place():
    model = tiny_gpt(13, block_size=16).eval()
    idx = torch.randint(0, 13, (1, 12), generator=torch.Generator().manual_seed(0))
    cache = model.new_state()
    model.advance(idx[:, :5], cache)
    buffers = [t.data_ptr() for t in cache.keys + cache.values]
    assert cache.capacity == 16 and cache.keys[0].shape == (1, 2, 16, 8) and cache.length == 5
    for i in range(5, 12):
        model.advance(idx[:, i : i + 1], cache)
    assert [t.data_ptr() for t in cache.keys + cache.values] == buffers
    assert cache.length == 12


def test_cached_generation_does_not_concatenate(monkeypatch):
    model = tiny_gpt(256, block_size=32, seed=1)
    uncached = list(generate.generate_ids(model, list(b"Hi"), max_new_tokens=40, temperature=0, use_cache=False))
    calls = []
    real = torch.cat
    monkeypatch.setattr(torch, "cat", lambda *a, **k: calls.append(1) or real(*a, **k))
    cached = list(generate.generate_ids(model, list(b"Hi"), max_new_tokens=40, temperature=0, use_cache=True))
    assert calls == [] and cached == uncached


def test_seeded_sampling_is_the_same_with_and_without_the_cache():
    model = tiny_gpt(256, block_size=16, seed=2)
    a = list(generate.generate_ids(model, list(b"ab"), 50, temperature=1.0, top_k=50, seed=3, use_cache=True))
    b = list(generate.generate_ids(model, list(b"ab"), 50, temperature=1.0, top_k=50, seed=3, use_cache=False))
    assert a == b


def test_a_cache_without_capacity_grows():
    model = tiny_gpt(13, block_size=16).eval()
    idx = torch.randint(0, 13, (2, 12), generator=torch.Generator().manual_seed(0))
    cache = models.KVCache()
    pieces = [model.advance(idx[:, a:b], cache)[0] for a, b in [(0, 1), (1, 2), (2, 7), (7, 12)]]
    assert cache.length == 12 and cache.keys[0].shape[2] >= 12
    torch.testing.assert_close(torch.cat(pieces, 1), model(idx), atol=1e-5, rtol=1e-5)


def test_one_token_step_with_fixed_shapes_matches_the_growing_cache():
    """The path generate captures as a CUDA graph on a GPU (KVCache.index), run here without the graph."""
    model = tiny_gpt(13, block_size=16).eval()
    idx = torch.randint(0, 13, (1, 16), generator=torch.Generator().manual_seed(0))
    fixed, growing = model.new_state(), model.new_state()
    model.advance(idx[:, :4], fixed)
    model.advance(idx[:, :4], growing)
    step = generate._OneTokenStep(model, fixed, capture=False)
    for i in range(4, 16):
        a = step(int(idx[0, i]))
        b, _ = model.advance(idx[:, i : i + 1], growing)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        assert fixed.length == growing.length == i + 1 and fixed.index is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the graph is for CUDA only: on the CPU it is not even tried
        assert generate._one_token_step(model, fixed, capture=True) is None
    assert generate._one_token_step(model, fixed, capture=False) is None


def test_one_token_step_gives_the_model_its_position_as_a_tensor():
    """What a CUDA graph replays: the position comes from the step's own device tensor (KVCache.index), which
    the step fills before each call; the plain growing-cache path would give the same logits, but a graph
    captured from it would write every token at the capture's position."""
    model = tiny_gpt(13, block_size=16).eval()
    cache = model.new_state()
    model.advance(torch.tensor([[1, 2, 3, 4]]), cache)
    step = generate._OneTokenStep(model, cache, capture=False)
    seen = []
    forward = model.forward

    def spy(idx, state=None):
        seen.append((state.index, int(state.index)))
        return forward(idx, state)

    model.forward = spy
    step(5)
    step(6)
    assert [(index is step.index, value) for index, value in seen] == [(True, 4), (True, 5)]
    assert cache.index is None and cache.length == 6


def test_one_token_step_on_a_one_layer_gpt():
    model = models.GPT(models.GPTConfig(vocab_size=13, block_size=16, n_layer=1, n_head=2, n_embd=8)).eval()
    fixed, growing = model.new_state(), model.new_state()
    model.advance(torch.tensor([[1, 2, 3]]), fixed)
    model.advance(torch.tensor([[1, 2, 3]]), growing)
    step = generate._OneTokenStep(model, fixed, capture=False)
    torch.testing.assert_close(step(4), model.advance(torch.tensor([[4]]), growing)[0], atol=1e-5, rtol=1e-5)


class _FakeCudaCache(models.KVCache):
    """A KV cache that says it lives on a CUDA device (only its first key is looked at before capturing)."""

    def __init__(self):
        super().__init__()
        self.keys = [types.SimpleNamespace(device=torch.device("cuda"))]


def test_a_cuda_cache_gets_a_captured_step_when_capture_is_on(monkeypatch):
    made = []

    def make(*args, **kwargs):
        made.append((args, kwargs))
        return "step"

    monkeypatch.setattr(generate, "_OneTokenStep", make)
    model, cache = object(), _FakeCudaCache()
    assert generate._one_token_step(model, cache, capture=True) == "step"
    assert made == [((model, cache), {"capture": True})]
    assert generate._one_token_step(model, cache, capture=False) is None
    assert generate._one_token_step(model, models.KVCache(), capture=True) is None  # nothing cached yet
    assert generate._one_token_step(model, object(), capture=True) is None  # an RNN's state
    assert len(made) == 1


def test_a_failed_capture_warns_at_the_caller_and_falls_back(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("out of graph memory")

    monkeypatch.setattr(generate, "_OneTokenStep", fail)

    def steps():  # stands in for generate_ids, the generator that asks for the step
        yield generate._one_token_step(object(), _FakeCudaCache(), capture=True)

    with pytest.warns(RuntimeWarning) as caught:
        line = sys._getframe().f_lineno + 1
        step = next(steps())  # the reader's line: the warning points here
    assert step is None and len(caught) == 1
    assert str(caught[0].message) == ("CUDA graph capture failed (RuntimeError: out of graph memory); "
                                      "generating without it")
    assert warned_at_caller(caught[0])
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline puts one more frame between lmlib and us
        assert (caught[0].filename, caught[0].lineno) == (__file__, line)


def test_one_token_step_keeps_its_inputs_on_the_caches_device():
    """The step's token and position live where the cache does (a GPU in real use). The meta device, which
    holds shapes but no data, stands in for a second device here, so a step that left them on the CPU fails."""
    model = tiny_gpt(13, block_size=16).eval()
    cache = model.new_state()
    model.advance(torch.tensor([[1, 2, 3, 4]]), cache)
    model.to("meta")
    cache.keys = [k.to("meta") for k in cache.keys]
    cache.values = [v.to("meta") for v in cache.values]
    with model.ids_checked():  # a meta tensor has no values to check
        step = generate._OneTokenStep(model, cache, capture=False)
        assert step.token.device.type == step.index.device.type == "meta"
        assert step.token.dtype == step.index.dtype == torch.long
        logits = step(5)
    assert logits.device.type == "meta" and logits.shape == (1, 1, 13) and cache.length == 5


def test_unwritten_cache_slots_are_zero_so_masked_attention_stays_finite():
    """With fixed shapes attention reads every slot, masked to weight 0; garbage there (NaN or inf in memory
    from torch.empty) would turn 0 * garbage into NaN. This failed now and then before the buffers were zeroed."""
    model = tiny_gpt(13, block_size=16).eval()
    state = model.new_state()
    model.advance(torch.randint(0, 13, (1, 4), generator=torch.Generator().manual_seed(1)), state)
    step = generate._OneTokenStep(model, state, capture=False)
    for layer in range(len(state.keys)):
        assert torch.count_nonzero(state.keys[layer][:, :, state.length:]) == 0
        assert torch.count_nonzero(state.values[layer][:, :, state.length:]) == 0
    assert torch.isfinite(step(3)).all()
