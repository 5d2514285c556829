"""Chapter 7's and Appendix B's exercise checks: right answers pass, typical wrong ones get specific feedback."""

import pytest
import torch
import torch.nn.functional as F

from lmlib import tensorboard_log
from lmlib.exercises import check, exercise_ids


def test_the_checks_are_registered():
    assert {"7.1", "7.2", "7.4", "7.5", "7.7", "7.9", "10.1"} <= set(exercise_ids())


def test_loss_over_batch_and_time():
    assert check("7.1", lambda lg, t: F.cross_entropy(lg.reshape(-1, lg.size(-1)), t.reshape(-1))).passed
    assert check("7.1", lambda lg, t: F.cross_entropy(lg.transpose(1, 2), t)).passed
    assert "shape error" in check("7.1", lambda lg, t: F.cross_entropy(lg, t)).message
    assert "sum" in check("7.1", lambda lg, t: F.cross_entropy(lg.reshape(-1, lg.size(-1)), t.reshape(-1),
                                                             reduction="sum")).message
    assert "one number" in check("7.1", lambda lg, t: F.cross_entropy(lg.transpose(1, 2), t, reduction="none")).message
    assert check("7.1", lambda lg, t: None).status == "unanswered"
    assert "returns None" in check("7.1", lambda lg, t: None).message
    assert not check("7.1", lambda lg, t: F.cross_entropy(lg[:, :1].reshape(-1, lg.size(-1)), t[:, :1].reshape(-1))).passed


def test_batch_check():
    def right(x, y):
        if x.shape != y.shape or not torch.equal(x[:, 1:], y[:, :-1]):
            raise ValueError("bad batch")

    def lenient(x, y):
        if x.shape != y.shape:
            raise ValueError("shapes")

    def strict(x, y):
        raise ValueError("always")

    assert check("7.2", right).passed
    assert "bug 2" in check("7.2", lenient).message
    assert "correct batch raised" in check("7.2", strict).message
    def asserting(x, y):
        assert torch.equal(x[:, 1:], y[:, :-1])

    assert "ValueError, not AssertionError" in check("7.2", asserting).message


def test_matmul_share():
    multiply = {"aten::mm", "aten::addmm", "aten::bmm"}

    def right(rows):
        return sum(t for n, t in rows if n in multiply) / sum(t for _, t in rows)

    assert check("7.4", right).passed
    assert "percentage" in check("7.4", lambda rows: 100 * right(rows)).message
    with_linear = multiply | {"aten::linear", "aten::matmul"}
    assert "dispatch" in check("7.4", lambda rows: sum(t for n, t in rows if n in with_linear) / sum(t for _, t in rows)).message


def test_amdahl():
    assert check("7.5", 1 / (0.88 + 0.03)).passed
    assert "optimiser alone" in check("7.5", 4).message
    assert "infinite" in check("7.5", 1 / 0.88).message
    assert not check("7.5", 1.5).passed


def test_best_step():
    pytest.importorskip("tensorboard")

    def right(log_dir):
        return min(tensorboard_log.read_scalars(log_dir)["loss/val"], key=lambda p: p[1])[0]

    assert check("7.7", right).passed
    assert "last step" in check("7.7", lambda d: tensorboard_log.read_scalars(d)["loss/val"][-1][0]).message
    assert "'loss/val'" in check("7.7", lambda d: min(tensorboard_log.read_scalars(d)["loss/train"],
                                                      key=lambda p: p[1])[1]).message
    assert "highest" in check("7.7", lambda d: max(tensorboard_log.read_scalars(d)["loss/val"], key=lambda p: p[1])[0]).message


def test_jax_cross_entropy():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def right(logits, targets):
        return -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), targets[..., None], axis=-1).mean()

    assert check("7.9", right).passed
    assert "log_softmax" in check("7.9", lambda lg, t: -jnp.take_along_axis(jax.nn.softmax(lg, axis=-1), t[..., None],
                                                                             axis=-1).mean()).message
    assert "sign" in check("7.9", lambda lg, t: -right(lg, t)).message


def test_bibtex_entry():
    entry = r"""@misc{k, author = {Kone{\v{c}}n{\'y}, Jakub and McMahan, H. Brendan and Yu, Felix X. and
        Richt{\'a}rik, Peter and Suresh, Ananda Theertha and Bacon, Dave},
        title = {Federated Learning: Strategies for Improving Communication Efficiency}, year = {2016},
        eprint = {1610.05492}, archiveprefix = {arXiv}}"""
    assert check("10.1", entry).passed
    unicode_names = entry.replace(r"Kone{\v{c}}n{\'y}", "Konečný")
    assert check("10.1", unicode_names).passed
    assert "garbled" in check("10.1", entry.replace("Communication Efficiency", "Data Privacy")).message
    assert "six authors" in check("10.1", entry.replace(" and Bacon, Dave", "")).message
    assert "'and others'" in check("10.1", entry.replace(" and Bacon, Dave", " and others")).message
    assert "2016" in check("10.1", entry.replace("{2016}", "{2017}")).message
    assert "identifier" in check("10.1", entry.replace("eprint = {1610.05492}, ", "")).message
    assert "replace the ..." in check("10.1", "\n...\n").message
    assert "does not parse" in check("10.1", "@misc{k, title = {x}").message
