"""The CUDA side of lmlib: training in each precision, torch.compile, generation with and without the cache,
checkpoints moved between devices. Every test is marked ``gpu`` and skipped where there is no CUDA device
(tests/conftest.py); tests/test_hardware.py covers the same code paths on the CPU."""

import math
import warnings

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt, quick
from lmlib import checkpoint, data, generate, tokenizers, train

pytestmark = pytest.mark.gpu


@pytest.fixture
def ids(char_tok):
    return char_tok.encode(TINY_TEXT)


def _native_bf16():
    return torch.cuda.get_device_capability() >= (8, 0)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16", "auto"])
def test_training_on_cuda_in_each_precision(char_tok, ids, precision):
    if precision == "bf16" and not _native_bf16():
        with pytest.raises(ValueError, match="precision 'bf16' needs a GPU with native bfloat16"):
            train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(precision=precision))
        return
    before = torch.get_float32_matmul_precision()
    model = tiny_gpt(char_tok.vocab_size)
    history = train.fit(model, ids, ids, quick(steps=60, lr=1e-2, eval_interval=30, precision=precision))
    assert torch.get_float32_matmul_precision() == before  # TF32 was switched on for fit only
    assert model.device.type == "cuda" and all(p.dtype == torch.float32 for p in model.parameters())
    assert history.completed and all(math.isfinite(x) for x in history.step_loss + history.val_loss)
    assert history.val_loss[-1] < history.val_loss[0] - 0.3


def test_auto_precision_on_cuda():
    expected = "bf16" if _native_bf16() else "fp16"
    assert train.resolve_precision("auto", torch.device("cuda")) == expected


def test_cuda_sees_the_same_batches_as_the_cpu(char_tok, ids):
    tensor = torch.tensor(ids)
    sampler = train._batch_sampler(tensor.cuda(), 4, 8, torch.Generator().manual_seed(5))
    reference = torch.Generator().manual_seed(5)
    for _ in range(5):
        x, y = sampler()
        x_ref, y_ref = data.get_batch(tensor, 4, 8, reference)
        assert x.is_cuda and torch.equal(x.cpu(), x_ref) and torch.equal(y.cpu(), y_ref)
    cpu = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(), device="cpu")
    cuda = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(precision="fp32"), device="cuda")
    # same initial weights and first batch: the GPU differs only in rounding (TF32 matmuls)
    assert cuda.step_loss[0] == pytest.approx(cpu.step_loss[0], abs=2e-3)
    assert cuda.step_loss == pytest.approx(cpu.step_loss, abs=0.05)


def test_fused_adamw_on_cuda():
    model = tiny_gpt(10).cuda()
    assert train.make_optimizer(model, train.TrainConfig()).defaults.get("fused")


def test_one_host_sync_per_training_step(char_tok, ids):
    def syncs(steps):
        model = tiny_gpt(char_tok.vocab_size).cuda()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train.fit(model, ids, None, quick(steps=steps, eval_interval=1000))
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    syncs(2)  # warm-up: first allocations, kernels loaded
    assert syncs(13) - syncs(3) <= 10  # ten more steps, at most ten more syncs (the loss and norm read)


def test_compiled_training_on_cuda(char_tok, ids):
    import torch._dynamo

    torch._dynamo.reset()
    with warnings.catch_warnings(record=True) as caught:  # no fallback to eager
        warnings.simplefilter("always")
        compiled = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(compile=True, precision="fp32"))
    assert not [w for w in caught if "torch.compile" in str(w.message)]
    eager = train.fit(tiny_gpt(char_tok.vocab_size), ids, None, quick(precision="fp32"))
    assert compiled.step_loss[0] == pytest.approx(eager.step_loss[0], abs=2e-3)
    assert compiled.step_loss == pytest.approx(eager.step_loss, abs=0.05)


@pytest.mark.parametrize("block_size", [16, 64])
def test_cached_and_uncached_generation_agree_on_cuda(block_size):
    model = tiny_gpt(256, block_size=block_size, seed=3).cuda()
    prompt = list(b"Hello")
    for kw in (dict(temperature=0), dict(temperature=1.0, top_k=40, seed=1)):
        a = list(generate.generate_ids(model, prompt, 3 * block_size, use_cache=True, **kw))
        b = list(generate.generate_ids(model, prompt, 3 * block_size, use_cache=False, **kw))
        assert a == b and len(a) == 3 * block_size


@pytest.mark.parametrize("pos", ["learned", "rope"])  # rope reads the step's position inside attention
def test_cuda_graph_generation_matches_plain_calls(monkeypatch, pos):
    from lmlib import models

    torch.manual_seed(3)
    model = models.GPT(models.GPTConfig(vocab_size=256, block_size=32, n_layer=2, n_head=2, n_embd=16, pos=pos))
    model = model.cuda()
    prompt = list(b"Hello")
    with warnings.catch_warnings(record=True) as caught:  # the capture must not fail (and fall back)
        warnings.simplefilter("always")
        graphed = list(generate.generate_ids(model, prompt, 100, temperature=0))  # past the block: rebuilds
        sampled = list(generate.generate_ids(model, prompt, 100, temperature=1.0, seed=0))
    assert not [w for w in caught if "CUDA graph" in str(w.message)]
    monkeypatch.setattr(generate, "CUDA_GRAPHS", False)
    assert graphed == list(generate.generate_ids(model, prompt, 100, temperature=0))
    assert graphed == list(generate.generate_ids(model, prompt, 100, temperature=0, use_cache=False))
    assert sampled == list(generate.generate_ids(model, prompt, 100, temperature=1.0, seed=0))


def test_kv_cache_lives_on_cuda():
    model = tiny_gpt(13, block_size=16).cuda().eval()
    idx = torch.randint(0, 13, (2, 12), device="cuda")
    cache = model.new_state()
    pieces = [model.advance(idx[:, a:b], cache)[0] for a, b in [(0, 5), (5, 6), (6, 12)]]
    assert cache.keys[0].device.type == "cuda" and cache.keys[0].shape[2] == 16
    torch.testing.assert_close(torch.cat(pieces, 1), model(idx), atol=1e-4, rtol=1e-4)


def test_checkpoint_saved_on_cuda_loads_on_cpu_and_back(tmp_path, char_tok, ids):
    model = tiny_gpt(char_tok.vocab_size)
    history = train.fit(model, ids, ids, quick(), device="cuda")
    path = checkpoint.save(tmp_path / "m.lmlib", model, char_tok, history=history)
    on_cpu, _ = checkpoint.load(path)
    on_cuda, _ = checkpoint.load(path, device="cuda")
    assert on_cpu.device.type == "cpu" and on_cuda.device.type == "cuda"
    idx = char_tok.encode("The quick")
    ref = model.eval()(torch.tensor([idx], device="cuda"))
    assert torch.equal(on_cuda(torch.tensor([idx], device="cuda")), ref)
    torch.testing.assert_close(on_cpu(torch.tensor([idx])), ref.cpu(), atol=1e-4, rtol=1e-4)
    # and a checkpoint made on the CPU gives the same logits on CUDA
    path2 = checkpoint.save(tmp_path / "cpu.lmlib", on_cpu, char_tok)
    back, _ = checkpoint.load(path2, device="cuda")
    torch.testing.assert_close(back(torch.tensor([idx], device="cuda")).cpu(), on_cpu(torch.tensor([idx])),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_nan_rollback_in_mixed_precision(char_tok, ids, precision):
    if precision == "bf16" and not _native_bf16():
        pytest.skip("no native bf16 on this GPU")
    model = tiny_gpt(char_tok.vocab_size)
    snapshots = []

    class Poison(train.Callback):
        def on_step(self, step, loss, history):
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
            if step == 3:
                with torch.no_grad():
                    model.ln_f.weight.fill_(float("nan"))

    with pytest.warns(RuntimeWarning, match="training stopped at step 4: the training loss is nan"):
        history = train.fit(model, ids, None, quick(steps=10, precision=precision), callbacks=[Poison()])
    assert "weights after step 2" in history.stop_reason
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][name])


def test_ids_on_the_wrong_device_have_a_clear_error():
    model = tiny_gpt(10).cuda()
    with pytest.raises(ValueError, match=r"idx is on cpu but the model is on cuda:0"):
        model(torch.tensor([[1, 2]]))


def test_generate_text_on_cuda():
    tok = tokenizers.ByteTokenizer()
    model = tiny_gpt(256, block_size=16).cuda()
    out = generate.generate(model, tok, "这是", max_new_tokens=20, seed=0)
    assert out.startswith("这是")


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_forward_cache_and_attention_maps_on_cuda_match_the_cpu(pos):
    """Positions, masks and the fixed-shape step are made on the ids' device (the meta device cannot show it:
    an embedding on meta accepts CPU positions)."""
    from lmlib import models

    torch.manual_seed(0)
    cpu = models.GPT(models.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16, pos=pos)).eval()
    gpu = models.GPT(cpu.config).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.to("cuda")
    idx = torch.randint(0, 13, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(gpu(idx.cuda()).cpu(), cpu(idx), atol=1e-4, rtol=1e-4)
        for got, want in zip(gpu.attention_maps(idx.cuda()), cpu.attention_maps(idx)):
            torch.testing.assert_close(got.cpu(), want, atol=1e-4, rtol=1e-4)
        caches = gpu.new_state(), cpu.new_state()
        for a, b in [(0, 5), (5, 6), (6, 9)]:
            torch.testing.assert_close(gpu(idx[:, a:b].cuda(), caches[0]).cpu(), cpu(idx[:, a:b], caches[1]),
                                       atol=1e-4, rtol=1e-4)
