"""How a step runs on its device: mixed precision, memory layout, compilation, gradient reduction.

The bilevel engine (``pyronas.infer``) never calls ``loss.backward()`` or ``optimizer.step()``
directly: it asks its ``Runtime`` for the gradients of a level and to step that level's optimizer.
The default ``Runtime()`` is plain fp32 eager PyTorch; subclasses and options add autocast, a
gradient scaler per level (fp16), channels-last, ``torch.compile`` and cross-rank gradient
averaging without the engine knowing about any of them.

Contract (what the engine relies on):

- ``autocast()`` -- a context manager around every forward pass of the loss;
- ``grad(loss, params, level)`` -- the gradients of ``loss`` w.r.t. ``params`` (``None`` for unused
  ones), unscaled, already averaged across ranks when running distributed; ``level`` is
  ``"weights"`` or ``"arch"`` (each level owns its own scaler);
- ``step(optimizer, level)`` -- applies the optimizer (a scaler's ``step``/``update`` for fp16);
- ``prepare_model(module)`` / ``prepare_batch(x)`` -- layout/compilation applied once / per batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

__all__ = ["Runtime"]


class Runtime:
    """Plain fp32 eager execution: the reference every other runtime option is tested against."""

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        yield

    def grad(
        self, loss: torch.Tensor, params: Sequence[torch.Tensor], level: str, retain_graph: bool = False
    ) -> list[torch.Tensor | None]:
        """``torch.autograd.grad`` of ``loss`` w.r.t. ``params`` only (no stale ``.grad`` buffers)."""
        return list(torch.autograd.grad(loss, list(params), allow_unused=True, retain_graph=retain_graph))

    def step(self, optimizer: torch.optim.Optimizer, level: str) -> None:
        optimizer.step()

    def prepare_model(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        return x
