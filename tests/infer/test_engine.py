"""BilevelSVI against independent references: step order, DARTS' 2nd-order gradient, shared draws."""

from __future__ import annotations

import pyro
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from pyronas.config import load_config
from pyronas.infer.engine import BilevelSVI, NonFiniteLossError
from pyronas.infer.objectives import Objective, Schedule, TermSpec, register_term
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet
from pyronas.registry import build
from pyronas.runtime import Runtime

N_W, N_A = 500, 400


def _program(guide: str = "delta", prior: str = "flat", dtype=torch.float64):
    torch.manual_seed(0)
    net = Supernet(SPACES["nb201"], 2, 1, 1, 3).to(dtype)
    model = SupernetModel(net, build("models", prior, {}, net, where="model"))
    params = {"init_scale": 0.5} if guide in ("delta", "mean_field") else {}
    g = build("guides", guide, params, model, where="guide").to(dtype)
    return net, model, g


def _batches(dtype=torch.float64):
    gen = torch.Generator().manual_seed(1)
    xw, xa = (torch.randn(6, 1, 6, 6, generator=gen, dtype=dtype) for _ in range(2))
    yw, ya = (torch.randint(0, 3, (6,), generator=gen) for _ in range(2))
    return (xw, yw), (xa, ya)


def _svi(net, model, guide, *, order=1, arch_first=False, lr_w=0.5, momentum=0.0, wd=0.0, lr_a=1.0, fd_scale=0.01):
    opt_w = torch.optim.SGD(net.parameters(), lr=lr_w, momentum=momentum, weight_decay=wd)
    opt_a = torch.optim.SGD(guide.arch_parameters(), lr=lr_a)
    return BilevelSVI(model, guide, Objective(pyro.infer.Trace_ELBO()), opt_w, opt_a,
                      weight_size=N_W, arch_size=N_A, order=order, arch_first=arch_first, fd_scale=fd_scale)


def _ce(net, w: dict, alpha: torch.Tensor, batch) -> torch.Tensor:
    """DARTS' loss (= the Pyro program's -ELBO/N for flat prior + point-mass guide)."""
    x, y = batch
    return F.cross_entropy(functional_call(net, w, (x, {"cell": F.softmax(alpha, -1)})), y)


def _weights(net) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in net.named_parameters()}


# --- step order (DARTS Alg. 1 / DrNAS / BaLeNAS: α first; VINNAS / VIM-NAS: w first) ---------------
@pytest.mark.parametrize("arch_first", [True, False])
def test_arch_step_sees_the_weights_of_its_place_in_the_order(arch_first):
    net, model, guide = _program()
    svi = _svi(net, model, guide, arch_first=arch_first)
    wb, ab = _batches()
    alpha0, w0 = guide.alpha["cell"].detach().clone(), _weights(net)
    # reference by hand (plain SGD, lr 0.5 for w and 1 for α): each step at the state its place leaves

    def alpha_grad(w):
        a = alpha0.clone().requires_grad_()
        return torch.autograd.grad(_ce(net, w, a, ab), [a])[0]

    def weight_update(alpha):
        w = {n: t.clone().requires_grad_() for n, t in w0.items()}
        gw = torch.autograd.grad(_ce(net, w, alpha, wb), list(w.values()), allow_unused=True)
        return {n: (t - 0.5 * g if g is not None else t).detach() for (n, t), g in zip(w.items(), gw, strict=True)}

    if arch_first:  # α step at (w_t, α_t), then the w step at α_{t+1}
        ga = alpha_grad(w0)
        w1 = weight_update(alpha0 - ga)
    else:  # w step at α_t, then the α step at w_{t+1}
        w1 = weight_update(alpha0)
        ga = alpha_grad(w1)

    svi.step(wb, ab)
    torch.testing.assert_close(guide.alpha["cell"].detach(), alpha0 - ga, rtol=1e-9, atol=1e-12)
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), w1[n], rtol=1e-9, atol=1e-12)


def test_second_order_with_arch_first_unrolls_from_the_weights_before_their_step():
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=2, arch_first=True)
    wb, ab = _batches()
    alpha0 = guide.alpha["cell"].detach().clone()
    _, (g_t,), _ = svi.arch_gradients(ab, wb)  # at w_t; restores w_t exactly
    svi.step(wb, ab)  # α step (lr 1) first, then the w step
    torch.testing.assert_close(guide.alpha["cell"].detach(), alpha0 - g_t, rtol=1e-9, atol=1e-12)


def test_method_configs_set_their_papers_step_order():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    for path in sorted(root.glob("*.yaml")):
        name = path.name
        if name.startswith(("darts_", "drnas_", "balenas_")):
            assert load_config(path).search.arch_first is True, name
        elif name.startswith(("vinnas_", "vimnas_")):
            assert load_config(path).search.arch_first is False, name


# --- one draw of the guide per iteration (VIM-NAS Alg. 1 line 3) ---------------------------------
def test_vim_guide_shares_one_draw_between_the_two_steps():
    net, model, guide = _program("vim", dtype=torch.float32)
    assert guide.shared_draw
    opt_w = torch.optim.SGD(net.parameters(), lr=0.1)
    opt_a = torch.optim.Adam(guide.arch_parameters(), lr=0.1)
    svi = BilevelSVI(model, guide, Objective(pyro.infer.Trace_ELBO()), opt_w, opt_a,
                     weight_size=N_W, arch_size=N_A, arch_first=False)
    wb, ab = _batches(torch.float32)
    first = []
    for _ in range(2):
        r = svi.step(wb, ab)
        a_w, a_a = r.samples["weights"]["alpha/cell"][0], r.samples["arch"]["alpha/cell"][0]
        assert torch.equal(a_w, a_a)  # φ does not move between the two steps: the very same A
        first.append(a_w.detach().clone())
    assert not torch.equal(first[0], first[1])  # a fresh draw in the next iteration


def test_vim_shared_noise_with_arch_first_is_the_same_xi():
    net, model, guide = _program("vim", dtype=torch.float32)
    opt_w = torch.optim.SGD(net.parameters(), lr=0.1)
    opt_a = torch.optim.SGD(guide.arch_parameters(), lr=0.5)
    svi = BilevelSVI(model, guide, Objective(pyro.infer.Trace_ELBO()), opt_w, opt_a,
                     weight_size=N_W, arch_size=N_A, arch_first=True)
    wb, ab = _batches(torch.float32)
    mu_before = guide.mu("cell").detach().clone()
    r = svi.step(wb, ab)
    mu_after = guide.mu("cell").detach().clone()
    assert not torch.equal(mu_before, mu_after)
    xi_arch = r.samples["arch"]["alpha/cell"][0].detach() - mu_before  # drawn before φ moved
    xi_weights = r.samples["weights"]["alpha/cell"][0].detach() - mu_after
    torch.testing.assert_close(xi_arch, xi_weights)


def test_guides_without_shared_draw_draw_twice():
    net, model, guide = _program("mean_field", prior="gaussian", dtype=torch.float32)
    assert not guide.shared_draw
    opt_w = torch.optim.SGD(list(net.parameters()) + guide.weight_parameters(), lr=0.0)
    opt_a = torch.optim.SGD(guide.arch_parameters(), lr=0.0)  # nothing moves: only the draws can differ
    svi = BilevelSVI(model, guide, Objective(pyro.infer.Trace_ELBO()), opt_w, opt_a, weight_size=N_W, arch_size=N_A)
    r = svi.step(*_batches(torch.float32))
    assert not torch.equal(r.samples["weights"]["alpha/cell"][0], r.samples["arch"]["alpha/cell"][0])


# --- DARTS' 2nd-order gradient (eq. 7-8) against autograd through the explicit unroll -------------
def _half_sq_norm(w: dict[str, torch.Tensor]) -> torch.Tensor:
    return 0.5 * sum((t**2).sum() for t in w.values())


def _unrolled_loss(net, w0, alpha, wb, ab, xi, momentum=0.0, wd=0.0, buf=None, l2=0.0):
    """L_val(w', α) + l2·½‖w'‖², w' = w − ξ (∇_w [L_train(w, α) + l2·½‖w‖²] + λ w + μ b), differentiable in α
    (create_graph=True); ``l2`` is an extra term of the weights in both losses, λ the optimizer's decay."""
    w = {n: t.clone().requires_grad_() for n, t in w0.items()}
    train = _ce(net, w, alpha, wb) + (l2 * _half_sq_norm(w) if l2 else 0.0)
    g = torch.autograd.grad(train, list(w.values()), create_graph=True, allow_unused=True)
    w1 = {}
    for (n, t), gi in zip(w.items(), g, strict=True):
        if gi is None:
            w1[n] = t
            continue
        step = gi + wd * t + (momentum * buf[n] if buf is not None and buf.get(n) is not None else 0.0)
        w1[n] = t - xi * step
    return _ce(net, w1, alpha, ab) + (l2 * _half_sq_norm(w1) if l2 else 0.0)


@pytest.mark.parametrize("momentum,wd,warm", [(0.0, 0.0, False), (0.9, 3e-2, True), (0.9, 0.0, False)])
def test_second_order_gradient_matches_autograd_and_finite_differences_of_the_unroll(momentum, wd, warm):
    """``warm``: a weight step first, so the virtual step has a momentum buffer to unroll with; without one
    (SGD's first step) momentum adds nothing."""
    net, model, guide = _program()
    xi = 0.5
    # ε of the finite-difference Hessian-vector product: DARTS' 0.01/‖v‖ crosses ReLU kinks of this tiny
    # network (an O(1) error that has nothing to do with eq. 7-8), so the formula is checked with a smaller ε
    svi = _svi(net, model, guide, order=2, lr_w=xi, momentum=momentum, wd=wd, fd_scale=1e-4)
    wb, ab = _batches()
    buf = None
    if warm:
        svi.weight_step(wb)  # a momentum buffer to unroll with
        buf = {n: svi.weight_optim.state[p].get("momentum_buffer") for n, p in net.named_parameters()
               if p in svi.weight_optim.state}
    w0, alpha0 = _weights(net), guide.alpha["cell"].detach().clone()

    a = alpha0.clone().requires_grad_()
    (ref,) = torch.autograd.grad(_unrolled_loss(net, w0, a, wb, ab, xi, momentum, wd, buf), [a])
    h = 1e-5  # central finite differences of the unrolled loss along random directions d: ∇U·d
    gen = torch.Generator().manual_seed(2)
    for _ in range(2):
        d = torch.randn(alpha0.shape, generator=gen, dtype=alpha0.dtype)
        with torch.enable_grad():
            up = _unrolled_loss(net, w0, alpha0 + h * d, wb, ab, xi, momentum, wd, buf).item()
            down = _unrolled_loss(net, w0, alpha0 - h * d, wb, ab, xi, momentum, wd, buf).item()
        assert (up - down) / (2 * h) == pytest.approx(float((ref * d).sum()), rel=1e-5, abs=1e-9)

    _, (got,), _ = svi.arch_gradients(ab, wb)
    torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-7)
    for n, p in net.named_parameters():  # the weights are restored exactly
        assert torch.equal(p.detach(), w0[n])
    # the correction term -ξ ∇²_{α,w} L_train ∇_w' L_val is large here, so a sign error cannot pass
    w = {n: t.clone().requires_grad_() for n, t in w0.items()}
    g = torch.autograd.grad(_ce(net, w, alpha0, wb), list(w.values()), allow_unused=True)
    w1 = {}
    for (n, t), gi in zip(w.items(), g, strict=True):
        step = 0.0 if gi is None else gi + wd * t + (momentum * buf[n] if buf else 0.0)
        w1[n] = (t - xi * step).detach()
    a = alpha0.clone().requires_grad_()
    (no_correction,) = torch.autograd.grad(_ce(net, w1, a, ab), [a])
    assert (ref - no_correction).abs().max() > 100 * (1e-3 * ref.abs().max() + 1e-7)


@pytest.mark.parametrize("order", [1, 2])
def test_architecture_gradient_sees_the_schedules_at_this_progress(order):
    """A scheduled α-only term (``l2_anchor`` ½‖α‖², weight ramped 0 → 2 over progress [0, 1]) is evaluated at
    the step's progress by both architecture gradients: g(p) − g(0) = λ(p) α exactly (its w-gradient is 0, so the
    unrolled part of order 2 is unchanged), with λ(0.5) = 1."""
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=order, fd_scale=1e-4)
    svi.objective = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(2.0, 0.0, 1.0))])
    wb, ab = _batches()
    alpha = guide.alpha["cell"].detach().clone()
    if order == 2:
        _, (g0,), _ = svi.unrolled_gradients(ab, wb)  # progress left at its default, 0
    else:
        _, (g0,), _ = svi.arch_gradients(ab, wb)
    _, (g_half,), _ = svi.arch_gradients(ab, wb, progress=0.5)
    torch.testing.assert_close(g_half - g0, 1.0 * alpha, rtol=1e-6, atol=1e-9)


@register_term("test_weight_l2")
def _weight_l2(ctx) -> torch.Tensor:
    """½‖w‖² over the supernet's weights: a scheduled term of the *weights* (test only)."""
    return _half_sq_norm(dict(ctx.model.supernet.named_parameters()))


def test_second_order_gradient_unrolls_the_scheduled_weight_terms_at_this_progress():
    """A scheduled w-only term λ(p)·½‖w‖² (λ ramped 0 → 2 over progress [0, 1], λ(0.5) = 1) enters DARTS' unroll
    twice: the virtual step w' = w − ξ(∇_w L_train + λ w), and L_val(w') + λ·½‖w'‖². The order-2 gradient at
    progress 0.5 equals autograd through that unroll written out, and differs from the unroll without the term
    (what a progress of 0 in any of the three train-loss evaluations or in the validation loss would give)."""
    net, model, guide = _program()
    xi, lam = 0.5, 1.0
    svi = _svi(net, model, guide, order=2, lr_w=xi, fd_scale=1e-4)
    svi.objective = Objective(pyro.infer.Trace_ELBO(), [TermSpec("test_weight_l2", Schedule(2.0, 0.0, 1.0))])
    wb, ab = _batches()
    w0, alpha0 = _weights(net), guide.alpha["cell"].detach().clone()
    a = alpha0.clone().requires_grad_()
    (ref,) = torch.autograd.grad(_unrolled_loss(net, w0, a, wb, ab, xi, l2=lam), [a])
    (without,) = torch.autograd.grad(_unrolled_loss(net, w0, a, wb, ab, xi), [a])
    assert (ref - without).abs().max() > 100 * (1e-3 * ref.abs().max() + 1e-7)

    _, (got,), _ = svi.arch_gradients(ab, wb, progress=0.5)
    torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-7)


# --- what every gradient goes through: clipping, the runtime's levels, checks ----------------------
def _flat(params) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in params])


def test_gradient_clipping_bounds_the_step_of_each_level():
    """With plain SGD (lr 1, no momentum or decay) a step moves the parameters by the clipped gradient, so
    ‖Δw‖ = ``weight_clip`` and ‖Δα‖ = ``arch_clip`` when the raw gradients are longer."""
    net, model, guide = _program()
    svi = _svi(net, model, guide, lr_w=1.0, lr_a=1.0)
    svi.weight_clip, svi.arch_clip = 1e-3, 2e-3
    w0, a0 = _flat(net.parameters()), _flat(guide.arch_parameters())
    svi.step(*_batches())
    assert float((_flat(net.parameters()) - w0).norm()) == pytest.approx(1e-3, rel=1e-4)
    assert float((_flat(guide.arch_parameters()) - a0).norm()) == pytest.approx(2e-3, rel=1e-4)  # clip / (‖g‖ + 1e-6)


class _RecordingRuntime(Runtime):
    """The default fp32 runtime, recording the level of every gradient it takes and every step it applies."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def grad(self, loss, params, level, retain_graph=False):
        self.calls.append(("grad", level))
        return super().grad(loss, params, level, retain_graph)

    def step(self, optimizer, level):
        self.calls.append(("step", level))
        super().step(optimizer, level)


@pytest.mark.parametrize("order", [1, 2])
def test_every_gradient_and_step_goes_through_the_runtime_under_its_level(order):
    """Each level owns its fp16 loss scaler (``pyronas.runtime``), so every gradient is taken under the level of
    the parameters it is for: order 2's virtual step differentiates the weights ("weights"); its validation
    gradient and the two Hessian-vector gradients are w.r.t. α ("arch")."""
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=order, arch_first=True)
    svi.runtime = runtime = _RecordingRuntime()
    svi.step(*_batches())
    arch = [("grad", "arch")] if order == 1 else [("grad", "weights")] + [("grad", "arch")] * 3
    assert runtime.calls == [*arch, ("step", "arch"), ("grad", "weights"), ("step", "weights")]


@pytest.mark.parametrize("order", [1, 2])
def test_a_non_finite_loss_names_its_split_and_leaves_the_weights_as_they_were(order):
    """Order 2 moves the weights to the virtual step w' before the validation loss: a non-finite validation
    loss must not leave them there (the run stops and a checkpoint of the last good state is kept)."""
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=order)
    (xw, yw), (xa, ya) = _batches()
    nan_x = xw.clone()
    nan_x[0, 0, 0, 0] = float("nan")
    w0 = _weights(net)
    with pyro.validation_enabled(False):
        with pytest.raises(NonFiniteLossError, match="^architecture-split loss became nan$"):
            svi.arch_gradients((nan_x, ya), (xw, yw))
        for n, p in net.named_parameters():
            assert torch.equal(p.detach(), w0[n])
        with pytest.raises(NonFiniteLossError, match="^weight-split loss became nan$"):
            if order == 2:  # the virtual step's train loss
                svi.arch_gradients((xa, ya), (nan_x, yw))
            else:
                svi.weight_step((nan_x, yw))


def test_second_order_without_the_weight_batch_says_what_is_missing():
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=2)
    with pytest.raises(ValueError, match="^order 2 needs the weight batch for the virtual step$"):
        svi.arch_gradients(_batches()[1])


def test_finite_difference_points_are_w_plus_minus_eps_v_of_eq_8():
    """DARTS eq. 8: the Hessian-vector product is evaluated at w± = w ± ε v, v = ∇_{w'} L_val(w', α) and
    ε = 0.01 / ‖v‖, so w± − w = ±0.01 v / ‖v‖. The four forward passes of one order-2 gradient see w (virtual
    step's train loss), w' (validation loss), w⁺ and w⁻ (train losses), recorded by a forward pre-hook."""
    net, model, guide = _program()
    svi = _svi(net, model, guide, order=2)  # fd_scale = 0.01, DARTS' value
    names = [n for n, _ in net.named_parameters()]
    seen: list[dict[str, torch.Tensor]] = []
    hook = net.register_forward_pre_hook(lambda *_: seen.append(_weights(net)))
    wb, ab = _batches()
    try:
        svi.arch_gradients(ab, wb)
    finally:
        hook.remove()
    assert len(seen) == 4
    w, w_virtual, w_pos, w_neg = seen
    w1 = {n: t.clone().requires_grad_() for n, t in w_virtual.items()}
    v = torch.autograd.grad(_ce(net, w1, guide.alpha["cell"].detach(), ab), [w1[n] for n in names], allow_unused=True)
    v = torch.cat([(torch.zeros_like(w1[n]) if g is None else g).flatten() for n, g in zip(names, v, strict=True)])
    shift = 0.01 * v / v.norm()
    torch.testing.assert_close(_flat(w_pos[n] for n in names) - _flat(w[n] for n in names), shift)
    torch.testing.assert_close(_flat(w_neg[n] for n in names) - _flat(w[n] for n in names), -shift)


def test_second_order_leaves_a_weight_no_loss_reaches_in_place():
    """A weight in the weight optimizer that no loss reaches (its gradients are ``None``) is skipped by the
    virtual step and by both finite-difference shifts; the gradient still equals the unroll's."""
    net, model, guide = _program()
    net.register_parameter("unused", torch.nn.Parameter(torch.ones(3, dtype=torch.float64)))
    svi = _svi(net, model, guide, order=2, fd_scale=1e-4)
    wb, ab = _batches()
    w0, alpha0 = _weights(net), guide.alpha["cell"].detach().clone()
    seen: list[torch.Tensor] = []
    hook = net.register_forward_pre_hook(lambda *_: seen.append(net.unused.detach().clone()))
    try:
        _, (got,), _ = svi.arch_gradients(ab, wb)
    finally:
        hook.remove()
    assert len(seen) == 4 and all(torch.equal(u, w0["unused"]) for u in seen)
    a = alpha0.clone().requires_grad_()
    (ref,) = torch.autograd.grad(_unrolled_loss(net, w0, a, wb, ab, xi=0.5), [a])
    torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-7)
