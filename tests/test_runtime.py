"""Runtime options against the plain fp32 path on one fixed bilevel step (arch level, then weight
level, each through ``Runtime.grad`` + ``Runtime.step``), written here instead of going through the
search engine."""

import pytest
import torch
import torch.nn.functional as F

from pyronas.config import ConfigError, RuntimeConfig, load_config
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet
from pyronas.runtime import LossScaler, Runtime

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def bilevel_step(rt: Runtime, device: str = "cpu", C: int = 4) -> dict:
    """One first-order bilevel step; returns losses, gradients of both levels, the starting values
    (``alpha0``, ``w0``, on the CPU) and the updated ones."""
    torch.manual_seed(0)
    net = Supernet(SPACES["nb201"], C, 1, 3, 10).to(device)
    alpha = (1e-1 * torch.randn(6, 5)).to(device).requires_grad_()  # CPU generator on every device
    net = rt.prepare_model(net)
    params = list(net.parameters())
    out = {"alpha0": alpha.detach().cpu().clone(), "w0": torch.cat([p.detach().flatten() for p in params]).cpu()}
    opt_w = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    # not Adam: its first step is lr*sign(g), so a sign flip of a near-zero entry would move alpha a full step
    opt_a = torch.optim.SGD([alpha], lr=0.1)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 8, 8, generator=g).to(device)
    y = torch.randint(0, 10, (8,), generator=g).to(device)
    x = rt.prepare_batch(x)
    with rt.autocast():
        logits = net(x, {"cell": F.softmax(alpha, -1)})
        loss_a = F.cross_entropy(logits, y)
    out["logits_dtype"] = logits.dtype
    (ga,) = rt.grad(loss_a, [alpha], "arch")
    alpha.grad = ga
    rt.step(opt_a, "arch")
    with rt.autocast():
        loss_w = F.cross_entropy(net(x, {"cell": F.softmax(alpha, -1)}), y)
    gw = rt.grad(loss_w, params, "weights")
    for p, gp in zip(params, gw, strict=True):
        p.grad = gp
    rt.step(opt_w, "weights")
    out.update(loss_a=loss_a.detach().float(), loss_w=loss_w.detach().float(), grad_a=ga.detach(),
               grad_w=torch.cat([gp.flatten() for gp in gw]).detach(), alpha=alpha.detach().clone(),
               w=torch.cat([p.detach().flatten() for p in params]).cpu())
    return out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float().cpu() - b.float().cpu()).norm() / b.float().cpu().norm())


def assert_close_to_fp32(out: dict, ref: dict, loss_tol: float, grad_tol: float, step_tol: float | None = None) -> None:
    """Relative errors: losses, gradient vectors of both levels (norm of the difference over the
    norm), and the weights after the step. Reduced precision on this tiny net (batch 8, 2x2 maps
    in the last stage, affine-free BatchNorm) gives gradient errors of ~9% (fp16) and ~23% (bf16),
    the same with the loss scale at 1, so those tolerances are wide; the losses are tight."""
    assert abs(float(out["loss_a"]) - float(ref["loss_a"])) <= loss_tol * abs(float(ref["loss_a"]))
    assert abs(float(out["loss_w"]) - float(ref["loss_w"])) <= loss_tol * abs(float(ref["loss_w"]))
    assert _rel(out["grad_a"], ref["grad_a"]) <= grad_tol
    assert _rel(out["grad_w"], ref["grad_w"]) <= grad_tol
    assert _rel(out["w"], ref["w"]) <= (grad_tol if step_tol is None else step_tol)  # the updated weights


@pytest.fixture(scope="module")
def fp32(one_thread):
    return bilevel_step(Runtime())


def test_default_runtime_is_plain_autograd(one_thread):
    w = torch.randn(3, requires_grad=True)
    loss = (w**2).sum()
    (g,) = Runtime().grad(loss, [w], "weights")
    torch.testing.assert_close(g, 2 * w.detach())


def test_bf16_autocast_close_to_fp32(fp32):
    out = bilevel_step(Runtime(amp="bf16"))
    assert out["logits_dtype"] == torch.bfloat16
    assert_close_to_fp32(out, fp32, loss_tol=5e-3, grad_tol=0.35, step_tol=2e-2)


def test_fp16_autocast_with_a_scaler_per_level_close_to_fp32(fp32):
    rt = Runtime(amp="fp16")
    assert set(rt.scalers) == {"weights", "arch"} and rt.scalers["weights"] is not rt.scalers["arch"]
    out = bilevel_step(rt)
    assert out["logits_dtype"] == torch.float16
    assert_close_to_fp32(out, fp32, loss_tol=1e-3, grad_tol=0.15, step_tol=1e-2)
    assert all(s.growth_tracker == 1 and not s.found_inf for s in rt.scalers.values())


def test_fp16_overflow_skips_only_that_levels_step_and_backs_off_its_scale(one_thread, fp32):
    rt = Runtime(amp="fp16")
    rt.scalers["weights"].scale = 1e38  # scaled fp32 gradients overflow to inf
    out = bilevel_step(rt)
    w0 = out["w0"]
    torch.testing.assert_close(out["w"], w0)  # weight step skipped
    assert rt.scalers["weights"].scale == 0.5e38 and rt.scalers["weights"].growth_tracker == 0
    assert rt.scalers["arch"].scale == 2.0**16 and rt.scalers["arch"].growth_tracker == 1
    alpha0 = out["alpha0"]
    assert _rel(out["alpha"] - alpha0, fp32["alpha"] - alpha0) <= 0.15  # arch step taken, fp16-close to fp32's
    assert not torch.equal(fp32["w"], w0)


def test_loss_scaler_grows_after_interval_of_finite_steps():
    s = LossScaler(init_scale=4.0, growth_interval=3)
    for expected in (4.0, 4.0, 8.0, 8.0):
        s.unscale([torch.ones(2)])
        s.update()
        assert s.scale == expected
    s.unscale([torch.tensor([float("nan")])])
    assert s.found_inf
    s.update()
    assert s.scale == 4.0 and s.growth_tracker == 0


def test_channels_last_same_numbers(fp32):
    rt = Runtime(channels_last=True)
    out = bilevel_step(rt)
    assert_close_to_fp32(out, fp32, loss_tol=1e-5, grad_tol=1e-4)


def test_checkpoint_cells_same_numbers(fp32):
    out = bilevel_step(Runtime(checkpoint_cells=True))
    assert_close_to_fp32(out, fp32, loss_tol=1e-6, grad_tol=1e-5)


def test_deterministic_mode_switches_torch_to_deterministic_algorithms(one_thread):
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        Runtime(deterministic=True).prepare_model(torch.nn.Linear(2, 2))
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_same_numbers(fp32, backend):
    torch._dynamo.reset()
    out = bilevel_step(Runtime(compile=True, compile_backend=backend))
    assert_close_to_fp32(out, fp32, loss_tol=1e-5, grad_tol=1e-4)


def test_from_config_auto_is_off_on_cpu_and_on_for_cuda(monkeypatch):
    rt = Runtime.from_config(RuntimeConfig(), "cpu")
    assert (rt.amp, rt.channels_last, rt.compile, rt.cudnn_benchmark, rt.scalers) == ("off", False, False, False, {})
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    rt = Runtime.from_config(RuntimeConfig(), "cuda")
    assert (rt.amp, rt.channels_last, rt.compile, rt.cudnn_benchmark) == ("bf16", True, False, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert Runtime.from_config(RuntimeConfig(), "cuda").amp == "fp16"
    rt = Runtime.from_config(RuntimeConfig(amp="fp16", channels_last=True, checkpoint_cells=True), "cpu")
    assert rt.amp == "fp16" and set(rt.scalers) == {"weights", "arch"} and rt.channels_last and rt.checkpoint_cells


def test_runtime_config_section_is_validated():
    cfg = load_config(overrides=["runtime.amp=bf16", "runtime.compile=true"])
    assert cfg.runtime.amp == "bf16" and cfg.runtime.compile is True
    with pytest.raises(ConfigError, match="runtime.amp"):
        load_config(overrides=["runtime.amp=fp8"])
    with pytest.raises(ConfigError, match="runtime.channels_last"):
        load_config(overrides=["runtime.channels_last=sometimes"])


# --- CUDA ------------------------------------------------------------------------------------------
@cuda
@needs_cuda
@pytest.mark.parametrize(
    "options,loss_tol,grad_tol",
    [({"amp": "fp16"}, 1e-3, 0.15), ({"amp": "bf16"}, 5e-3, 0.35), ({"channels_last": True}, 1e-4, 1e-3),
     ({"checkpoint_cells": True}, 1e-5, 1e-4), ({"compile": True}, 1e-4, 1e-3),
     ({"amp": "bf16", "channels_last": True, "cudnn_benchmark": True}, 5e-3, 0.35)],
)
def test_cuda_runtime_options_close_to_fp32(options, loss_tol, grad_tol):
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    ref = bilevel_step(Runtime("cuda"), "cuda", C=8)
    torch._dynamo.reset()
    rt = Runtime("cuda", **options)
    out = bilevel_step(rt, "cuda", C=8)
    assert_close_to_fp32(out, ref, loss_tol, grad_tol)
    if options.get("amp") == "fp16":
        assert out["logits_dtype"] == torch.float16
        assert all(s.growth_tracker == 1 for s in rt.scalers.values())  # both levels stepped with scaling


@cuda
@needs_cuda
def test_cuda_fp16_overflow_on_one_level_only():
    rt = Runtime("cuda", amp="fp16")
    rt.scalers["arch"].scale = 1e38
    out = bilevel_step(rt, "cuda", C=8)
    assert rt.scalers["arch"].found_inf and rt.scalers["arch"].scale == 0.5e38
    assert not rt.scalers["weights"].found_inf and rt.scalers["weights"].growth_tracker == 1
    torch.testing.assert_close(out["alpha"].cpu(), out["alpha0"])  # arch step skipped
