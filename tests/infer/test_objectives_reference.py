"""``Schedule`` (the lambda_t(epoch) of the search objective) against its closed form, VINNAS Algorithm 1 line 19:
0 before ``start``, linear up to ``value`` at ``end``, ``value`` after; a step at ``start`` without ``end``. Then
the objective's Pyro plumbing (site scaling and masking, the recorder, the jackknife, plug-in terms) against
hand-computed expectations."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyronas.infer.objectives import (
    TERMS,
    Objective,
    ScaleSites,
    Schedule,
    SiteRecorder,
    TermSpec,
    jackknife_entropy_of_mean,
    register_term,
)
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build


@pytest.mark.parametrize("progress", [0.0, 0.99, 1.0, 1.5, 2.0, 2.75, 3.0, 7.0])
def test_linear_ramp(progress):
    want = 0.0 if progress < 1.0 else 2.0 * min(1.0, (progress - 1.0) / 2.0)
    assert Schedule(value=2.0, start=1.0, end=3.0)(progress) == pytest.approx(want, abs=1e-15)


def test_step_without_end_and_constant_by_default():
    step = Schedule(value=0.5, start=2.0)
    assert [step(p) for p in (1.9, 2.0, 9.0)] == [0.0, 0.5, 0.5]
    assert Schedule(value=0.3)(0.0) == 0.3


# --- the objective's Pyro plumbing against hand-computed expectations -------------------------------------
def _toy_model(y):
    pyro.sample("alpha/a", dist.Normal(0.0, 1.0))
    pyro.sample("w", dist.Normal(0.0, 1.0))
    pyro.sample("alpha/obs", dist.Normal(0.0, 1.0), obs=y)


def test_scale_sites_scales_and_masks_latents_by_prefix_never_observations():
    """γ multiplies the scale set inside it (here 2, as the model's own scaling would be) of latent sites
    under its prefix; γ = 0 masks the site (scale untouched); an observed site is never rescaled, even
    when its name matches."""
    with poutine.trace() as tr, ScaleSites({"alpha/": 0.5, "w": 0.0}), poutine.scale(scale=2.0):
        _toy_model(torch.tensor(0.3))
    nodes = tr.trace.nodes
    assert nodes["alpha/a"]["scale"] == pytest.approx(1.0)
    assert nodes["w"]["mask"] is False and nodes["w"]["scale"] == pytest.approx(2.0)
    assert nodes["alpha/obs"]["scale"] == pytest.approx(2.0) and nodes["alpha/obs"]["mask"] is None


def test_site_recorder_logits_and_values():
    """logits: None without an observed site or when the likelihood has none (a Normal), else the
    Categorical's (normalised) logits; values: the model's latent sites only, never an autoguide's auxiliary latent."""
    with SiteRecorder() as rec:
        pyro.sample("alpha/a", dist.Normal(0.0, 1.0))
    assert rec.logits is None
    with SiteRecorder() as rec:
        _toy_model(torch.tensor(0.3))
    assert rec.logits is None
    logits = torch.randn(4, 3)
    with SiteRecorder() as rec:
        pyro.sample("y", dist.Categorical(logits=logits), obs=torch.zeros(4, dtype=torch.long))
    assert torch.allclose(rec.logits, logits.log_softmax(-1))  # Categorical normalises its logits

    def model():
        pyro.sample("alpha/a", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    pyro.clear_param_store()
    guide = pyro.infer.autoguide.AutoLowRankMultivariateNormal(model, rank=1)
    with SiteRecorder() as rec:
        guide()
    assert set(rec.values) == {"alpha/a"}
    pyro.clear_param_store()


def test_jackknife_with_two_draws_is_the_closed_form():
    """S = 2: 2·H(z̄) − ½ Σ_i H(z_{−i}), where z_{−i} is the other draw."""
    z = torch.tensor([[[0.7, 0.2, 0.1]], [[0.1, 0.3, 0.6]]])

    def h(p):
        return float(-(p * p.log()).sum())

    want = 2 * h(z.mean(0)) - 0.5 * (h(z[0]) + h(z[1]))
    assert float(jackknife_entropy_of_mean(z)) == pytest.approx(want, rel=1e-6)
    assert want != pytest.approx(h(z.mean(0)))


def test_a_registered_term_sees_this_batch_draws_the_progress_and_its_params():
    """A plug-in term gets the α drawn by the guide for this loss call, the progress and its
    keyword params; weight 1 adds it once; without ``progress`` the call is at progress 0."""
    seen = {}

    @register_term("probe_term_for_test")
    def probe(ctx, k: float):
        seen.update(alpha=ctx.alpha_samples(), progress=ctx.progress)
        return torch.tensor(k)

    try:
        torch.manual_seed(0)
        pyro.clear_param_store()
        net = Supernet(get_space("nb201"), 2, 1, 1, 3)
        model = SupernetModel(net, build("models", "gaussian", {"delta": 1.0}, net, where="m"))
        guide = build("guides", "balenas", {}, model, where="g")
        x, y = torch.randn(4, 1, 6, 6), torch.randint(0, 3, (4,))
        plain = Objective(pyro.infer.Trace_ELBO())
        probed = Objective(pyro.infer.Trace_ELBO(), [TermSpec("probe_term_for_test", Schedule(1.0), {"k": 3.0})])
        torch.manual_seed(1)
        base, _ = plain.loss(model, guide, x, y, 10, progress=0.7)
        torch.manual_seed(1)
        total, rec = probed.loss(model, guide, x, y, 10, progress=0.7)
        assert float((total - base).detach()) == pytest.approx(3.0, rel=1e-5)
        assert seen["progress"] == 0.7
        assert torch.equal(seen["alpha"]["cell"], torch.stack(rec.values["alpha/cell"]))
        assert seen["alpha"]["cell"].shape == (1, 6, 5)
        probed.loss(model, guide, x, y, 10)
        assert seen["progress"] == 0.0
    finally:
        TERMS._entries.pop("probe_term_for_test", None)
        pyro.clear_param_store()
