"""DARTS as a Pyro program (flat prior + point-mass guide) equals plain-PyTorch DARTS."""

import pyro
import torch
import torch.nn.functional as F

from pyronas.infer.objectives import Objective
from pyronas.infer.program import SupernetModel, alpha_site
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet
from pyronas.registry import build


def _program(space="darts"):
    torch.manual_seed(0)
    net = Supernet(SPACES[space], 4, 3 if space == "darts" else 1, 1, 10).double()
    prior = build("models", "flat", {}, net, where="model")
    model = SupernetModel(net, prior)
    guide = build("guides", "delta", {"init_scale": 0.5}, model, where="guide").double()
    return net, model, guide


def test_loss_and_gradients_equal_plain_darts():
    for space in ("darts", "nb201"):
        net, model, guide = _program(space)
        x = torch.randn(8, 1, 12, 12, dtype=torch.float64)
        y = torch.randint(0, 10, (8,))
        loss, _ = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, n_data=5000)
        params = list(net.parameters()) + list(guide.parameters())
        grads = torch.autograd.grad(loss, params)

        ref = F.cross_entropy(net(x, {k: F.softmax(a, -1) for k, a in guide.alpha.items()}), y)
        ref_grads = torch.autograd.grad(ref, params)
        assert abs(loss.item() - ref.item()) < 1e-6
        for g, r in zip(grads, ref_grads, strict=True):
            assert torch.allclose(g, r, atol=1e-6, rtol=0)


def test_meanfield_elbo_gives_the_same_loss():
    net, model, guide = _program("nb201")
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 10, (4,))
    a, _ = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, 100)
    b, _ = Objective(pyro.infer.TraceMeanField_ELBO()).loss(model, guide, x, y, 100)
    assert torch.allclose(a, b)


def test_likelihood_is_scaled_to_the_split_size():
    net, model, guide = _program("nb201")
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 10, (4,))
    tr = pyro.poutine.trace(pyro.poutine.replay(model, trace=pyro.poutine.trace(guide).get_trace(x, y, 1000)))
    tr = tr.get_trace(x, y, 1000)
    assert tr.nodes["y"]["scale"] == 1000 / 4
    assert alpha_site("cell") in tr.nodes


def test_site_recorder_sees_guide_samples_and_logits():
    net, model, guide = _program("nb201")
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 10, (4,))
    _, rec = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, 100)
    assert torch.equal(rec.values["alpha/cell"][0], guide.alpha["cell"])
    assert rec.logits.shape == (4, 10)
