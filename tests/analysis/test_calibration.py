"""A guide's calibration against a NUTS reference, on a conjugate Gaussian problem whose posterior is known."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyronas.analysis.calibration import calibration_metrics, check_guide, energy_distance, verdict
from pyronas.infer.program import SupernetModel
from pyronas.models.gaussian import GaussianPrior

DELTA, S, M = 1.0, 0.3, 6


def conjugate_problem():
    """α ~ N(0, 1/δ) on 2 edges × 3 ops, y_i | α ~ N(α, s²), i = 1..m: posterior N(mean, sd²) per entry."""
    torch.manual_seed(0)
    shapes = SimpleNamespace(arch_shapes=lambda: {"cell": (2, 3)})
    prior = SupernetModel(shapes, GaussianPrior(shapes, DELTA)).prior
    y = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.2, -0.3]]) + S * torch.randn(M, 2, 3)

    def log_likelihood(alpha):
        return dist.Normal(alpha["cell"], S).log_prob(y).sum()

    precision = DELTA + M / S**2
    return prior, log_likelihood, (y.sum(0) / S**2) / precision, 1 / math.sqrt(precision)


def gaussian_guide(loc, scale):
    def guide():
        pyro.sample("alpha/cell", dist.Normal(loc, scale).to_event(2))

    return guide


@pytest.mark.usefixtures("one_thread")
def test_nuts_and_a_correct_guide_match_the_closed_form_an_overconfident_guide_is_too_narrow(tmp_path):
    prior, loglik, mean, sd = conjugate_problem()
    # 4 × 100 draws keep the test short; Stan's 1.01 / 400 needs longer chains, so the verdict is read at 1.05 / 100
    kw = dict(num_chains=4, warmup_steps=100, num_samples=100, chain_dir=tmp_path, q_samples=300, rhat_max=1.05,
              ess_min=100)
    good = check_guide("exact", prior, loglik, gaussian_guide(mean, sd), **kw)
    draws = good.nuts.alpha["cell"].flatten(0, 1)
    assert good.max_rhat <= 1.05 and min(good.min_ess_bulk, good.min_ess_tail) >= 100 and good.divergences == 0
    assert (draws.mean(0) - mean).abs().max() < 4 * sd / math.sqrt(100)
    assert draws.std(0).div(sd).sub(1).abs().max() < 0.2
    cal = good.calibration
    assert good.verdict.startswith("q(α) agrees with the reference"), good.verdict
    assert 0.85 < cal.sd_ratio < 1.15 and 0.85 < cal.coverage_90 < 0.95 and cal.argmax_agreement == 1
    assert cal.khat < 0.5  # q is the target itself: log w is constant up to float error

    # the same chains, read back from chain_dir (no new sampling), against q with a quarter of the sd
    narrow = check_guide("narrow", prior, loglik, gaussian_guide(mean, sd / 4), **kw)
    assert torch.equal(narrow.nuts.alpha["cell"], good.nuts.alpha["cell"])
    assert narrow.verdict.startswith("q(α) is 4."), narrow.verdict  # 1 / sd ratio ≈ 4
    assert "too narrow" in narrow.verdict
    # k̂: the importance weights p/q of a too narrow q are heavy-tailed (Yao et al. 2018)
    assert narrow.calibration.coverage_90 < 0.45 and narrow.calibration.khat > max(0.5, cal.khat + 0.3)
    assert narrow.calibration.energy_distance > cal.energy_distance


def test_verdict_names_what_is_wrong():
    ok = calibration_metrics("q", *np.random.default_rng(0).dirichlet([5, 2, 1], size=(2, 500, 2)))
    assert verdict(ok, 1.2, 900, 0).startswith("the reference did not converge: max R-hat 1.200 > 1.01")
    assert "min ESS 50 < 400" in verdict(ok, 1.0, 50, 0) and "3 divergent" in verdict(ok, 1.0, 500, 3)
    point = calibration_metrics("delta", ok_draws := np.random.default_rng(1).dirichlet([5, 2, 1], (300, 2)),
                                np.repeat(ok_draws.mean(0, keepdims=True), 10, 0))
    assert point.point_mass and math.isnan(point.khat)
    assert verdict(point, 1.0, 500, 0).startswith("q(α) is a point mass")
    wide = calibration_metrics("wide", ok_draws, np.random.default_rng(2).dirichlet([1.2, 1, 1], (300, 2)))
    assert "too wide" in verdict(wide, 1.0, 500, 0)


def test_energy_distance_is_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    assert abs(energy_distance(x, y)) < 0.05
    assert energy_distance(x, y + 1.0) > 0.5 > energy_distance(x, y + 0.3)
