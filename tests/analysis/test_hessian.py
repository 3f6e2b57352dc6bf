"""Power iteration on Hessian-vector products vs. closed forms and explicit Hessians."""

from __future__ import annotations

import torch
import torch.nn as nn

from pyronas.analysis.hessian import dominant_eigenvalue


def _quadratic(eigs: list[float], seed: int = 0) -> torch.Tensor:
    """Symmetric A = Q diag(eigs) Qᵀ with a random orthogonal Q."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def test_quadratic_top_eigenvalue_across_two_parameter_tensors():
    eigs = [7.0, 3.0, 1.5, 0.5, -1.0, 0.2]
    a = _quadratic(eigs)
    p1 = nn.Parameter(torch.randn(2, 2, dtype=torch.float64))
    p2 = nn.Parameter(torch.randn(2, dtype=torch.float64))

    def loss():
        theta = torch.cat([p1.reshape(-1), p2])
        return 0.5 * theta @ a @ theta + theta.sum()  # a linear term does not change the Hessian

    lam = dominant_eigenvalue(loss, [p1, p2], iters=300, tol=1e-10)
    assert abs(lam - 7.0) < 1e-4


def test_negative_dominant_eigenvalue_keeps_its_sign():
    a = _quadratic([-6.0, 2.0, 1.0, 0.5])
    p = nn.Parameter(torch.randn(4, dtype=torch.float64))
    lam = dominant_eigenvalue(lambda: 0.5 * p @ a @ p, [p], iters=300, tol=1e-10)
    assert abs(lam + 6.0) < 1e-4


def test_small_net_matches_autograd_functional_hessian():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, dtype=torch.float64), torch.randint(0, 4, (32,))
    w1 = nn.Parameter(0.8 * torch.randn(3, 5, dtype=torch.float64))
    w2 = nn.Parameter(0.8 * torch.randn(5, 4, dtype=torch.float64))

    def loss_of(a, b):
        return nn.functional.cross_entropy(torch.tanh(x @ a) @ b, y)

    h = torch.autograd.functional.hessian(loss_of, (w1.detach(), w2.detach()))
    n1, n2 = w1.numel(), w2.numel()
    full = torch.cat(
        [
            torch.cat([h[0][0].reshape(n1, n1), h[0][1].reshape(n1, n2)], 1),
            torch.cat([h[1][0].reshape(n2, n1), h[1][1].reshape(n2, n2)], 1),
        ],
        0,
    )
    ev = torch.linalg.eigvalsh(full)
    expected = float(ev[ev.abs().argmax()])
    lam = dominant_eigenvalue(lambda: loss_of(w1, w2), [w1, w2], iters=500, tol=1e-7)
    assert abs(lam - expected) < 1e-3 * abs(expected)
    # the default (relative residual 1e-3, cap 200) is within 0.1% here
    assert abs(dominant_eigenvalue(lambda: loss_of(w1, w2), [w1, w2]) - expected) < 1e-3 * abs(expected)


def test_does_not_perturb_the_callers_random_stream():
    p = nn.Parameter(torch.randn(3))

    def noisy_loss():
        return (p**2 * torch.rand(3)).sum()

    torch.manual_seed(1)
    expected = torch.rand(5)
    torch.manual_seed(1)
    lam = dominant_eigenvalue(noisy_loss, [p])
    assert torch.equal(torch.rand(5), expected)
    assert lam > 0
