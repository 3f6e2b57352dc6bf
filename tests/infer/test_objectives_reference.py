"""``Schedule`` (the lambda_t(epoch) of the search objective) against its closed form, VINNAS Algorithm 1 line 19:
0 before ``start``, linear up to ``value`` at ``end``, ``value`` after; a step at ``start`` without ``end``."""

from __future__ import annotations

import pytest

from pyronas.infer.objectives import Schedule


@pytest.mark.parametrize("progress", [0.0, 0.99, 1.0, 1.5, 2.0, 2.75, 3.0, 7.0])
def test_linear_ramp(progress):
    want = 0.0 if progress < 1.0 else 2.0 * min(1.0, (progress - 1.0) / 2.0)
    assert Schedule(value=2.0, start=1.0, end=3.0)(progress) == pytest.approx(want, abs=1e-15)


def test_step_without_end_and_constant_by_default():
    step = Schedule(value=0.5, start=2.0)
    assert [step(p) for p in (1.9, 2.0, 9.0)] == [0.0, 0.5, 0.5]
    assert Schedule(value=0.3)(0.0) == 0.3
