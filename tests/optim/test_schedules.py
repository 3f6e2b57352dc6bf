"""The one cosine schedule and the one linear ramp, against closed forms and their callers' defaults."""

import math

import pytest

from pyronas.config import OptimConfig
from pyronas.infer.objectives import Schedule
from pyronas.optim.factory import lr_at
from pyronas.optim.schedules import linear_ramp
from pyronas.train.bayesian import BayesianSection, gamma_schedule


@pytest.mark.parametrize("t", [0, 1, 7, 10])
def test_search_lr_is_the_cosine_closed_form(t):
    cfg = OptimConfig(lr=0.1, lr_min=0.01, schedule="cosine")
    assert lr_at(cfg, t, 10) == pytest.approx(0.01 + 0.045 * (1 + math.cos(math.pi * t / 10)))
    assert lr_at(OptimConfig(lr=0.1, schedule="constant"), t, 10) == 0.1


def test_ramp_shape():
    assert linear_ramp(1.0, 2.0, start=2.0, end=6.0) == 0.0
    assert linear_ramp(3.0, 2.0, start=2.0, end=6.0) == pytest.approx(0.5)
    assert linear_ramp(9.0, 2.0, start=2.0, end=6.0) == 2.0
    assert linear_ramp(2.0, 2.0, start=2.0) == 2.0  # no end: a step at start


def test_objective_and_retraining_ramps_differ_only_in_the_default_end():
    # objective Schedule: no end = a step at start; gamma_schedule: no end = the last epoch
    assert Schedule(1.0, start=10.0)(11.0) == 1.0
    assert gamma_schedule(55.0, BayesianSection(gamma=1.0, start_epoch=10.0), 100) == pytest.approx(0.5)
    sec = BayesianSection(gamma=3.0, start_epoch=5.0, end_epoch=25.0)
    for p, expected in [(0.0, 0.0), (5.0, 0.0), (12.5, 3.0 * 7.5 / 20), (25.0, 3.0), (40.0, 3.0)]:
        assert gamma_schedule(p, sec, 100) == pytest.approx(expected)
        assert Schedule(3.0, 5.0, 25.0)(p) == pytest.approx(expected)
