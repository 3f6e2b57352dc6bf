"""The γ3 entropy term Σ H(E_q[z]) (VINNAS eq. 8) against Monte Carlo references with 10⁵ draws of q(α)."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from torch.distributions import Categorical

from pyronas.infer.objectives import Objective, Schedule, TermContext, TermSpec, entropy_of_expected_weights
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build

SIGMAS = (0.3, 1.0, 2.0)


@pytest.fixture(scope="module")
def vinnas():
    """One reduction cell of the VINNAS M space: 5 edges x K = 10 ops, plain softmax (no zero clip)."""
    torch.manual_seed(0)
    net = Supernet(get_space("vinnas_m"), 2, 1, 1, 10, layout="R")
    model = SupernetModel(net, build("models", "log_uniform", {"zero_clip": None}, net, where="m"))
    guide = build("guides", "mean_field", {}, model, where="g")
    return model, guide


def _set(guide, loc: torch.Tensor, sigma: float) -> None:
    with torch.no_grad():
        guide.alpha_loc["reduce"].copy_(loc)
        guide.alpha_log_sigma2["reduce"].fill_(2 * math.log(sigma))


def _ctx(model, guide) -> TermContext:
    """What ``Objective.loss`` hands a term: the α the ELBO drew for this batch (one particle)."""
    return TermContext(model, guide, {f"alpha/{k}": [guide.alpha_dist(k).rsample()] for k in guide.arch_shapes}, 0.0)


def _term(model, guide, calls: int = 40) -> float:
    """Mean of ``calls`` evaluations of the term (each with its own draws)."""
    with torch.no_grad():
        return sum(float(entropy_of_expected_weights(_ctx(model, guide))) for _ in range(calls)) / calls


def _reference(loc: torch.Tensor, sigma: float, n: int = 100_000, seed: int = 1) -> float:
    """Σ_edges H(mean of n softmax(μ + σ ε)) in float64."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn((n, *loc.shape), generator=g, dtype=torch.float64)
    p = torch.softmax(loc.double() + sigma * eps, -1).mean(0)
    return float(Categorical(probs=p).entropy().sum())


def _loc(kind: str) -> torch.Tensor:
    torch.manual_seed(5)
    if kind == "uniform":
        return torch.zeros(5, 10)
    if kind == "first":
        loc = torch.zeros(5, 10)
        loc[:, 0] = 1.0  # μ₀ = 1, the other ops 0
        return loc
    return torch.randn(5, 10)


def test_term_is_flat_in_sigma_for_uniform_mean(vinnas):
    """μ = 0: E_q[softmax α] is uniform for every σ, so Σ H(E_q[z]) = 5 log 10 whatever σ is.
    (The entropy of one draw falls with σ: about 5 x 2.26, 1.92, 1.34.)"""
    model, guide = vinnas
    torch.manual_seed(0)
    for sigma in SIGMAS:
        _set(guide, _loc("uniform"), sigma)
        assert _term(model, guide) == pytest.approx(5 * math.log(10), abs=0.03), sigma


@pytest.mark.parametrize("loc", ["first", "random"])
def test_term_does_not_decrease_with_sigma_and_matches_the_reference(vinnas, loc):
    model, guide = vinnas
    torch.manual_seed(0)
    values, refs = [], []
    for sigma in SIGMAS:
        _set(guide, _loc(loc), sigma)
        values.append(_term(model, guide))
        refs.append(_reference(_loc(loc), sigma))
        assert values[-1] == pytest.approx(refs[-1], abs=1e-2), (sigma, values[-1], refs[-1])
    assert refs[0] < refs[1] < refs[2]  # the reference itself rises with σ
    assert values[0] < values[1] < values[2], values
    # one call with the default 64 draws: per edge within 3 standard deviations (≈ 0.01) of the reference
    _set(guide, _loc(loc), 1.0)
    assert _term(model, guide, calls=1) / 5 == pytest.approx(refs[1] / 5, abs=0.03)


def test_gradient_wrt_sigma_has_the_sign_of_the_reference(vinnas):
    """d/d log σ of the term (autograd through the reparameterised draws) vs. a central finite
    difference of the 10⁵-draw reference under common random numbers: same sign, similar size."""
    model, guide = vinnas
    loc, sigma, h = _loc("random"), 1.0, 0.05
    fd = (_reference(loc, sigma * math.exp(h)) - _reference(loc, sigma * math.exp(-h))) / (2 * h)
    assert fd > 0.05
    _set(guide, loc, sigma)
    torch.manual_seed(0)
    log_s2 = guide.alpha_log_sigma2["reduce"]
    # d/d log σ = 2 d/d log σ², summed over every coordinate (all σ move together)
    grads = [
        2 * torch.autograd.grad(entropy_of_expected_weights(_ctx(model, guide)), log_s2)[0].sum() for _ in range(20)
    ]
    g = float(torch.stack(grads).mean())
    assert g > 0 and g == pytest.approx(fd, rel=0.25), (g, fd)


def test_point_mass_gives_softmax_of_the_estimate_exactly(vinnas):
    model, guide = vinnas
    torch.manual_seed(2)
    alpha = 2 * torch.randn(5, 10)
    delta = build("guides", "delta", {}, model, where="g")
    with torch.no_grad():
        delta.alpha["reduce"].copy_(alpha)
    expected = Categorical(logits=alpha).entropy().sum()
    assert torch.allclose(entropy_of_expected_weights(_ctx(model, delta)), expected, atol=1e-5)
    assert torch.allclose(entropy_of_expected_weights(_ctx(model, delta), num_samples=3), expected, atol=1e-5)


def test_num_samples_is_a_term_parameter(vinnas):
    model, guide = vinnas
    assert TermSpec("entropy", Schedule(1.0), {"num_samples": 8}).params == {"num_samples": 8}
    with pytest.raises(ValueError, match="num_sample"):
        TermSpec("entropy", Schedule(1.0), {"num_sample": 8})


# --- the DARTS space: two cell kinds ------------------------------------------------------------
@pytest.fixture(scope="module")
def darts():
    torch.manual_seed(0)
    net = Supernet(get_space("darts"), 4, 2, 1, 10, layout="NR")
    model = SupernetModel(net, build("models", "flat", {}, net, where="m"))
    return net, model


def test_darts_term_sums_every_kind_and_edge(darts):
    """Point mass: the term is Σ_{kind, edge} Categorical(probs = softmax α̂).entropy(), both kinds
    (their α̂ differ, so summing only one kind fails)."""
    _, model = darts
    guide = build("guides", "delta", {}, model, where="g")
    torch.manual_seed(3)
    with torch.no_grad():
        guide.alpha["normal"].copy_(3 * torch.randn(14, 8))
        guide.alpha["reduce"].copy_(0.3 * torch.randn(14, 8))
    per_kind = {k: Categorical(probs=torch.softmax(a, -1)).entropy().sum() for k, a in guide.alpha.items()}
    assert abs(per_kind["normal"] - per_kind["reduce"]) > 1.0
    term = entropy_of_expected_weights(_ctx(model, guide))
    assert torch.allclose(term, per_kind["normal"] + per_kind["reduce"], atol=1e-4)


def test_darts_term_under_a_gaussian_guide_matches_the_reference(darts):
    """Mean-field q(α), σ = 1, different means per kind: Σ over both kinds of H(E_q[z]) with E_q[z]
    from 10⁵ draws."""
    net, _ = darts
    model = SupernetModel(
        net, build("models", "log_uniform", {"bayesian_weights": False, "zero_clip": None}, net, where="m")
    )
    guide = build("guides", "mean_field", {}, model, where="g")
    torch.manual_seed(4)
    locs = {"normal": 1.5 * torch.randn(14, 8), "reduce": 0.5 * torch.randn(14, 8)}
    with torch.no_grad():
        for k, loc in locs.items():
            guide.alpha_loc[k].copy_(loc)
            guide.alpha_log_sigma2[k].fill_(0.0)
    ref = sum(_reference(loc, 1.0) for loc in locs.values())
    torch.manual_seed(0)
    assert _term(model, guide) == pytest.approx(ref, abs=2e-2)


def test_objective_adds_lambda_times_the_term_at_a_scheduled_progress(darts):
    """loss(λ) − loss(0) = λ(progress) H / N with λ on its linear ramp: 0.1 · (3 − 2) / (6 − 2) at progress 3
    (VINNAS eq. 8 is dataset-level; the per-datum loss carries its 1/N, N = 100 here)."""
    _, model = darts
    guide = build("guides", "delta", {}, model, where="g")
    torch.manual_seed(6)
    with torch.no_grad():
        for a in guide.alpha.values():
            a.copy_(torch.randn_like(a))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    with_term = Objective(pyro.infer.Trace_ELBO(), [TermSpec("entropy", Schedule(0.1, 2.0, 6.0))])
    without = Objective(pyro.infer.Trace_ELBO())
    h = sum(Categorical(logits=a).entropy().sum() for a in guide.alpha.values())
    lam = 0.1 * (3.0 - 2.0) / (6.0 - 2.0)
    diff = with_term.loss(model, guide, x, y, 100, progress=3.0)[0] - without.loss(model, guide, x, y, 100, 3.0)[0]
    assert torch.allclose(diff, lam * h / 100, atol=1e-7), (diff, lam * h / 100)
    before = with_term.loss(model, guide, x, y, 100, progress=1.0)[0] - without.loss(model, guide, x, y, 100, 1.0)[0]
    assert abs(before.item()) < 1e-6  # 0 before the ramp starts
