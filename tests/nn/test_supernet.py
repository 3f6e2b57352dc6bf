import pytest
import torch
import torch.nn as nn

from pyronas.nn.ops import OPS, Zero, make_op
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_keeps_shape(name, stride):
    x = torch.randn(2, 8, 10, 10)
    y = make_op(name, 8, 8, stride, affine=False, track=False)(x)
    assert y.shape == (2, 8, 10 // stride, 10 // stride)


@pytest.mark.parametrize(
    "space,C,layers,n_params_min", [("nb201", 4, 1, 1000), ("darts", 4, 5, 1000), ("vinnas_m", 4, 3, 1000)]
)
def test_supernet_shapes_and_backward(space, C, layers, n_params_min):
    net = Supernet(SPACES[space], C, layers, in_channels=3, num_classes=7)
    shapes = net.arch_shapes()
    assert set(shapes) == set(SPACES[space].cell_kinds)
    alpha = {k: torch.zeros(s, requires_grad=True) for k, s in shapes.items()}
    out = net(torch.randn(3, 3, 16, 16), {k: a.softmax(-1) for k, a in alpha.items()})
    assert out.shape == (3, 7)
    out.sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alpha.values())
    assert sum(p.numel() for p in net.parameters()) > n_params_min


def test_partial_channels_and_one_hot_weights_select_an_op():
    space = SPACES["darts"]
    net = Supernet(space, 8, 3, 1, 10, partial_channels=4)
    w = {k: torch.softmax(torch.randn(s), -1) for k, s in net.arch_shapes().items()}
    assert net(torch.randn(2, 1, 16, 16), w).shape == (2, 10)
    # with one-hot weights on 'none' everywhere, cells output zeros -> logits = classifier bias
    net = Supernet(SPACES["nb201"], 4, 1, 1, 10).eval()
    none = torch.zeros(6, 5)
    none[:, 0] = 1
    logits = net(torch.randn(2, 1, 8, 8), {"cell": none})
    assert logits.shape == (2, 10)


def test_to_full_scatters_pruned_candidates():
    net = Supernet(SPACES["nb201"], 4, 1, 1, 10)
    for cell in net.cells:
        if hasattr(cell, "edges"):
            for m in cell.edges:
                m.op_names = ["nor_conv_3x3", "skip_connect"]
    full = net.to_full("cell", torch.tensor([[0.7, 0.3]] * 6))
    assert full.shape == (6, 5)
    assert torch.allclose(full[:, 3], torch.tensor(0.7)) and torch.allclose(full[:, 1], torch.tensor(0.3))
    assert full[:, [0, 2, 4]].abs().sum() == 0


@pytest.mark.parametrize("partial_channels", [1, 2])
def test_fast_path_skips_none_and_reuses_the_cells_relu(partial_channels):
    """What makes the fast path fast, counted with forward hooks (its value equals the reference path's,
    ``tests/nn/test_supernet_speed.py``): in a searched cell no ``none`` op runs and no op applies its own
    leading ReLU — each state's ReLU is computed once by the cell and shared; the reference path runs both."""
    torch.manual_seed(0)
    net = Supernet(SPACES["darts"], 8, 3, 3, 10, partial_channels=partial_channels)
    cells = [c for c in net.cells if hasattr(c, "edges")]
    calls = {"none": 0, "op_relu": 0}

    def count(key):
        def hook(*_):
            calls[key] += 1
        return hook

    for cell in cells:
        for mixed in cell.edges:
            for op in mixed.ops:
                if isinstance(op, Zero):
                    op.register_forward_hook(count("none"))
                elif hasattr(op, "forward_after_relu"):  # its leading ReLU (a sep conv has a second, its own)
                    next(m for m in op.modules() if isinstance(m, nn.ReLU)).register_forward_hook(count("op_relu"))
    x = torch.randn(2, 3, 16, 16)
    weights = {k: torch.softmax(torch.randn(shape), -1) for k, shape in net.arch_shapes().items()}
    for fast in (None, False):  # None: as built (the fast path is the default)
        for cell in cells:
            for mixed in cell.edges:
                mixed.fast = mixed.fast if fast is None else fast
        calls.update(none=0, op_relu=0)
        net(x, weights)
        n_edges = sum(len(c.edges) for c in cells)
        if fast is None:
            assert calls == {"none": 0, "op_relu": 0}
        else:  # one none per edge; every ReLU-first op of every edge
            assert calls["none"] == n_edges and calls["op_relu"] > n_edges
