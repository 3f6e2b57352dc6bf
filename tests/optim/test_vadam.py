"""VAdam (BaLeNAS eqs. 13-18): hand-computed steps and convergence to a conjugate posterior."""

from __future__ import annotations

import math

import pytest
import torch

from pyronas.optim.vadam import VAdam, hessian_diagonal, sigma_from


def test_default_variant_matches_eqs_17_18_two_steps():
    """Gradient-magnitude VAdam with momentum, two steps, checked coordinate by coordinate."""
    lr, gamma, delta, n, s0 = 0.1, 0.5, 2.0, 4, 1.0
    dt = delta / n  # δ̃ = 0.5
    mu = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = VAdam([mu], lr=lr, momentum=gamma, prior_precision=delta, num_data=n, init_s=s0)
    # σ_0 = 1/sqrt(N (s_0 + δ̃)) = 1/sqrt(4 * 1.5)
    assert torch.allclose(opt.sigma(mu), torch.full((2,), 1 / math.sqrt(6.0), dtype=torch.float64))

    g1, g2 = [0.4, -0.2], [-0.3, 0.5]
    mu.grad = torch.tensor(g1, dtype=torch.float64)
    opt.step()
    # by hand, coordinate 0: s1 = 0.9 + 0.1 * 0.16 = 0.916; μ1 = 1 - 0.1 (0.4 + 0.5) / 1.416
    assert mu[0].item() == pytest.approx(0.9364406779661, abs=1e-12)
    mu0 = [1.0, -2.0]
    s1 = [(1 - lr) * s0 + lr * g * g for g in g1]
    mu1 = [m - lr * (g + dt * m) / (s + dt) for m, g, s in zip(mu0, g1, s1, strict=True)]
    assert mu.tolist() == pytest.approx(mu1, abs=1e-12)
    assert opt.state[mu]["s"].tolist() == pytest.approx(s1, abs=1e-12)

    mu.grad = torch.tensor(g2, dtype=torch.float64)
    opt.step()
    s2 = [(1 - lr) * s + lr * g * g for s, g in zip(s1, g2, strict=True)]
    mu2 = [
        m1 - lr * (g + dt * m1) / (sn + dt) + gamma * (so + dt) / (sn + dt) * (m1 - m0)
        for m0, m1, g, so, sn in zip(mu0, mu1, g2, s1, s2, strict=True)
    ]
    assert mu.tolist() == pytest.approx(mu2, abs=1e-12)
    assert opt.sigma(mu).tolist() == pytest.approx([1 / math.sqrt(n * (s + dt)) for s in s2], abs=1e-12)

    g3 = [0.1, 0.3]  # the third step's momentum is γ (μ2 − μ1): the previous mean, not the first
    mu.grad = torch.tensor(g3, dtype=torch.float64)
    assert opt.step() is None  # no closure, no loss
    s3 = [(1 - lr) * s + lr * g * g for s, g in zip(s2, g3, strict=True)]
    mu3 = [
        m2 - lr * (g + dt * m2) / (sn + dt) + gamma * (so + dt) / (sn + dt) * (m2 - m1)
        for m1, m2, g, so, sn in zip(mu1, mu2, g3, s2, s3, strict=True)
    ]
    assert mu.tolist() == pytest.approx(mu3, abs=1e-12)
    assert opt.state[mu]["step"] == 3


def test_closure_mode_differentiates_at_a_sample_from_q():
    """With a closure, ĝ is the gradient at θ = μ + σ ε and μ is restored before the update."""
    mu = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
    opt = VAdam([mu], lr=0.2, prior_precision=1.0, num_data=10, init_s=0.3)
    sigma = opt.sigma(mu).clone()
    torch.manual_seed(3)
    eps = torch.randn(3)
    theta = mu.detach() + sigma * eps
    torch.manual_seed(3)
    loss = opt.step(lambda: 0.5 * (mu**2).sum())  # ĝ(θ) = θ
    assert loss == pytest.approx(0.5 * float((theta**2).sum()), rel=1e-6)
    dt = 0.1
    s1 = 0.8 * 0.3 + 0.2 * theta**2
    expected = torch.tensor([0.5, -1.0, 2.0]) - 0.2 * (theta + dt * torch.tensor([0.5, -1.0, 2.0])) / (s1 + dt)
    assert torch.allclose(mu.detach(), expected, atol=1e-6)


def test_hessian_diagonal_exact_and_hutchinson():
    torch.manual_seed(0)
    a = torch.randn(4, 4, dtype=torch.float64)
    A = a @ a.T + torch.eye(4, dtype=torch.float64)
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(0.5 * x @ A @ x + x.sin().sum(), [x], create_graph=True)
    exact = hessian_diagonal([g], [x])[0]
    assert torch.allclose(exact, A.diagonal() - x.detach().sin(), atol=1e-12)
    est = hessian_diagonal([g], [x], probes=4000)[0]
    assert torch.allclose(est, exact, atol=0.25 * A.abs().max().item())


def test_von_without_momentum_converges_to_conjugate_posterior():
    """Bayesian linear regression with a diagonal design: VON's fixed point is the exact posterior.

    y = X w + ε, ε ~ N(0, 1/λ), p(w) = N(0, I/δ), XᵀX diagonal. Posterior precision λ XᵀX + δ I,
    mean λ (λ XᵀX + δ I)⁻¹ Xᵀ y. VON uses the exact Hessian λ XᵀX / N of the per-datum loss.
    """
    torch.manual_seed(1)
    n, d, lam, delta = 200, 3, 4.0, 10.0
    q, _ = torch.linalg.qr(torch.randn(n, d, dtype=torch.float64))
    X = q * torch.tensor([3.0, 5.0, 8.0], dtype=torch.float64)
    w_true = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    y = X @ w_true + torch.randn(n, dtype=torch.float64) / math.sqrt(lam)
    xtx = (X * X).sum(0)
    post_prec = lam * xtx + delta
    post_mean = lam * (X.T @ y) / post_prec
    ols = (X.T @ y) / xtx
    post_sd = post_prec.rsqrt()
    assert ((post_mean - ols).abs() / post_sd).max() > 1.0  # the prior matters in this example

    mu = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))
    opt = VAdam([mu], lr=0.5, momentum=0.0, prior_precision=delta, num_data=n, init_s=1.0, hessian="von")

    def closure() -> torch.Tensor:  # per-datum data loss ℓ̄/N, no prior
        return 0.5 * lam * ((y - X @ mu) ** 2).mean()

    for _ in range(30):
        opt.step(closure)
    for t in range(1, 3001):  # Robbins-Monro β_t → 0 averages out the sampling noise of θ_t
        opt.param_groups[0]["lr"] = 1.0 / (t + 1)
        opt.step(closure)
    assert torch.allclose(opt.sigma(mu) ** 2, 1 / post_prec, rtol=1e-6)
    assert ((mu.detach() - post_mean).abs() / post_sd).max() < 0.1


def test_von_requires_a_hessian():
    mu = torch.nn.Parameter(torch.zeros(2))
    opt = VAdam([mu], hessian="von")
    mu.grad = torch.ones(2)
    with pytest.raises(ValueError, match=r"^hessian='von' needs a closure or hessian_diag in step\(\)$"):
        opt.step()
    with pytest.raises(ValueError, match=r"^hessian_diag has 2 tensors for 1 parameters$"):
        opt.step(hessian_diag=[torch.ones(2), torch.ones(2)])
    opt.step(hessian_diag=[torch.full((2,), 2.0)])
    assert torch.allclose(opt.state[mu]["s"], torch.full((2,), (1 - 1e-3) + 1e-3 * 2.0))


@pytest.mark.parametrize(
    "kwargs,field",
    [(dict(lr=0.0), "lr"), (dict(momentum=1.0), "momentum"), (dict(prior_precision=0.0), "prior_precision"),
     (dict(hessian="diag"), "hessian"), (dict(num_data=0), "num_data"), (dict(init_s=-0.1), "init_s"),
     (dict(num_samples=0), "num_samples"), (dict(s_rate=0.0), "s_rate"), (dict(s_rate=1.5), "s_rate")],
)
def test_rejects_bad_hyperparameters_naming_them(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field} must"):
        VAdam([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("kwargs", [dict(init_s=0.0), dict(s_rate=1.0), dict(s_rate=0.5), dict(momentum=0.0)])
def test_accepts_boundary_hyperparameters(kwargs):
    VAdam([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_param_group_of_a_foreign_tensor_is_refused():
    opt = VAdam([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(KeyError, match="tensor is not a parameter of this VAdam"):
        opt.sigma(torch.zeros(1))


def test_s_rate_decouples_the_precision_update_from_the_step_size():
    """s_1 = (1 - ρ) s_0 + ρ ĝ² with ρ = s_rate (Khan et al.'s 1 − β₂), not β = lr."""
    mu = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = VAdam([mu], lr=0.1, init_s=0.5, s_rate=0.3)
    mu.grad = torch.tensor([2.0, 1.0])
    opt.step()
    assert torch.allclose(opt.state[mu]["s"], 0.7 * 0.5 + 0.3 * torch.tensor([4.0, 1.0]))


def test_closure_mode_averages_gradient_hessian_and_loss_over_draws():
    """num_samples = 3: ĝ, diag ∇² and the returned loss are means over the three draws θ_k ~ q (same
    generator), for ℓ(θ) = Σ (a θ³/6 + b θ): ĝ = a θ²/2 + b, diag ∇² = a θ (VON)."""
    a, b = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -1.0])
    mu0 = torch.tensor([0.4, -0.3])
    mu = torch.nn.Parameter(mu0.clone())
    opt = VAdam([mu], lr=0.2, prior_precision=2.0, num_data=4, init_s=0.7, hessian="von", num_samples=3)
    sigma = opt.sigma(mu).clone()
    torch.manual_seed(5)
    thetas = [mu0 + sigma * torch.randn(2) for _ in range(3)]
    g = sum(a * t**2 / 2 + b for t in thetas) / 3
    h = sum(a * t for t in thetas) / 3
    loss_ref = sum(float((a * t**3 / 6 + b * t).sum()) for t in thetas) / 3
    torch.manual_seed(5)
    loss = opt.step(lambda: (a * mu**3 / 6 + b * mu).sum())
    assert loss == pytest.approx(loss_ref, rel=1e-6)
    dt = 2.0 / 4
    s1 = 0.8 * 0.7 + 0.2 * h
    assert torch.allclose(opt.state[mu]["s"], s1, atol=1e-6)
    assert torch.allclose(mu.detach(), mu0 - 0.2 * (g + dt * mu0) / (s1 + dt), atol=1e-6)


def test_hessian_diagonal_one_probe_is_hutchinson_and_unused_parameters_are_zero():
    """probes = 1 is one Rademacher z ∘ Hz (not the exact diagonal); a parameter whose gradient does
    not depend on any parameter (it enters linearly) has a zero Hessian diagonal."""
    A = torch.tensor([[2.0, 1.5], [1.5, 3.0]], dtype=torch.float64)
    x = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (gx, gc) = torch.autograd.grad(0.5 * x @ A @ x + c.sum(), [x, c], create_graph=True)
    exact = hessian_diagonal([gx, gc], [x, c])
    assert torch.equal(exact[1], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(exact[0], A.diagonal())
    torch.manual_seed(0)
    z = torch.randint_like(x, 2) * 2 - 1
    torch.manual_seed(0)
    one = hessian_diagonal([gx, gc], [x, c], probes=1)
    assert torch.allclose(one[0], z * (A @ z))  # = diag(A) + off-diagonal terms, not diag(A)
    assert not torch.allclose(one[0], A.diagonal())


def test_sigma_from_is_the_formula_of_vadam_sigma():
    """σ = 1/sqrt(N s + δ) (= 1/sqrt(N (s + δ/N))), as a free function and as the optimizer reads it."""
    mu = torch.nn.Parameter(torch.zeros(3))
    opt = VAdam([mu], prior_precision=3.0, num_data=50, init_s=0.2)
    mu.grad = torch.tensor([0.5, -1.0, 2.0])
    opt.step()
    s = opt.state[mu]["s"]
    assert torch.allclose(sigma_from(s, 3.0, 50), opt.sigma(mu))
    assert float(sigma_from(0.2, 3.0, 50)) == pytest.approx(1 / math.sqrt(50 * 0.2 + 3.0))


def test_von_closure_with_probes_uses_hutchinson():
    """VON with a closure and ``hessian_probes = 1``: h = z ∘ (A z) for the Rademacher z drawn after θ (not the
    exact diagonal of A), on ℓ(θ) = ½ θᵀAθ with a non-diagonal A."""
    A = torch.tensor([[2.0, 1.5], [1.5, 3.0]])
    mu0 = torch.tensor([0.4, -0.3])
    mu = torch.nn.Parameter(mu0.clone())
    opt = VAdam([mu], lr=0.2, num_data=4, init_s=0.7, hessian="von", hessian_probes=1)
    sigma = opt.sigma(mu).clone()
    torch.manual_seed(7)
    theta = mu0 + sigma * torch.randn(2)
    z = torch.randint_like(theta, 2) * 2 - 1
    torch.manual_seed(7)
    opt.step(lambda: 0.5 * mu @ A @ mu)
    h = z * (A @ z)
    assert not torch.allclose(h, A.diagonal())
    assert torch.allclose(opt.state[mu]["s"], 0.8 * 0.7 + 0.2 * h, atol=1e-6)
    dt = 1.0 / 4
    assert torch.allclose(mu.detach(), mu0 - 0.2 * (A @ theta + dt * mu0) / (0.8 * 0.7 + 0.2 * h + dt), atol=1e-6)


def test_closure_mode_uses_a_hessian_diag_it_is_given_and_checks_its_length():
    """``step(closure, hessian_diag=H)``: the gradient comes from the closure's draws, the precision update from
    H, s_1 = (1 − β_s) s_0 + β_s H (eq. 14); an H of the wrong length is refused."""
    torch.manual_seed(0)
    mu = torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=torch.float64))
    opt = VAdam([mu], lr=0.1, momentum=0.0, prior_precision=1.0, num_data=10, init_s=0.5, hessian="von")
    closure = lambda: ((mu - 1.0) ** 2).sum()  # noqa: E731
    H = torch.tensor([3.0, 7.0], dtype=torch.float64)
    loss = opt.step(closure, hessian_diag=[H])
    assert isinstance(loss, float) and loss > 0
    torch.testing.assert_close(opt.state[mu]["s"], 0.9 * 0.5 + 0.1 * H)
    with pytest.raises(ValueError):
        opt.step(closure, hessian_diag=[H, H])


def test_a_parameter_without_gradient_is_skipped_and_the_next_one_updated():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.ones(2))
    opt = VAdam([a, b], lr=0.1)
    b.grad = torch.ones(2)
    opt.step()
    assert torch.equal(a.detach(), torch.zeros(2)) and a not in opt.state
    assert (b.detach() < 1.0).all()
