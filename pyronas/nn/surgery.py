"""Supernet surgery: widening ops to more channels (DrNAS eq. 7–8) and pruning an edge's op set.

Used between the stages of DrNAS' progressive learning (Chen et al., ICLR 2021, section 2.4;
``pyronas.callbacks.progressive``): with partial channel connections each mixed op sees ``C / K``
channels; a stage change *widens* every op to a smaller K with the random mapping g and *prunes*
each edge to a subset of its ops. Every function changes the supernet in place.

``Lineage`` records, for every new parameter, the old parameter it was copied from and how an old
per-parameter tensor maps to the new shape, so optimizer state can follow
(``pyronas.optim.carry.carry_optimizer_state``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from pyronas.nn.ops import FactorizedReduce, Zero
from pyronas.nn.supernet import MixedOp, SearchCell, Supernet

__all__ = [
    "Lineage",
    "random_mapping",
    "widen_conv",
    "widen_bn",
    "widen_mixed_op",
    "widen_supernet",
    "search_cells",
    "partial_channels_of",
    "prune_mixed_op",
    "prune_supernet",
]

# new parameter -> (the old parameter it came from, map of an old per-parameter tensor to the new shape)
Lineage = dict[nn.Parameter, tuple[nn.Parameter, Callable[[torch.Tensor], torch.Tensor]]]


# --- widening (eq. 7-8) -------------------------------------------------------------------------
def random_mapping(n: int, q: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """g: {0..q-1} -> {0..n-1}, g(j) = j for j < n, a uniform random sample for j >= n (eq. 7, 0-based)."""
    if q < n:
        raise ValueError(f"cannot widen {n} channels to {q}")
    extra = torch.randint(0, n, (q - n,), generator=generator)
    return torch.cat([torch.arange(n), extra])


def widen_conv(
    conv: nn.Conv2d, g_in: torch.Tensor, g_out: torch.Tensor, lineage: Lineage | None = None
) -> nn.Conv2d:
    """U_{o,i,h,w} = W_{g_out(o), g_in(i), h, w} (eq. 8), no division by the replication factor.

    A depthwise conv (``groups == in_channels``) has one filter per channel: U_o = W_{g_out(o)}
    with ``g_in`` and ``g_out`` the same mapping. ``lineage`` (optional) records how each new
    parameter derives from the old one, for ``carry_optimizer_state``.
    """
    W = conv.weight.detach()
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels
    if conv.groups > 1 and not depthwise:
        raise ValueError("only dense and depthwise convolutions can be widened")
    if depthwise and not torch.equal(g_in, g_out):
        raise ValueError("a depthwise conv is widened with one mapping for inputs and outputs")
    new_in, new_out = len(g_in), len(g_out)
    new = nn.utils.skip_init(  # no init: every value is copied, and the global RNG stays untouched
        nn.Conv2d, new_in, new_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
        groups=new_in if depthwise else 1, bias=conv.bias is not None,
        device=W.device, dtype=W.dtype,
    )
    g_out_d, g_in_d = g_out.to(W.device), g_in.to(W.device)

    def expand(t: torch.Tensor) -> torch.Tensor:
        return t[g_out_d] if depthwise else t[g_out_d][:, g_in_d]

    U = expand(W)
    if lineage is not None:
        lineage[new.weight] = (conv.weight, expand)
        if conv.bias is not None:
            lineage[new.bias] = (conv.bias, lambda t: t[g_out_d])
    with torch.no_grad():
        new.weight.copy_(U)
        if conv.bias is not None:
            new.bias.copy_(conv.bias[g_out_d])
    new.train(conv.training)
    return new


def widen_bn(bn: nn.BatchNorm2d, g: torch.Tensor, lineage: Lineage | None = None) -> nn.BatchNorm2d:
    """BatchNorm of the widened channels: affine parameters and running statistics copied through g."""
    ref = bn.weight if bn.affine else bn.running_mean
    device = ref.device if ref is not None else None
    new = nn.BatchNorm2d(
        len(g), bn.eps, bn.momentum, bn.affine, bn.track_running_stats, device=device,
    )
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            old = getattr(bn, name)
            if old is not None:
                getattr(new, name).copy_(old[g.to(old.device)])
                if lineage is not None and isinstance(old, nn.Parameter):
                    lineage[getattr(new, name)] = (old, lambda t, g=g: t[g.to(t.device)])
        if bn.track_running_stats:
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.train(bn.training)
    return new


def _widen_child(parent: nn.Module, name: str, child: nn.Module, g: torch.Tensor, generator, lineage) -> None:
    """Widen ``parent.<name>`` whose channel count is ``n`` to ``len(g)`` with mapping ``g``."""
    if isinstance(child, nn.Conv2d):
        setattr(parent, name, widen_conv(child, g, g, lineage))
    elif isinstance(child, nn.BatchNorm2d):
        setattr(parent, name, widen_bn(child, g, lineage))
    elif isinstance(child, FactorizedReduce):
        # two stride-2 1x1 convs, each to half the channels, concatenated before the BN
        n, q = child.conv_1.out_channels, len(g) // 2
        half = random_mapping(n, q, generator)
        child.conv_1 = widen_conv(child.conv_1, g, half, lineage)
        child.conv_2 = widen_conv(child.conv_2, g, half, lineage)
        child.bn = widen_bn(child.bn, torch.cat([half, half + n]), lineage)
    elif isinstance(child, Zero):
        child.C_out = len(g)
    else:
        for sub_name, sub in child.named_children():
            _widen_child(child, sub_name, sub, g, generator, lineage)


def widen_mixed_op(
    mixed: MixedOp, partial_channels: int, generator: torch.Generator | None = None, lineage: Lineage | None = None
) -> None:
    """Widen every op of ``mixed`` from ``C / K`` to ``C / partial_channels`` channels (eq. 7–8).

    One mapping g per op (a "layer" of eq. 8); it is used for the input and output channels of
    every conv inside that op, so the copied channels line up along the op's conv chain.
    """
    if mixed.k % partial_channels:
        raise ValueError(f"partial channels {mixed.k} -> {partial_channels}: not an integer widening factor")
    n, q = mixed.C // mixed.k, mixed.C // partial_channels
    if q == n:
        return
    for i, op in enumerate(mixed.ops):
        _widen_child(mixed.ops, str(i), op, random_mapping(n, q, generator), generator, lineage)
    mixed.k = partial_channels


def search_cells(supernet: Supernet) -> list[SearchCell]:
    """The supernet's search cells (not its fixed blocks)."""
    return [c for c in supernet.cells if isinstance(c, SearchCell)]


def widen_supernet(
    supernet: Supernet, partial_channels: int, generator: torch.Generator | None = None, lineage: Lineage | None = None
) -> None:
    """Widen every mixed op of ``supernet`` to partial channel parameter ``partial_channels``."""
    for cell in search_cells(supernet):
        for mixed in cell.edges:
            widen_mixed_op(mixed, partial_channels, generator, lineage)


def partial_channels_of(supernet: Supernet) -> int:
    """The current K of the supernet's mixed ops (all equal)."""
    ks = {m.k for cell in search_cells(supernet) for m in cell.edges}
    if len(ks) != 1:
        raise ValueError(f"mixed ops disagree on partial channels: {sorted(ks)}")
    return ks.pop()


# --- pruning ------------------------------------------------------------------------------------
def prune_mixed_op(mixed: MixedOp, keep: list[int]) -> None:
    """Keep only ops ``keep`` (indices into the current ``op_names``) of one edge."""
    mixed.op_names = [mixed.op_names[i] for i in keep]
    mixed.ops = nn.ModuleList(mixed.ops[i] for i in keep)


def prune_supernet(supernet: Supernet, keep: dict[str, torch.Tensor]) -> None:
    """Prune edge ``e`` of every cell of kind ``kind`` to ops ``keep[kind][e]``."""
    for cell in search_cells(supernet):
        if cell.kind in keep:
            for e, mixed in enumerate(cell.edges):
                prune_mixed_op(mixed, [int(i) for i in keep[cell.kind][e]])
