"""How a step runs on its device: mixed precision, memory layout, compilation, gradient reduction.

The bilevel engine (``pyronas.infer``) never calls ``loss.backward()`` or ``optimizer.step()``
directly: it asks its ``Runtime`` for the gradients of a level and to step that level's optimizer.
The default ``Runtime()`` is plain fp32 eager PyTorch; the options (``runtime:`` config section,
``Runtime.from_config``) add autocast, a dynamic loss scaler per level (fp16), channels-last,
``torch.compile``, per-cell activation checkpointing, cuDNN autotuning and deterministic mode
without the engine knowing about any of them.

Contract (what the engine relies on):

- ``autocast()`` -- a context manager around every forward pass of the loss;
- ``grad(loss, params, level)`` -- the gradients of ``loss`` w.r.t. ``params`` (``None`` for unused
  ones), unscaled, already averaged across ranks when running distributed; ``level`` is
  ``"weights"`` or ``"arch"`` (each level owns its own scaler);
- ``step(optimizer, level)`` -- applies the optimizer (skipped, and that level's scale backed off,
  when fp16 gradients overflowed);
- ``prepare_model(module)`` / ``prepare_batch(x)`` -- layout/compilation applied once / per batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch

from pyronas.errors import ConfigError

if TYPE_CHECKING:
    from pyronas.config import RuntimeConfig

__all__ = ["LossScaler", "Runtime", "default_threads", "set_threads"]

log = logging.getLogger(__name__)

LEVELS = ("weights", "arch")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def default_threads() -> int:
    """torch's CPU thread count when the config gives none: ``$OMP_NUM_THREADS`` when set, else half the
    CPUs this process may run on (``os.sched_getaffinity``), at least 1 and at most 4. torch's own
    default (one thread per core) oversubscribes a machine others use too: one tiny search epoch took
    65-189 s with it (2 threads) on a busy 2-core machine and 1.6-1.9 s with one thread (docs/reliability.md)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cpus // 2))


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads to ``threads`` (``None``: ``default_threads()``); returns the count.
    The ``runtime.threads`` config key."""
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ConfigError(f"runtime.threads: must be >= 1 or null (default), got {threads}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class LossScaler:
    """Dynamic loss scaling for fp16 (Micikevicius et al. 2018), one per level of the bilevel loop.

    The algorithm and defaults of ``torch.amp.GradScaler``: the loss is multiplied by ``scale``
    before differentiation, gradients divided by it after; a step whose gradients hold an Inf/NaN
    is skipped and ``scale *= backoff_factor``; after ``growth_interval`` finite steps in a row
    ``scale *= growth_factor``. Written against gradient lists (``torch.autograd.grad``) instead of
    ``.grad`` buffers, which ``GradScaler.unscale_`` needs, so the two levels never share state.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        self.scale, self.growth_factor, self.backoff_factor = init_scale, growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.growth_tracker = 0
        self.found_inf = False

    def unscale(self, grads: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """``g / scale`` for every gradient; records whether any is non-finite."""
        inv = 1.0 / self.scale
        out = [None if g is None else g.float() * inv for g in grads]
        finite = [torch.isfinite(g).all() for g in out if g is not None]
        self.found_inf = bool(finite) and not bool(torch.stack(finite).all())
        return out

    def update(self) -> None:
        """After a step: scale × ``backoff_factor`` on an overflow, × ``growth_factor`` after ``growth_interval`` clean
        steps."""
        if self.found_inf:
            self.scale *= self.backoff_factor
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                self.scale *= self.growth_factor
                self.growth_tracker = 0

    def state_dict(self) -> dict[str, float | int]:
        """The scale and growth counter, for the checkpoint."""
        return {"scale": self.scale, "growth_tracker": self.growth_tracker}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore the scale and growth counter."""
        self.scale, self.growth_tracker = float(state["scale"]), int(state["growth_tracker"])


class Runtime:
    """Execution options of the search loop; ``Runtime()`` is plain fp32 eager PyTorch, the
    reference every other option is tested against.

    Args:
        device: where the model runs (autocast's device type).
        amp: ``"off"``, ``"bf16"`` (autocast, no scaling) or ``"fp16"`` (autocast + a
            ``LossScaler`` per level).
        channels_last: NHWC memory layout of the model and of every 4-d batch.
        compile: ``torch.compile`` the model in place (``nn.Module.compile``; the module keeps its
            type and attributes); ``compile_backend`` picks the backend.
        cudnn_benchmark: let cuDNN autotune convolution algorithms (fixed shapes).
        deterministic: ``torch.use_deterministic_algorithms`` + deterministic cuDNN.
        checkpoint_cells: recompute each search cell's activations in the backward pass instead
            of storing them (``Supernet.checkpoint_cells``): less memory, about one more forward.
    """

    def __init__(self, device: str | torch.device = "cpu", amp: str = "off", channels_last: bool = False,
                 compile: bool = False, cudnn_benchmark: bool = False, deterministic: bool = False,
                 checkpoint_cells: bool = False, compile_backend: str = "inductor"):
        if amp not in ("off", *_DTYPES):
            raise ValueError(f"amp must be 'off', 'bf16' or 'fp16', got {amp!r}")
        self.device = torch.device(device)
        self.amp, self.channels_last, self.compile = amp, channels_last, compile
        self.cudnn_benchmark, self.deterministic = cudnn_benchmark, deterministic
        self.checkpoint_cells = checkpoint_cells
        self.compile_backend = compile_backend
        self.scalers = {level: LossScaler() for level in LEVELS} if amp == "fp16" else {}

    @classmethod
    def from_config(cls, cfg: RuntimeConfig, device: str | torch.device) -> Runtime:
        """Resolve ``"auto"`` options for ``device``: everything off on CPU; on CUDA bf16 autocast
        (fp16 + loss scaling where bf16 is unsupported), channels-last and cuDNN autotuning on,
        compilation off (its warm-up and the recompiles after progressive pruning cost more than
        it saves on a search of a few epochs)."""
        device = torch.device(device)
        cuda = device.type == "cuda"

        def auto(value, on_cuda):
            return (on_cuda if cuda else False) if value == "auto" else value

        amp = cfg.amp
        if amp == "auto":
            amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "off"
        return cls(device, amp, auto(cfg.channels_last, True), auto(cfg.compile, False),
                   auto(cfg.cudnn_benchmark, True), cfg.deterministic, cfg.checkpoint_cells, cfg.compile_backend)

    def describe(self) -> dict[str, object]:
        """The resolved options as a plain dict (logged at the start of a run)."""
        return {"device": str(self.device), "amp": self.amp, "channels_last": self.channels_last,
                "compile": self.compile, "cudnn_benchmark": self.cudnn_benchmark,
                "deterministic": self.deterministic, "checkpoint_cells": self.checkpoint_cells}

    # --- the contract ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to the configured precision around a forward pass (nothing when ``amp`` is off)."""
        if self.amp == "off":
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=_DTYPES[self.amp]):
            yield

    def grad(
        self, loss: torch.Tensor, params: Sequence[torch.Tensor], level: str, retain_graph: bool = False
    ) -> list[torch.Tensor | None]:
        """``torch.autograd.grad`` of ``loss`` w.r.t. ``params`` only (no stale ``.grad`` buffers);
        with fp16, of ``scale · loss``, divided by the scale of ``level`` afterwards."""
        params = list(params)
        scaler = self.scalers.get(level)
        if scaler is None:
            return list(torch.autograd.grad(loss, params, allow_unused=True, retain_graph=retain_graph))
        grads = torch.autograd.grad(loss.float() * scaler.scale, params, allow_unused=True,
                                    retain_graph=retain_graph)
        return [None if g is None else u.to(p.dtype)
                for g, u, p in zip(grads, scaler.unscale(grads), params, strict=True)]

    def step(self, optimizer: torch.optim.Optimizer, level: str) -> None:
        """``optimizer.step()``; with fp16 skipped when ``level``'s gradients overflowed, then that
        level's scale is updated."""
        scaler = self.scalers.get(level)
        if scaler is None:
            optimizer.step()
            return
        if scaler.found_inf:
            log.info("fp16 %s gradients overflowed at scale %g: step skipped", level, scaler.scale)
        else:
            optimizer.step()
        scaler.update()

    def prepare_model(self, module: torch.nn.Module) -> torch.nn.Module:
        """Apply the global switches, layout, per-cell checkpointing and compilation (in place)."""
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark and not self.deterministic
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)
        if self.checkpoint_cells:
            for m in module.modules():
                if hasattr(m, "checkpoint_cells"):
                    m.checkpoint_cells = True
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        if self.compile:
            module.compile(backend=self.compile_backend)
        return module

    def prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        """A batch in the configured memory format (channels-last for 4-d images when on)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # --- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, dict[str, float | int]]:
        """Every level's loss-scaler state, for the checkpoint."""
        return {level: s.state_dict() for level, s in self.scalers.items()}

    def load_state_dict(self, state: dict[str, dict[str, float | int]]) -> None:
        """Restore the loss scalers of the levels this runtime has."""
        for level, s in state.items():
            if level in self.scalers:
                self.scalers[level].load_state_dict(s)
