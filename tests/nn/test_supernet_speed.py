"""The supernet's fast path (skip ``none``, shared ReLUs, in-place sums, pooling as a depthwise
convolution, per-cell checkpointing) against the reference path and against an independent
reimplementation of the official NAS-Bench-201 search network."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.nn.ops import avg_pool_3x3
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
import official_loop  # noqa: E402


def _bn_count(module: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def test_pool_bn_follows_each_space_convention():
    assert SPACES["nb201"].pool_bn is False
    assert all(s.pool_bn for name, s in SPACES.items() if name != "nb201")


def test_nb201_supernet_matches_the_official_network_size():
    """C = 16, N = 5: 15 cells x 6 edges x 2 conv ops + stem + 2 residual blocks x 2 + last BN = 186
    BatchNorm layers (90 fewer than with a BN after each of the 90 average poolings), and the
    parameter count of the independent reimplementation of NAS-Bench-201's TinyNetwork."""
    net = Supernet(SPACES["nb201"], 16, 5, 3, 10)
    assert _bn_count(net) == 15 * 6 * 2 + 1 + 4 + 1
    official = official_loop.TinyNetwork(16, 5)
    assert _bn_count(net) == _bn_count(official)
    n = sum(p.numel() for p in net.parameters())
    assert n == official_loop.count_parameters(official) == 1_686_106


def test_darts_space_keeps_a_bn_after_each_pooling_op():
    space = SPACES["darts"]
    net = Supernet(space, 4, 3, 3, 10)
    cells = [c for c in net.cells if hasattr(c, "edges")]
    per_edge = sum(1 for o in space.ops if "pool" in o)
    pool_bns = sum(
        isinstance(m, nn.BatchNorm2d) for c in cells for e in c.edges for op in e.ops if isinstance(op, nn.Sequential)
        and "Pool" in type(op[0]).__name__ for m in op.modules()
    )
    assert pool_bns == per_edge * sum(len(c.edges) for c in cells)


@pytest.mark.parametrize("fast", [False, True])
def test_nb201_supernet_equals_official_network(one_thread, fast):
    torch.manual_seed(0)
    net = Supernet(SPACES["nb201"], 4, 1, 3, 10)
    net.fast = fast
    official = official_loop.TinyNetwork(4, 1)
    official_loop.copy_weights(net, official)
    x = torch.randn(3, 3, 12, 12)
    w = torch.distributions.Dirichlet(torch.ones(6, 5)).sample()
    torch.testing.assert_close(net(x, {"cell": w}), official(x, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 8])
def test_avg_pool_3x3_equals_avg_pool2d_without_padded_counts(stride, size):
    x = torch.randn(2, 3, size, size, requires_grad=True)
    ref = F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    out = avg_pool_3x3(x, stride)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])


def _loss_and_grads(net: Supernet, x, y, weights):
    loss = F.cross_entropy(net(x, weights), y)
    params = list(net.parameters()) + list(weights.values())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def _prune(net: Supernet, edge: int, keep: list[int]) -> None:
    for cell in net.cells:
        if hasattr(cell, "edges"):
            m = cell.edges[edge]
            m.op_names = [m.op_names[i] for i in keep]
            m.ops = nn.ModuleList(m.ops[i] for i in keep)


@pytest.mark.parametrize(
    "space,k,pruned",
    [("nb201", 1, "all"), ("nb201", 1, "two"), ("nb201", 1, "none"), ("darts", 1, "all"), ("darts", 2, "two"),
     ("vinnas_f", 1, "all"), ("rdarts_s4", 1, "all")],
)
def test_fast_path_equals_reference_path(one_thread, space, k, pruned):
    """Loss and every gradient (weights and mixing weights) equal to 1e-5 on a fixed batch: all ops,
    edges pruned to two ops (``none`` + another on edge 0), or to ``none`` alone."""
    torch.manual_seed(0)
    net = Supernet(SPACES[space], 4 * k, 3, 3, 10, partial_channels=k)
    n_ops = len(SPACES[space].ops)
    for e in range(len(SPACES[space].edges)):
        if pruned == "two":
            _prune(net, e, [0, n_ops - 1] if e == 0 else [n_ops - 2, n_ops - 1])
        elif pruned == "none":
            _prune(net, e, [0])
    x, y = torch.randn(4, 3, 12, 12), torch.randint(0, 10, (4,))
    weights = {kind: torch.distributions.Dirichlet(torch.ones(shape)).sample().requires_grad_()
               for kind, shape in net.arch_shapes().items()}
    results = []
    for fast in (False, True):
        net.fast = fast
        torch.manual_seed(1)  # the noise op
        results.append(_loss_and_grads(net, x, y, weights))
    (l0, g0), (l1, g1) = results
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert any(g.abs().sum() > 0 for g in g1[:-len(weights)])


def test_fast_path_skips_none_and_shares_relus(one_thread):
    """Fewer ReLUs and multiplications than ops: one ReLU per cell state (3 per NB201 cell) instead
    of one per conv op (12), and no ``none`` op computed."""
    def count(fast):
        net = Supernet(SPACES["nb201"], 4, 1, 3, 10)
        net.fast = fast
        calls = {"relu": 0, "zero": 0}
        orig_relu = F.relu

        def relu(x, *a, **kw):
            calls["relu"] += 1
            return orig_relu(x, *a, **kw)

        for m in net.modules():
            if type(m).__name__ == "Zero":
                m.register_forward_hook(lambda *_: calls.__setitem__("zero", calls["zero"] + 1))
        F.relu, saved = relu, F.relu  # nn.ReLU calls F.relu too
        try:
            net(torch.randn(2, 3, 8, 8), {"cell": torch.softmax(torch.randn(6, 5), -1)})
        finally:
            F.relu = saved
        return calls

    counts = {fast: count(fast) for fast in (False, True)}
    cells, blocks = 3, 2  # N = 1 cell per stage; 2 residual blocks of 2 ReLUConvBN each + lastact
    assert counts[False]["relu"] == cells * 12 + 2 * blocks + 1
    assert counts[True]["relu"] == cells * 3 + 2 * blocks + 1
    assert counts[False]["zero"] == cells * 6 and counts[True]["zero"] == 0


def test_checkpoint_cells_gives_the_same_loss_and_gradients(one_thread):
    torch.manual_seed(0)
    net = Supernet(SPACES["darts"], 4, 3, 3, 10)
    x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 10, (2,))
    weights = {k: torch.softmax(torch.randn(s), -1).requires_grad_() for k, s in net.arch_shapes().items()}
    l0, g0 = _loss_and_grads(net, x, y, weights)
    net.checkpoint_cells = True
    l1, g1 = _loss_and_grads(net, x, y, weights)
    torch.testing.assert_close(l1, l0)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
