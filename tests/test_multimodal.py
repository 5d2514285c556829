"""lmlib.multimodal: patches, captions, the image-to-text model, its training and its file."""

import pytest
import torch

from lmlib import multimodal as mm


@pytest.fixture
def tok():
    return mm.caption_tokenizer()


def small(tok, patch=4):
    torch.manual_seed(0)
    return mm.ImageToText(mm.ImageTextConfig(vocab_size=tok.vocab_size, patch_size=patch, n_layer=1, n_head=2, n_embd=16))


def test_patchify_reads_patches_in_order():
    image = torch.arange(16.0).view(1, 4, 4)
    patches = mm.patchify(image, 2)
    assert patches.tolist() == [[[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]]
    assert mm.patchify(image, 4).tolist() == [[list(range(16))]]
    with pytest.raises(ValueError, match=r"choose one of \[1, 2, 4\]"):
        mm.patchify(image, 3)
    with pytest.raises(ValueError, match=r"shape \(N, S, S\)"):
        mm.patchify(torch.zeros(2, 4, 3), 2)


def test_captions_are_words_then_end_marks(tok):
    ids = mm.encode_captions(torch.tensor([1, 7]), tok)
    assert ids.shape == (2, 6)
    assert tok.decode(ids[0].tolist()) == "one\n\n\n" and tok.decode(ids[1].tolist()) == "seven\n"
    with pytest.raises(ValueError, match="more than length"):
        mm.encode_captions(torch.tensor([7]), tok, length=3)


def test_forward_shapes_and_input_checks(tok):
    model = small(tok)
    images = torch.rand(3, 8, 8)
    assert model(images, torch.zeros(3, 0, dtype=torch.long)).shape == (3, 1, tok.vocab_size)
    assert model(images, torch.zeros(3, 5, dtype=torch.long)).shape == (3, 6, tok.vocab_size)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 8, 8\)"):
        model(torch.rand(3, 4, 4), torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="text_ids must have shape"):
        model(images, torch.zeros(3, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="must divide image_size"):
        mm.ImageTextConfig(vocab_size=5, patch_size=3)
    with pytest.raises(ValueError, match="needs an ImageTextConfig"):
        mm.ImageToText({"vocab_size": 5})


def test_the_text_sees_the_image(tok):
    model = small(tok)
    text = torch.zeros(2, 2, dtype=torch.long)
    out = model(torch.stack([torch.zeros(8, 8), torch.ones(8, 8)]), text)
    assert not torch.allclose(out[0], out[1])


def test_training_golden_losses_and_captions(tok):
    sklearn = pytest.importorskip("sklearn")  # noqa: F841
    images, labels = mm.load_digits()
    model = small(tok)
    losses = mm.train_captioner(model, images[:64], mm.encode_captions(labels[:64], tok), steps=5, batch_size=16)
    assert [round(x, 4) for x in losses] == pytest.approx([2.75, 2.6917, 2.6468, 2.6239, 2.6395], abs=2e-4)
    written, confidence = mm.captions(model, images[:4], tok, return_confidence=True)
    assert len(written) == 4 and all(isinstance(w, str) for w in written)
    assert ((confidence > 0) & (confidence <= 1)).all()
    assert 0.0 <= mm.accuracy(model, images[:20], labels[:20], tok) <= 1.0


def test_load_digits_and_split():
    pytest.importorskip("sklearn")
    images, labels = mm.load_digits()
    assert images.shape == (1797, 8, 8) and 0.0 <= float(images.min()) and float(images.max()) == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    a = mm.split(images, labels, 0.2, seed=0)
    b = mm.split(images, labels, 0.2, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len(a[1]) == 1438 and len(a[3]) == 359
    with pytest.raises(ValueError, match="test_fraction must be strictly between"):
        mm.split(images, labels, 1.0)
    with pytest.raises(ValueError, match="images but"):
        mm.split(images, labels[:5])


def test_save_and_load_round_trip(tok, tmp_path):
    model = small(tok, patch=2)
    path = mm.save(tmp_path / "m.safetensors", model, tok, extra={"note": 1})
    loaded, loaded_tok, extra = mm.load(path)
    images = torch.rand(2, 8, 8)
    text = torch.zeros(2, 3, dtype=torch.long)
    assert torch.equal(model.eval()(images, text), loaded(images, text))
    assert loaded.config == model.config and loaded_tok.chars == tok.chars and extra == {"note": 1}
    assert loaded.gpt.head.weight is loaded.gpt.tok_emb.weight


def test_load_refuses_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="not an image-to-text model"):
        mm.load(tmp_path / "x.safetensors")
