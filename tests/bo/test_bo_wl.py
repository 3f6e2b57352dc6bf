"""Weisfeiler-Lehman features of NAS-Bench-201 cells (NAS-BOWL), the exponentiated WL kernel, and a BO run on them."""

import math

import pytest
import torch

from pyronas.bo.candidates import encode_op_indices, enumerate_op_indices
from pyronas.bo.config import BOConfig
from pyronas.bo.encodings import encoder
from pyronas.bo.kernels import KERNELS, lengthscale_dim
from pyronas.bo.loop import BayesOpt
from pyronas.bo.wl import op_graph, wl_features, wl_labels
from pyronas.errors import ConfigError
from pyronas.nn.spaces import get_space

NB201 = get_space("nb201")  # edges (0,1) (0,2) (1,2) (0,3) (1,3) (2,3)
NONE, SKIP, C1, C3, POOL = range(5)
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def _graph(*cell):
    return op_graph(NB201, tuple(OPS[i] for i in cell))


def _wl(*cells, h=1):
    return encoder(NB201, "wl", h)(encode_op_indices(NB201, torch.tensor(cells, dtype=torch.long)))


def test_op_on_node_graph_of_a_cell_by_hand():
    # 0-1 conv3, 1-2 skip, 1-3 pool, 2-3 conv1: conv3 feeds skip and pool, skip feeds conv1, output sums pool+conv1
    labels, preds = _graph(C3, NONE, SKIP, NONE, POOL, C1)
    assert labels == ["input", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "output"]
    assert preds == [[], [0], [1], [1], [2], [3, 4]]
    assert wl_labels(labels, preds, 1)[6:] == ["input()", "nor_conv_3x3(input)", "skip_connect(nor_conv_3x3)",
                                               "avg_pool_3x3(nor_conv_3x3)", "nor_conv_1x1(skip_connect)",
                                               "output(avg_pool_3x3,nor_conv_1x1)"]


def test_ops_on_no_input_to_output_route_are_dropped():
    # node 1 has no input (0-1 none), so 1-2 and 1-3 compute nothing; 2-3 has no input either
    assert _graph(NONE, NONE, C3, NONE, C3, C3) == (["input", "output"], [[], []])
    # 0-2 conv3 reaches node 2, but 2-3 is none: nothing of it reaches the output
    assert _graph(NONE, C3, NONE, POOL, NONE, NONE)[0] == ["input", "avg_pool_3x3", "output"]
    # dead edges do not change the features: the same function, the same WL vector
    a, b = _wl((NONE, C3, NONE, POOL, NONE, NONE), (NONE, C1, NONE, POOL, NONE, NONE))
    assert torch.equal(a, b)


def test_normalised_wl_kernel_in_closed_form():
    # one op on 0-3: labels input, op, output, input(), op(input), output(op): six labels, each counted once
    conv3, conv1 = _wl((NONE, NONE, NONE, C3, NONE, NONE), (NONE, NONE, NONE, C1, NONE, NONE))
    assert float(conv3.norm()) == pytest.approx(1.0) and int((conv3 > 0).sum()) == 6
    assert float(conv3 @ conv1) == pytest.approx(3 / 6)  # shared: input, output, input()
    # h = 0: op counts only; every edge of a full conv3 cell is a conv3 node: counts input 1, output 1, conv3 6
    full, one = _wl((C3,) * 6, (NONE, NONE, NONE, C3, NONE, NONE), h=0)
    assert float(full @ one) == pytest.approx((1 + 1 + 6) / (math.sqrt(38) * math.sqrt(3)))
    vocab, _ = wl_features(NB201, 0)
    assert {k for k in vocab if float(full[vocab[k]]) > 0} == {"input", "output", "nor_conv_3x3"}


def test_every_cell_has_a_unit_norm_row_and_h_grows_the_vocabulary():
    all_X = encoder(NB201, "wl", 1)(encode_op_indices(NB201, enumerate_op_indices(NB201)))
    assert all_X.shape[0] == 15_625 and torch.allclose(all_X.norm(dim=1), torch.ones(15_625))
    sizes = [len(wl_features(NB201, h)[0]) for h in (0, 1)]
    assert sizes[0] == 6 and sizes[1] > sizes[0]  # 4 ops (none is no node), input, output; then op(preds) labels


def test_wl_kernel_closed_form_and_positive_definite():
    X = _wl((C3, NONE, SKIP, NONE, POOL, C1), (C3,) * 6, (NONE, NONE, NONE, SKIP, NONE, NONE))
    k = KERNELS["wl"](input_dim=X.shape[1], variance=torch.tensor(1.5), lengthscale=torch.tensor([0.7]))
    K = k(X)
    assert torch.allclose(K, 1.5 * torch.exp(-(1 - X @ X.T) / 0.49), atol=1e-6)
    assert torch.allclose(k(X, diag=True), torch.full((3,), 1.5))
    assert torch.linalg.eigvalsh(K.double()).min() > 0
    assert lengthscale_dim("wl", X) == 1


def test_nonsense_wl_settings_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="bo.kernel: wl .* needs encoding: wl"):
        BOConfig(kernel="wl")
    with pytest.raises(ConfigError, match="bo.wl_iterations: must be >= 0"):
        BOConfig(kernel="wl", encoding="wl", wl_iterations=-1)
    with pytest.raises(ConfigError, match="bo.encoding: 'wl' needs a single-input cell"):
        encoder(get_space("darts"), "wl")


def test_bo_with_the_wl_kernel_finds_a_top_cell_of_a_wl_additive_objective():
    """An objective linear in the h = 1 WL features, ``f(x) = w . phi(x)``: in 30 queries the WL GP finds a cell in
    the top 1 % of all 15,625 (random search: probability 1 - 0.99^30 = 26 %)."""
    encode = encoder(NB201, "wl", 1)
    all_X = encode(encode_op_indices(NB201, enumerate_op_indices(NB201)))
    w = torch.randn(all_X.shape[1], generator=torch.Generator().manual_seed(0))
    f_all = all_X @ w
    top1 = float(torch.quantile(f_all, 0.99))

    def objective(genotype):
        return float(encode(NB201.encode(genotype)[None]) @ w)

    cfg = BOConfig(budget=30, n_init=10, encoding="wl", kernel="wl", map_steps=30, map_restart=False, refit_every=5)
    bo = BayesOpt(NB201, objective, cfg, seed=0)
    bo.run()
    assert len({ev.arch for ev in bo.evaluations}) == 30
    assert max(ev.value for ev in bo.evaluations) >= top1
