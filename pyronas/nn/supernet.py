"""The one weight-sharing supernet (plain PyTorch, no Pyro).

``Supernet.forward(x, weights)`` takes the architecture mixing weights explicitly:
``weights[kind]`` has shape ``[edges, ops]`` and lies wherever the method puts it (softmax of
α for DARTS, a Dirichlet sample θ for DrNAS, ...). Every method of pyronas uses this module.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from pyronas.nn.ops import FactorizedReduce, ReLUConvBN, ResNetBasicBlock, Zero, channel_shuffle, make_op
from pyronas.nn.spaces import SearchSpace, layout_for


class MixedOp(nn.Module):
    """Weighted sum of candidate ops on one edge: ``sum_o w_o * op_o(x)`` (DARTS eq. 2).

    With ``partial_channels = K > 1`` only ``C / K`` channels go through the ops; the rest bypass
    (max-pooled on stride-2 edges) and the result is channel-shuffled (PC-DARTS, DrNAS sec. 2.4).
    ``op_names`` may be pruned per edge (DrNAS progressive learning).
    """

    def __init__(
        self,
        op_names: list[str],
        C: int,
        stride: int,
        partial_channels: int = 1,
        affine: bool = False,
        track: bool = False,
        pool_bn: bool = True,
    ):
        super().__init__()
        if C % partial_channels:
            raise ValueError(f"channels {C} not divisible by partial_channels={partial_channels}")
        self.op_names = list(op_names)
        self.C, self.stride, self.k = C, stride, partial_channels
        self.affine, self.track, self.pool_bn = affine, track, pool_bn
        self.fast = True
        c = C // partial_channels
        self.ops = nn.ModuleList(self._build(name, c) for name in self.op_names)

    def _build(self, name: str, c: int) -> nn.Module:
        op = make_op(name, c, c, self.stride, self.affine, self.track)
        if self.pool_bn and "pool" in name:  # DARTS search cells: BN after pooling (SearchSpace.pool_bn)
            op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False, track_running_stats=self.track))
        return op

    def forward(self, x: torch.Tensor, w: torch.Tensor, relu_x: torch.Tensor | None = None) -> torch.Tensor:
        """``Σ_o w_o op_o(x)`` (+ partial-channel bypass and shuffle).

        ``relu_x``: ``relu`` of the channels that go through the ops, computed once by the cell and
        shared by every op that starts with a ReLU (fast path only).
        """
        if self.k == 1:
            return self._mix(x, w, relu_x)
        c = x.shape[1] // self.k
        xa, xb = x[:, :c], x[:, c:]
        out = self._mix(xa, w, relu_x)
        if self.stride == 2:
            xb = F.max_pool2d(xb, 2, 2, ceil_mode=xb.shape[2] % 2 == 1)
        return channel_shuffle(torch.cat([out, xb], dim=1), self.k)

    def _mix(self, x: torch.Tensor, w: torch.Tensor, relu_x: torch.Tensor | None) -> torch.Tensor:
        if not self.fast:  # the reference: every op computed, ``none`` included, summed out of place
            return sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))
        # Fast path, the same sum: ``none`` contributes w·0 to the value and 0 to ∂/∂w, so it is
        # skipped; terms are accumulated in place (addcmul_ saves the same tensors as mul).
        out = None
        for wi, op in zip(w.unbind(0), self.ops, strict=True):
            if isinstance(op, Zero):
                continue
            if relu_x is not None and hasattr(op, "forward_after_relu"):
                h = op.forward_after_relu(relu_x)
            else:
                h = op(x)
            out = h * wi if out is None else out.addcmul_(h, wi)
        if out is None:  # only ``none`` left on this edge
            return sum(wi * op(x) for wi, op in zip(w, self.ops, strict=True))
        return out

    @property
    def needs_relu(self) -> bool:
        """Whether some op of this edge starts with a ReLU of its input."""
        return any(hasattr(op, "forward_after_relu") for op in self.ops)


class SearchCell(nn.Module):
    """A searched cell of ``space``: every intermediate node sums mixed ops over earlier nodes."""

    def __init__(
        self,
        space: SearchSpace,
        kind: str,
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        partial_channels: int = 1,
        track: bool = False,
    ):
        super().__init__()
        self.space, self.kind, self.reduction = space, kind, reduction
        if space.n_inputs == 2:
            self.pre0: nn.Module = (
                FactorizedReduce(C_pp, C, affine=False, track=track)
                if reduction_prev
                else ReLUConvBN(C_pp, C, 1, 1, 0, affine=False, track=track)
            )
            self.pre1: nn.Module = ReLUConvBN(C_p, C, 1, 1, 0, affine=False, track=track)
        elif C_p != C:
            raise ValueError("single-input cells keep their channel count")
        self.edges = nn.ModuleList(
            MixedOp(
                list(space.ops),
                C,
                2 if reduction and i < space.n_inputs else 1,
                partial_channels,
                affine=False,
                track=track,
                pool_bn=space.pool_bn,
            )
            for i, _ in space.edges
        )
        self.C_out = C * (space.n_nodes if space.output == "concat" else 1)

    def forward(self, s0: torch.Tensor | None, s1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Node ``j = Σ_{i<j} MixedOp_{i→j}(state_i)``; with ``fast`` every state's ReLU is computed
        once and shared by all ReLU-first ops of all edges leaving it (the value is unchanged)."""
        states = [self.pre0(s0), self.pre1(s1)] if self.space.n_inputs == 2 else [s1]
        relus: dict[tuple[int, int], torch.Tensor] = {}
        e = 0
        for j in range(self.space.n_inputs, self.space.n_inputs + self.space.n_nodes):
            node = None
            for i in range(j):
                mixed = self.edges[e]
                r = None
                if mixed.fast and mixed.needs_relu:
                    c = states[i].shape[1] // mixed.k
                    if (i, c) not in relus:
                        relus[(i, c)] = F.relu(states[i][:, :c] if mixed.k > 1 else states[i])
                    r = relus[(i, c)]
                h = mixed(states[i], w[e], r)
                node = h if node is None else node + h
                e += 1
            states.append(node)
        if self.space.output == "last":
            return states[-1]
        return torch.cat(states[self.space.n_inputs :], dim=1)


class Supernet(nn.Module):
    """Weight-sharing supernet over a cell search space.

    Args:
        space: the search space.
        C: initial channels.
        layers: cells per stage (NAS-Bench-201 skeleton) or total cells (DARTS-like).
        in_channels, num_classes: data shape.
        layout: optional explicit macro layout (``N``/``R``/``B`` letters, see ``layout_for``).
        partial_channels: K of partial channel connections (1 = off).
        track_running_stats: BatchNorm running statistics during search (off by default).
    """

    def __init__(
        self,
        space: SearchSpace,
        C: int,
        layers: int,
        in_channels: int,
        num_classes: int,
        layout: str | None = None,
        partial_channels: int = 1,
        track_running_stats: bool = False,
    ):
        super().__init__()
        self.space = space
        self.layout = layout or layout_for(space, layers)
        if set(self.layout) - set("NRB"):
            raise ValueError(f"layout {self.layout!r} may only contain N, R and B")
        C_stem = space.stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        self.kind_of = {"N": space.cell_kinds[0], "R": space.cell_kinds[-1]}
        C_pp, C_p, C_cur = C_stem, C_stem, C
        reduction_prev = False
        self.cells = nn.ModuleList()
        for letter in self.layout:
            if letter == "B":
                C_cur *= 2
                block = ResNetBasicBlock(C_p, C_cur, 2, affine=True, track=True)
                self.cells.append(block)
                C_pp, C_p, reduction_prev = C_p, C_cur, True
                continue
            reduction = letter == "R"
            if reduction:
                C_cur *= 2
            cell = SearchCell(
                space, self.kind_of[letter], C_pp, C_p, C_cur, reduction, reduction_prev,
                partial_channels, track_running_stats,
            )
            self.cells.append(cell)
            C_pp, C_p, reduction_prev = C_p, cell.C_out, reduction
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_p), nn.ReLU(inplace=False)) if space.n_inputs == 1 else None
        self.classifier = nn.Linear(C_p, num_classes)
        self.checkpoint_cells = False  # recompute each search cell in backward (Runtime option)

    @property
    def fast(self) -> bool:
        """Whether the mixed ops take the fast path (skip ``none``, shared ReLUs, in-place sums);
        ``False`` runs the reference sum over every op, the one the fast path is tested against."""
        return all(m.fast for cell in self.cells if isinstance(cell, SearchCell) for m in cell.edges)

    @fast.setter
    def fast(self, value: bool) -> None:
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                for m in cell.edges:
                    m.fast = bool(value)

    def arch_shapes(self) -> dict[str, tuple[int, int]]:
        """Shape ``[edges, ops]`` of the mixing weights of every cell kind (after any pruning)."""
        shapes = {}
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                shapes[cell.kind] = (len(cell.edges), len(cell.edges[0].ops))
        return {k: shapes[k] for k in self.space.cell_kinds if k in shapes}

    def candidate_ops(self, kind: str) -> list[list[str]]:
        """Op names per edge of cell kind ``kind`` (identical across cells of that kind)."""
        for cell in self.cells:
            if isinstance(cell, SearchCell) and cell.kind == kind:
                return [list(m.op_names) for m in cell.edges]
        raise KeyError(kind)

    def to_full(self, kind: str, w: torch.Tensor) -> torch.Tensor:
        """Scatter per-edge weights of the (possibly pruned) candidates back to the full op set."""
        ops = self.space.ops
        full = w.new_zeros(w.shape[:-1] + (len(ops),))
        for e, names in enumerate(self.candidate_ops(kind)):
            idx = torch.tensor([ops.index(n) for n in names], device=w.device)
            full[..., e, idx] = w[..., e, :]
        return full

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of ``x`` with the mixing ``weights`` of each cell kind, ``{kind: [edges, ops]}``."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                w = weights[cell.kind]
                if self.checkpoint_cells and torch.is_grad_enabled():
                    out = checkpoint(cell, s0, s1, w, use_reentrant=False)
                else:
                    out = cell(s0, s1, w)
                s0, s1 = s1, out
            else:
                s0, s1 = s1, cell(s1)
        if self.lastact is not None:
            s1 = self.lastact(s1)
        out = F.adaptive_avg_pool2d(s1, 1).flatten(1)
        return self.classifier(out)
