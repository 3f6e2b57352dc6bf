"""Power iteration runs to a relative tolerance with a cap, and says when it did not converge: checked against
torch.linalg.eigvalsh of the full Hessian of small problems whose two largest eigenvalues are close."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from pyronas.analysis.hessian import dominant_eigenvalue, power_iteration
from pyronas.callbacks.hessian import HessianTracker


def _close_pair(seed: int = 0) -> torch.Tensor:
    """Symmetric 8x8 Hessian whose dominant eigenvalues 89.2 and 84.0 are close (ratio 0.94)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor([89.2, 84.0, 40.0, 10.0, 3.0, 1.0, -2.0, -5.0], dtype=torch.float64)) @ q.T


def test_default_converges_to_the_exact_eigenvalue_where_20_products_do_not():
    a = _close_pair()
    exact = float(torch.linalg.eigvalsh(a)[-1])
    p = nn.Parameter(torch.randn(8, dtype=torch.float64))

    def loss():
        return 0.5 * p @ a @ p

    result = power_iteration(loss, [p])
    assert result.converged and 20 < result.iterations < 200
    assert result.value == pytest.approx(exact, rel=1e-4)
    assert dominant_eigenvalue(loss, [p]) == result.value
    twenty = power_iteration(loss, [p], iters=20)  # the old fixed count
    assert not twenty.converged and abs(twenty.value - exact) > 1e-3 * exact


def test_small_tanh_net_against_the_full_hessian():
    torch.manual_seed(3)
    x, y = torch.randn(64, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
    w1 = nn.Parameter(torch.randn(4, 6, dtype=torch.float64))
    w2 = nn.Parameter(torch.randn(6, 3, dtype=torch.float64))

    def loss_of(a, b):
        return nn.functional.cross_entropy(torch.tanh(x @ a) @ b, y)

    h = torch.autograd.functional.hessian(loss_of, (w1.detach(), w2.detach()))
    n1, n2 = w1.numel(), w2.numel()
    full = torch.cat([torch.cat([h[0][0].reshape(n1, n1), h[0][1].reshape(n1, n2)], 1),
                      torch.cat([h[1][0].reshape(n2, n1), h[1][1].reshape(n2, n2)], 1)], 0)
    ev = torch.linalg.eigvalsh(full)
    exact = float(ev[ev.abs().argmax()])
    result = power_iteration(lambda: loss_of(w1, w2), [w1, w2])
    assert result.converged
    assert result.value == pytest.approx(exact, rel=1e-3)


def test_not_converging_is_reported_in_the_value_and_the_log(caplog):
    a = _close_pair()
    p = nn.Parameter(torch.randn(8, dtype=torch.float64))
    with caplog.at_level(logging.WARNING, logger="pyronas.analysis.hessian"):
        result = power_iteration(lambda: 0.5 * p @ a @ p, [p], iters=5)
    assert not result.converged and result.iterations == 5 and result.residual > 1e-3
    assert "did not converge in 5 Hessian-vector products" in caplog.text


class _Split(SimpleNamespace):
    def __len__(self) -> int:
        return 4


def test_callback_writes_the_convergence_into_the_metrics_row():
    a = _close_pair()
    p = nn.Parameter(torch.randn(8, dtype=torch.float64))
    search = SimpleNamespace(
        cfg=SimpleNamespace(data=SimpleNamespace(eval_batch_size=4), search=SimpleNamespace(epochs=3)),
        epoch=0, row={}, guide=SimpleNamespace(supports_second_order=True),
        loss=lambda x, y, n, progress: (0.5 * p @ a @ p,), arch_parameters=lambda: [p],
    )
    search.arch_data = _Split(x=torch.zeros(4), y=torch.zeros(4))
    HessianTracker(iters=5).on_epoch_end(search, 0)
    assert search.row["hessian_converged"] is False and search.row["hessian_iters"] == 5
    HessianTracker().on_epoch_end(search, 0)
    assert search.row["hessian_converged"] is True
    assert search.row["hessian_eig"] == pytest.approx(89.2, rel=1e-4)
