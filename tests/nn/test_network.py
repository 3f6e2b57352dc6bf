"""Discrete network from a genotype: reference parameter counts, shapes, gradients, drop-path."""

import pytest
import torch

from pyronas.nn.network import DiscreteCell, Network, count_parameters, drop_path, evaluation_scale
from pyronas.nn.spaces import Genotype, get_space
from pyronas.train.trainer import count_flops

# DARTS-V2 cells as published in the DARTS paper (Liu et al. 2019, fig. 4/5; ``genotypes.DARTS_V2`` of the
# reference code), written as (op, source, target) edges: node j gets the pair listed for it.
DARTS_V2 = Genotype(
    "darts",
    {
        "normal": [
            ("sep_conv_3x3", 0, 2),
            ("sep_conv_3x3", 1, 2),
            ("sep_conv_3x3", 0, 3),
            ("sep_conv_3x3", 1, 3),
            ("sep_conv_3x3", 1, 4),
            ("skip_connect", 0, 4),
            ("skip_connect", 0, 5),
            ("dil_conv_3x3", 2, 5),
        ],
        "reduce": [
            ("max_pool_3x3", 0, 2),
            ("max_pool_3x3", 1, 2),
            ("skip_connect", 2, 3),
            ("max_pool_3x3", 1, 3),
            ("max_pool_3x3", 0, 4),
            ("skip_connect", 2, 4),
            ("skip_connect", 2, 5),
            ("max_pool_3x3", 1, 5),
        ],
    },
    {"normal": [2, 3, 4, 5], "reduce": [2, 3, 4, 5]},
)

# The NAS-Bench-201 ResNet-like cell (Dong & Yang 2020, sec. 2.4).
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_darts_v2_parameter_count_matches_reference():
    net = Network.from_genotype(DARTS_V2, "darts", C=36, layers=20, in_channels=3, num_classes=10, auxiliary=True)
    # The DARTS reference ``train.py`` (NetworkCIFAR(36, 10, 20, auxiliary=True, DARTS_V2)) logs
    # "param size = 3.349342MB"; its utils.count_parameters_in_MB leaves out the auxiliary head. This
    # is the "3.3M" every DARTS-based paper reports.
    assert count_parameters(net) == 3_349_342
    # Auxiliary head after the second reduction (C_prev = 4 * 144 = 576 channels), reference
    # AuxiliaryHeadCIFAR: conv1x1 576*128 + BN 2*128 + conv2x2 128*768*4 + BN 2*768 + linear 768*10 + 10.
    aux = 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert count_parameters(net, exclude_auxiliary=False) == 3_349_342 + aux
    # Multiply-adds of one 32x32 image: DARTS-based papers tabulate DARTS (2nd order) at "528M" FLOPs.
    _, macs = count_flops(net, (3, 32, 32))
    assert round(macs) == 528


def test_nb201_resnet_cell_parameter_count_matches_benchmark():
    genotype = Genotype.from_nb201_string(NB201_RESNET)
    net = Network.from_genotype(genotype, "nb201", C=16, layers=5, in_channels=3, num_classes=10)
    # NAS-Bench-201 cost_info of this cell on CIFAR-10: params 0.559386 (M). By hand: stem 3*16*9+32;
    # per cell two 3x3 ReLUConvBN; residual blocks 16->32, 32->64; last BN; classifier 64*10+10.
    stage = [5 * 2 * (c * c * 9 + 2 * c) for c in (16, 32, 64)]
    blocks = [ci * co * 9 + 2 * co + co * co * 9 + 2 * co + ci * co for ci, co in ((16, 32), (32, 64))]
    expected = 3 * 16 * 9 + 32 + sum(stage) + sum(blocks) + 128 + 650
    assert expected == 559_386
    assert count_parameters(net) == expected


@pytest.mark.parametrize(
    "space,C,layers,in_ch,size",
    [("nb201", 8, 1, 1, 28), ("darts", 8, 5, 3, 32), ("vinnas_f", 8, 8, 1, 28), ("vinnas_m", 8, 1, 1, 28)],
)
def test_forward_backward_shapes(space, C, layers, in_ch, size):
    torch.manual_seed(0)
    s = get_space(space)
    genotype = s.random_genotype(torch.Generator().manual_seed(1))
    aux = s.n_inputs == 2
    net = Network.from_genotype(genotype, space, C, layers, in_ch, 10, auxiliary=aux)
    net.drop_path_prob = 0.2
    x = torch.randn(4, in_ch, size, size)
    out = net(x)
    if aux:
        logits, aux_logits = out
        assert aux_logits.shape == (4, 10)
        loss = logits.sum() + 0.4 * aux_logits.sum()
    else:
        logits = out
        loss = logits.sum()
    assert logits.shape == (4, 10)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    net.eval()
    with torch.no_grad():
        assert net(x).shape == (4, 10)  # eval mode: logits only


def test_vinnas_evaluation_layouts():
    assert evaluation_scale("vinnas_f", 10, 8) == (64, 8)
    assert evaluation_scale("vinnas_c", 12, 8) == (36, 20)
    assert evaluation_scale("vinnas_m", 16, 1) == (16, 1)
    assert evaluation_scale("darts", 16, 8) == (16, 8)
    s = get_space("vinnas_c")
    net = Network.from_genotype(s.random_genotype(torch.Generator().manual_seed(0)), s, 4, 20, 3, 10)
    assert net.layout == "N" * 6 + "R" + "N" * 6 + "R" + "N" * 6
    net_f = Network.from_genotype(get_space("vinnas_f").random_genotype(), "vinnas_f", 4, 8, 1, 10)
    assert net_f.layout == "NNRNNRNN"
    assert Network.from_genotype(get_space("vinnas_m").random_genotype(), "vinnas_m", 4, 1, 1, 10).layout == "R"


def test_drop_path_keeps_expectation():
    torch.manual_seed(0)
    x = torch.ones(200_000, 1, 1, 1)
    for p in (0.2, 0.3):
        y = drop_path(x, p)
        kept = (y != 0).float().mean()
        assert abs(kept - (1 - p)) < 0.005  # whole samples dropped with probability p
        assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p)))
        assert abs(y.mean() - 1.0) < 0.01  # E[drop_path(x)] = x
    assert torch.equal(drop_path(x[:5], 0.0), x[:5])


def test_drop_path_only_in_training_and_not_on_identity():
    torch.manual_seed(0)
    s = get_space("nb201")
    x = torch.randn(6, 8, 6, 6)
    skips = Genotype.from_nb201_string(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    )
    cell = DiscreteCell(s, skips.cells["cell"], [3], 8, 8, 8, False, False).train()
    assert torch.equal(cell(None, x, 0.9), cell(None, x, 0.0))  # identity edges are never dropped
    convs = Genotype.from_nb201_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    cell = DiscreteCell(s, convs.cells["cell"], [3], 8, 8, 8, False, False).train()
    assert not torch.allclose(cell(None, x, 0.5), cell(None, x, 0.0))
    cell.eval()
    assert torch.equal(cell(None, x, 0.5), cell(None, x, 0.0))  # no drop-path at evaluation


def test_invalid_genotype_is_rejected():
    g = Genotype("darts", {"normal": [("sep_conv_3x3", 0, 2)], "reduce": DARTS_V2.cells["reduce"]})
    with pytest.raises(ValueError, match="incoming edge"):
        Network.from_genotype(g, "darts", 8, 5)
    with pytest.raises(ValueError, match="kind"):
        Network.from_genotype(Genotype("darts", {"normal": DARTS_V2.cells["normal"]}), "darts", 8, 5)
