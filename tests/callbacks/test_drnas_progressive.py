"""DrNAS progressive learning: widening with the random mapping g (eq. 7-8), pruning by β, memory."""

from __future__ import annotations

import pyro
import pytest
import torch
import torch.nn as nn

from pyronas.callbacks.progressive import memory_per_stage, next_stage, restructure, top_ops
from pyronas.infer.memory import stage_memory_report
from pyronas.infer.objectives import Objective, Schedule, TermSpec
from pyronas.infer.program import SupernetModel
from pyronas.nn.ops import ReLUConvBN, SepConv
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import MixedOp, Supernet
from pyronas.nn.surgery import partial_channels_of, random_mapping, widen_bn, widen_conv, widen_mixed_op
from pyronas.optim.carry import carry_optimizer_state
from pyronas.registry import build


def test_random_mapping_is_identity_then_random():
    g = random_mapping(4, 10, torch.Generator().manual_seed(0))
    assert g.tolist()[:4] == [0, 1, 2, 3]
    assert len(g) == 10 and g.min() >= 0 and g.max() < 4
    with pytest.raises(ValueError):
        random_mapping(4, 3)


def test_widen_conv_copies_w_into_u_and_new_channels_follow_g():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=True)
    gen = torch.Generator().manual_seed(1)
    g_in, g_out = random_mapping(3, 6, gen), random_mapping(5, 10, gen)
    new = widen_conv(conv, g_in, g_out)
    U, W = new.weight.detach(), conv.weight.detach()
    assert U.shape == (10, 6, 3, 3)
    assert torch.equal(U[:5, :3], W)  # U restricted to the old channels is W
    for o in range(10):
        for i in range(6):
            assert torch.equal(U[o, i], W[g_out[o], g_in[i]])  # eq. 8, no 1/replication division
    assert torch.equal(new.bias.detach(), conv.bias.detach()[g_out])
    # a new output channel is an exact copy of the old channel g picked (given the copied inputs)
    x = torch.randn(2, 3, 7, 7)
    y_old, y_new = conv(x), new(x[:, g_in])
    assert not torch.allclose(y_new[:, :5], y_old)  # copied inputs add up (no division) ...
    assert torch.allclose(y_new[:, 5:], y_new[:, g_out[5:]], atol=1e-6)  # ... but new outputs copy old ones


def test_widen_depthwise_and_bn():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
    g = random_mapping(4, 8, torch.Generator().manual_seed(2))
    new = widen_conv(conv, g, g)
    assert new.groups == 8 and torch.equal(new.weight.detach(), conv.weight.detach()[g])
    bn = nn.BatchNorm2d(4, affine=True, track_running_stats=True)
    bn.running_mean.uniform_()
    new_bn = widen_bn(bn, g)
    assert torch.equal(new_bn.running_mean, bn.running_mean[g])


def test_widen_mixed_op_widens_every_conv_of_every_op():
    torch.manual_seed(0)
    mixed = MixedOp(list(get_space("darts").ops), C=16, stride=2, partial_channels=4)
    old = {n: p.detach().clone() for n, p in mixed.named_parameters()}
    widen_mixed_op(mixed, 2, torch.Generator().manual_seed(0))
    assert mixed.k == 2
    for name, p in mixed.named_parameters():
        w = old[name]
        assert p.shape[0] == 2 * w.shape[0]
        sl = (slice(0, w.shape[0]), slice(0, w.shape[1])) if w.shape[1] > 1 else (slice(0, w.shape[0]),)
        assert torch.equal(p.detach()[sl], w), name  # old block unchanged
    sep = mixed.ops[mixed.op_names.index("sep_conv_3x3")]
    assert isinstance(sep, SepConv) and sep[0][1].groups == 8
    x = torch.randn(2, 16, 8, 8)
    assert mixed(x, torch.full((8,), 1 / 8)).shape == (2, 16, 4, 4)
    with pytest.raises(ValueError):
        widen_mixed_op(mixed, 3)


def test_relu_conv_bn_widened_as_one_chain():
    torch.manual_seed(0)
    op = ReLUConvBN(4, 4, 3, 1, 1, affine=False, track=False)
    mixed = MixedOp(["nor_conv_3x3"], C=8, stride=1, partial_channels=2)
    mixed.ops[0] = op
    W = op[1].weight.detach().clone()
    torch.manual_seed(5)
    widen_mixed_op(mixed, 1, torch.Generator().manual_seed(3))
    g = random_mapping(4, 8, torch.Generator().manual_seed(3))
    U = mixed.ops[0][1].weight.detach()
    assert torch.equal(U, W[g][:, g])


def _program(space="darts", C=8, layers=3, k=4):
    torch.manual_seed(0)
    net = Supernet(get_space(space), C=C, layers=layers, in_channels=1, num_classes=3, partial_channels=k)
    model = SupernetModel(net, build("models", "dirichlet", {}, net, where="m"))
    guide = build("guides", "dirichlet", {}, model, where="g")
    return net, model, guide


def test_top_ops_keeps_largest_beta_per_edge():
    probs = {"cell": torch.tensor([[0.1, 0.4, 0.2, 0.3], [0.5, 0.1, 0.3, 0.1]])}
    keep = top_ops(probs, 2)["cell"]
    assert keep.tolist() == [[1, 3], [0, 2]]


def test_prune_and_widen_supernet_then_it_still_runs():
    net, model, guide = _program()
    kinds = list(net.arch_shapes())
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for k in kinds:
            guide.eta[k].copy_(torch.randn(guide.eta[k].shape, generator=gen))
    beta = {k: guide.beta(k).detach() for k in kinds}
    expected = {k: [sorted(b.argsort(descending=True)[:4].tolist()) for b in beta[k]] for k in kinds}
    names = next_stage(net, model, guide, num_ops=4, partial_channels=2)
    ops = get_space("darts").ops
    for k in kinds:
        assert net.arch_shapes()[k] == (14, 4)
        assert [[ops.index(n) for n in e] for e in names[k]] == expected[k]  # exactly the top-4 β
        assert torch.equal(guide.beta(k).detach(), beta[k].gather(1, torch.tensor(expected[k])))
        assert model.prior.alpha_dist(k).event_shape == (14, 4)
    assert partial_channels_of(net) == 2
    x, y = torch.randn(4, 1, 16, 16), torch.randint(0, 3, (4,))
    obj = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(1e-3))], {"alpha/": Schedule(0.0)})
    loss, rec = obj.loss(model, guide, x, y, 100)
    loss.backward()
    assert torch.isfinite(loss) and rec.logits.shape == (4, 3)
    # to_full scatters the pruned weights back onto the full op set, so the space's derivation still works
    full = {k: net.to_full(k, p) for k, p in guide.op_probs().items()}
    assert get_space("darts").derive(full).cells["normal"]


def test_restructure_lets_a_fresh_program_load_a_staged_checkpoint():
    net, model, guide = _program()
    names = next_stage(net, model, guide, num_ops=4, partial_channels=2)
    state_net, state_guide = net.state_dict(), guide.state_dict()
    net2, model2, guide2 = _program()
    with pytest.raises(RuntimeError):
        net2.load_state_dict(state_net)
    rng = torch.get_rng_state()
    restructure(net2, model2, guide2, names, partial_channels=2)
    assert torch.equal(rng, torch.get_rng_state())  # global RNG untouched
    net2.load_state_dict(state_net)
    guide2.load_state_dict(state_guide)
    x = torch.randn(2, 1, 16, 16)
    w = guide.op_probs()
    net.eval(), net2.eval()
    assert torch.allclose(net(x, w), net2(x, w), atol=1e-5)


def test_stage_memory_report_constant_across_a_stage_change():
    """K 4 -> 2 doubles the channels each op sees; halving the op set keeps activation memory about
    constant (DrNAS Table 1), while widening alone would grow it."""
    net, model, guide = _program(C=8, layers=3, k=4)
    obj = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(1e-3))], {"alpha/": Schedule(0.0)})
    x, y = torch.randn(8, 1, 16, 16), torch.randint(0, 3, (8,))
    r1 = stage_memory_report(net, model, guide, obj, x, y, 100)
    assert r1["partial_channels"] == 4 and r1["num_ops"] == 8 and r1["peak_mib"] > 0
    net_w, model_w, guide_w = _program(C=8, layers=3, k=4)
    next_stage(net_w, model_w, guide_w, num_ops=None, partial_channels=2)
    r_widen_only = stage_memory_report(net_w, model_w, guide_w, obj, x, y, 100)
    next_stage(net, model, guide, num_ops=4, partial_channels=2)
    r2 = stage_memory_report(net, model, guide, obj, x, y, 100)
    assert r2["num_ops"] == 4
    assert r_widen_only["activations_mib"] > 1.3 * r1["activations_mib"]
    assert 0.6 < r2["activations_mib"] / r1["activations_mib"] < 1.4, (r1, r2)
    # the same through the helper for scripts/bench/benchmark.py
    net, model, guide = _program(C=8, layers=3, k=4)
    rows = memory_per_stage(net, model, guide, obj, x, y, 100, partial_channels=[4, 2], num_ops=[8, 4])
    assert [(r["stage"], r["partial_channels"], r["num_ops"]) for r in rows] == [(0, 4, 8), (1, 2, 4)]
    assert abs(rows[0]["activations_mib"] - r1["activations_mib"]) < 1e-9
    assert abs(rows[1]["activations_mib"] - r2["activations_mib"]) / r2["activations_mib"] < 0.05


def test_optimizer_state_is_carried_through_prune_and_widen():
    """SGD momentum of a widened conv = the old buffer mapped by the same g (official DrNAS code);
    Adam moments of η = the old moments of the kept columns."""
    net, model, guide = _program(space="nb201", C=8, layers=1, k=2)
    opt_w = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt_a = torch.optim.Adam(guide.parameters(), lr=0.1)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))
    obj = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(1e-3))], {"alpha/": Schedule(0.0)})
    for _ in range(2):
        opt_w.zero_grad(), opt_a.zero_grad()
        obj.loss(model, guide, x, y, 100)[0].backward()
        opt_w.step(), opt_a.step()
    conv_name = "cells.0.edges.0.ops.3.1.weight"  # nor_conv_3x3's conv on the first edge
    old_conv = dict(net.named_parameters())[conv_name]
    old_buf = opt_w.state[old_conv]["momentum_buffer"].clone()
    old_eta = guide.eta["cell"]
    old_m = opt_a.state[old_eta]["exp_avg"].clone()
    with torch.no_grad():  # make nor_conv_3x3 (index 3) survive on every edge
        guide.eta["cell"][:, 3] = 5.0
    lineage = {}
    next_stage(net, model, guide, num_ops=3, partial_channels=1, generator=torch.Generator().manual_seed(4),
               lineage=lineage)
    new_w = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    new_a = torch.optim.Adam(guide.parameters(), lr=0.1)
    carry_optimizer_state(opt_w, new_w, lineage)
    carry_optimizer_state(opt_a, new_a, lineage)
    j = net.candidate_ops("cell")[0].index("nor_conv_3x3")
    new_conv = dict(net.named_parameters())[f"cells.0.edges.0.ops.{j}.1.weight"]
    src, _ = lineage[new_conv]
    assert src is old_conv
    U, buf = new_conv.detach(), new_w.state[new_conv]["momentum_buffer"]
    W = old_conv.detach()
    # recover g from the widened weights (the new rows/columns are copies of old ones), then check the buffer
    assert buf.shape == U.shape and torch.equal(buf[:4, :4], old_buf)
    for o in range(4, 8):
        src_o = next(i for i in range(4) if torch.equal(U[o, :4], W[i]))
        assert torch.equal(buf[o, :4], old_buf[src_o])
        src_i = next(i for i in range(4) if torch.equal(U[:4, o], W[:, i]))
        assert torch.equal(buf[:4, o], old_buf[:, src_i])
    keep = [net.space.ops.index(n) for n in net.candidate_ops("cell")[0]]
    assert torch.equal(new_a.state[guide.eta["cell"]]["exp_avg"][0], old_m[0, keep])
    assert int(new_a.state[guide.eta["cell"]]["step"]) == 2
    # an untouched parameter (the classifier) keeps its momentum
    assert torch.equal(new_w.state[net.classifier.weight]["momentum_buffer"],
                       opt_w.state[net.classifier.weight]["momentum_buffer"])
