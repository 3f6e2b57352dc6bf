"""``SmoothedCategorical`` against PyTorch's label-smoothed cross-entropy (Szegedy et al. 2016, Section 7);
``LogUniform`` and ``log_lambda`` at their edges.

torch's ``F.cross_entropy(..., label_smoothing=eps)`` mixes the one-hot target with the uniform distribution,
``q = (1 - eps) onehot(y) + eps / K``, an implementation independent of pyronas; ``log_prob`` must be its negative,
element by element, for any batch shape, after ``expand`` too, with ``eps = 0.1`` by default.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pyronas.distributions import LogUniform, SmoothedCategorical, log_lambda


def _minus_smoothed_ce(logits: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), label_smoothing=eps, reduction="none")
    return -flat.reshape(y.shape)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
def test_log_prob_is_minus_label_smoothed_cross_entropy(eps):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4, 6, 7, generator=g, dtype=torch.float64)
    y = torch.randint(7, (4, 6), generator=g)
    d = SmoothedCategorical(logits, epsilon=eps)
    assert d.epsilon == eps
    assert torch.allclose(d.log_prob(y), _minus_smoothed_ce(logits, y, eps), rtol=1e-12, atol=1e-12)
    assert torch.allclose(d.log_prob(y.double()), d.log_prob(y))  # values arrive as floats from Pyro's plates


def test_default_epsilon_and_expand_keep_the_smoothing():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.randint(3, (2, 5), generator=g)
    d = SmoothedCategorical(logits)
    assert d.epsilon == 0.1
    e = SmoothedCategorical(logits, epsilon=0.25).expand(torch.Size([2, 5]))
    assert isinstance(e, SmoothedCategorical) and e.epsilon == 0.25 and e.batch_shape == (2, 5)
    assert torch.allclose(e.log_prob(y), _minus_smoothed_ce(logits.expand(2, 5, 3), y, 0.25), rtol=1e-12)
    assert torch.allclose(d.log_prob(y[0]), _minus_smoothed_ce(logits, y[0], 0.1), rtol=1e-12)


def test_log_uniform_shapes_validation_flag_and_refusal_to_sample():
    """p(w) ∝ 1/|w| shaped like its parameter: a scalar value broadcasts to the batch; ``validate_args`` is kept
    (also by ``expand``); sampling an improper prior is refused with a message naming it."""
    p = LogUniform((3, 4))
    lp = p.log_prob(torch.tensor(2.0))
    assert lp.shape == (3, 4) and torch.allclose(lp, torch.full((3, 4), -math.log(2.0)))
    e = p.expand((5, 3, 4))
    assert e.batch_shape == (5, 3, 4) and e.event_shape == torch.Size()
    assert LogUniform((2,), validate_args=False)._validate_args is False  # not the global Pyro default (True here)
    assert LogUniform((2,), validate_args=True).expand((4, 2))._validate_args is True
    with pytest.raises(NotImplementedError, match=r"^LogUniform is improper and does not support sampling$"):
        p.sample()


def test_log_lambda_is_finite_at_zero_mean():
    """log λ = log σ² − log(μ² + eps): a weight with μ = 0 has log λ = 2 log σ − log eps, not NaN."""
    got = log_lambda(torch.tensor([0.0, 0.5], dtype=torch.float64), torch.tensor([2.0, 0.1], dtype=torch.float64))
    want = torch.tensor([2 * math.log(2.0) - math.log(1e-16), 2 * math.log(0.1) - math.log(0.25)], dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-12)


def test_smoothed_categorical_passes_its_validation_flag_on():
    """``validate_args`` reaches torch's ``Distribution``, whatever the global default: on, NaN logits are
    refused at construction; off, they are not checked."""
    logits = torch.tensor([0.0, float("nan"), 1.0])
    previous = torch.distributions.Distribution._validate_args
    try:
        torch.distributions.Distribution.set_default_validate_args(True)
        SmoothedCategorical(logits, validate_args=False)
        torch.distributions.Distribution.set_default_validate_args(False)
        with pytest.raises(ValueError, match="logits"):
            SmoothedCategorical(logits, validate_args=True)
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)


@pytest.mark.parametrize("make", [lambda: SmoothedCategorical(torch.zeros(3)), lambda: LogUniform(())])
def test_expand_fills_the_instance_it_is_given(make):
    """torch's ``expand`` protocol: a subclass passes its own ``_instance`` to be filled and returned."""
    d = make()
    inst = type(d).__new__(type(d))
    out = d.expand((4,), _instance=inst)
    assert out is inst and out.batch_shape == (4,)


def test_kl_of_a_normal_from_the_log_uniform_has_the_broadcast_batch_shape():
    """``kl_divergence(Normal, LogUniform)`` is Molchanov's KL per element, with the batch shape of both
    distributions broadcast: the prior's batch may be larger than the posterior's, or smaller."""
    from pyro.distributions import Normal
    from torch.distributions import kl_divergence

    from pyronas.distributions import molchanov_kl

    loc, scale = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.1, 0.7, 3.0])
    per_element = molchanov_kl(log_lambda(loc, scale))
    wide_prior = kl_divergence(Normal(loc, scale), LogUniform((2, 3)))
    assert wide_prior.shape == (2, 3)
    torch.testing.assert_close(wide_prior, per_element.expand(2, 3))
    wide_posterior = kl_divergence(Normal(loc.expand(4, 3), scale.expand(4, 3)), LogUniform((3,)))
    assert wide_posterior.shape == (4, 3)
    torch.testing.assert_close(wide_posterior, per_element.expand(4, 3))
