"""Carrying optimizer state across a change of the parameters (a widened or pruned supernet)."""

from __future__ import annotations

import torch

from pyronas.nn.surgery import Lineage

__all__ = ["carry_optimizer_state"]


def carry_optimizer_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer, lineage: Lineage) -> None:
    """Move the per-parameter state (SGD momentum, Adam moments) of ``old`` into ``new`` after a
    stage change: a widened or pruned parameter gets its old state mapped the same way as its values
    (the official DrNAS code widens the momentum buffers with the same g); an unchanged parameter
    keeps its state; state that is not parameter-shaped (Adam's step count) is copied."""
    for group in new.param_groups:
        for p in group["params"]:
            src, fn = lineage.get(p, (p, None))
            state = old.state.get(src)
            if not state:
                continue
            new.state[p] = {k: _carry(v, src, fn) for k, v in state.items()}


def _carry(v, src: torch.Tensor, fn) -> object:
    if not torch.is_tensor(v):
        return v
    if fn is not None and v.shape == src.shape:
        return fn(v).clone()
    return v.clone()
