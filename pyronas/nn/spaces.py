"""Search spaces as data: operations, cell kinds, nodes, edges, derivation rule, genotypes.

A cell is a DAG. Nodes ``0 .. n_inputs-1`` are the cell inputs, the next ``n_nodes`` are
intermediate states. Every intermediate node ``j`` has one candidate edge from every earlier
node ``i < j``; edges are ordered by target node, then source (the DARTS / NAS-Bench-201
order), so the architecture weights of a cell kind are a tensor of shape ``[edges, ops]``.

Pure Python/torch, no Pyro (floor 1 of the design).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from pyronas.io import atomic_write_json
from pyronas.registry import Registry

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
# VINNAS (Ferianc et al.), K = 10 candidate operations.
VINNAS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "conv_7x1_1x7",
)
# R-DARTS (Zela et al. 2020) reduced spaces S1-S4. S1 uses per-edge op pairs in the paper;
# we use its most frequent pair for every edge (documented simplification).
RDARTS_OPS = {
    "s1": ("dil_conv_3x3", "sep_conv_3x3"),
    "s2": ("skip_connect", "sep_conv_3x3"),
    "s3": ("none", "skip_connect", "sep_conv_3x3"),
    "s4": ("noise", "sep_conv_3x3"),
}


@dataclass(frozen=True)
class SearchSpace:
    """A cell search space.

    Attributes:
        name: space name used in configs.
        ops: candidate operation names (keys of ``pyronas.nn.ops.OPS``).
        cell_kinds: searched cell kinds, e.g. ``("cell",)`` or ``("normal", "reduce")``.
        n_inputs: number of cell inputs (1: NAS-Bench-201, 2: DARTS c_{k-2}, c_{k-1}).
        n_nodes: number of intermediate nodes.
        output: ``"last"`` (the last node is the cell output) or ``"concat"`` (channel concat of
            all intermediate nodes).
        derivation: ``"all_edges"`` keeps every edge with its argmax op (NAS-Bench-201);
            ``"top_k"`` keeps the ``inputs_per_node`` strongest incoming edges per node, strength
            = largest non-``none`` weight, each with its strongest non-``none`` op (DARTS).
        inputs_per_node: k of the ``top_k`` rule.
        stem_multiplier: stem channels = ``stem_multiplier * C``.
        pool_bn: whether a search cell follows its pooling ops with an affine-free BatchNorm (the
            DARTS search-cell convention, Liu et al. 2019 ``MixedOp``); NAS-Bench-201's search cells
            (Dong & Yang 2020, used unchanged by DrNAS) pool without one.
    """

    name: str
    ops: tuple[str, ...]
    cell_kinds: tuple[str, ...]
    n_inputs: int
    n_nodes: int
    output: Literal["last", "concat"]
    derivation: Literal["all_edges", "top_k"]
    inputs_per_node: int = 2
    stem_multiplier: int = 1
    pool_bn: bool = True

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Edges as ``(source, target)`` node pairs, ordered by target then source."""
        return tuple(
            (i, j) for j in range(self.n_inputs, self.n_inputs + self.n_nodes) for i in range(j)
        )

    @property
    def num_edges(self) -> int:
        """Edges of a cell."""
        return len(self.edges)

    @property
    def num_ops(self) -> int:
        """Candidate ops per edge."""
        return len(self.ops)

    @property
    def arch_shape(self) -> tuple[int, int]:
        """(edges, ops): the shape of one cell kind's α."""
        return (self.num_edges, self.num_ops)

    def edge_labels(self) -> list[str]:
        """Readable edge labels ``"target<-source"`` (coords for diagnostics)."""
        return [f"{j}<-{i}" for i, j in self.edges]

    def size(self) -> int:
        """Number of distinct discrete architectures (over all cell kinds)."""
        if self.derivation == "all_edges":
            per_cell = self.num_ops**self.num_edges
        else:
            k, n_ops = self.inputs_per_node, sum(1 for o in self.ops if o != "none")
            per_cell = 1
            for j in range(self.n_inputs, self.n_inputs + self.n_nodes):
                per_cell *= _comb(j, k) * n_ops**k
        return per_cell ** len(self.cell_kinds)

    def derive(self, weights: dict[str, torch.Tensor]) -> Genotype:
        """Derive the discrete genotype from per-edge op weights ``{kind: [edges, ops]}``."""
        cells = {kind: self._derive_cell(weights[kind].detach().float().cpu()) for kind in self.cell_kinds}
        concat = list(range(self.n_inputs, self.n_inputs + self.n_nodes))
        if self.output == "last":
            concat = concat[-1:]
        return Genotype(self.name, cells, {kind: concat for kind in self.cell_kinds})

    def _derive_cell(self, w: torch.Tensor) -> list[tuple[str, int, int]]:
        if tuple(w.shape) != self.arch_shape:
            raise ValueError(f"weights of shape {tuple(w.shape)} do not fit space {self.name!r} {self.arch_shape}")
        if self.derivation == "all_edges":
            return [(self.ops[int(w[e].argmax())], i, j) for e, (i, j) in enumerate(self.edges)]
        masked = w.clone()
        if "none" in self.ops:
            masked[:, self.ops.index("none")] = -float("inf")
        chosen: list[tuple[str, int, int]] = []
        for j in range(self.n_inputs, self.n_inputs + self.n_nodes):
            idx = [e for e, (_, t) in enumerate(self.edges) if t == j]
            strength = masked[idx].max(dim=1).values
            # stable ordering: strongest first, ties broken by source index
            order = sorted(range(len(idx)), key=lambda r: (-float(strength[r]), r))
            for r in sorted(order[: self.inputs_per_node]):
                e = idx[r]
                chosen.append((self.ops[int(masked[e].argmax())], self.edges[e][0], j))
        return chosen

    def random_genotype(self, generator: torch.Generator | None = None) -> Genotype:
        """A uniformly random genotype under this space's derivation rule."""
        weights = {k: torch.rand(self.arch_shape, generator=generator) for k in self.cell_kinds}
        return self.derive(weights)

    def encode(self, genotype: Genotype) -> torch.Tensor:
        """One-hot encoding ``[kinds * edges * ops]`` of a genotype (absent edges: all zero)."""
        out = torch.zeros(len(self.cell_kinds), self.num_edges, self.num_ops)
        edge_index = {e: n for n, e in enumerate(self.edges)}
        for c, kind in enumerate(self.cell_kinds):
            for op, i, j in genotype.cells[kind]:
                out[c, edge_index[(i, j)], self.ops.index(op)] = 1.0
        return out.flatten()


def _comb(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


@dataclass
class Genotype:
    """A discrete architecture: per cell kind, the kept edges ``(op, source, target)``."""

    space: str
    cells: dict[str, list[tuple[str, int, int]]]
    concat: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data (``genotype.json``)."""
        return {
            "space": self.space,
            "cells": {k: [list(t) for t in v] for k, v in self.cells.items()},
            "concat": self.concat,
            "string": str(self),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Genotype:
        """The genotype ``to_dict`` wrote."""
        cells = {k: [(str(o), int(i), int(j)) for o, i, j in v] for k, v in d["cells"].items()}
        return cls(d["space"], cells, {k: list(v) for k, v in d.get("concat", {}).items()})

    def save(self, path) -> None:
        """Write ``to_dict()`` as JSON to ``path`` (atomically)."""
        atomic_write_json(path, self.to_dict(), indent=2)

    @classmethod
    def load(cls, path) -> Genotype:
        """Read a genotype written by ``save``."""
        with open(path) as f:
            return cls.from_dict(json.load(f))

    def nb201_string(self) -> str:
        """NAS-Bench-201 form ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        (kind,) = self.cells
        nodes: dict[int, list[str]] = {}
        for op, i, j in self.cells[kind]:
            nodes.setdefault(j, []).append(f"{op}~{i}")
        return "+".join("|" + "|".join(nodes[j]) + "|" for j in sorted(nodes))

    def darts_string(self) -> str:
        """DARTS ``Genotype(normal=[(op, input), ...], normal_concat=..., reduce=..., reduce_concat=...)``."""
        parts = []
        for kind in self.cells:
            pairs = ", ".join(f"('{op}', {i})" for op, i, _ in self.cells[kind])
            parts.append(f"{kind}=[{pairs}], {kind}_concat={self.concat.get(kind)}")
        return "Genotype(" + ", ".join(parts) + ")"

    def __str__(self) -> str:
        spec = SPACES[self.space] if self.space in SPACES else None
        if spec is not None and spec.n_inputs == 1 and len(self.cells) == 1:
            return self.nb201_string()
        return self.darts_string()

    @classmethod
    def from_nb201_string(cls, s: str) -> Genotype:
        """Parse NAS-Bench-201's ``|op~0|+|op~0|op~1|+|...|`` string."""
        cells = []
        for j, node in enumerate(s.split("+"), start=1):
            for token in filter(None, node.split("|")):
                op, i = token.split("~")
                cells.append((op, int(i), j))
        return cls("nb201", {"cell": cells}, {"cell": [j]})


def _darts_like(name: str, ops: tuple[str, ...], n_nodes: int = 4) -> SearchSpace:
    return SearchSpace(
        name=name,
        ops=ops,
        cell_kinds=("normal", "reduce"),
        n_inputs=2,
        n_nodes=n_nodes,
        output="concat",
        derivation="top_k",
        inputs_per_node=2,
        stem_multiplier=3,
    )


_BUILTIN_SPACES: dict[str, SearchSpace] = {
    "nb201": SearchSpace(
        name="nb201",
        ops=NB201_OPS,
        cell_kinds=("cell",),
        n_inputs=1,
        n_nodes=3,
        output="last",
        derivation="all_edges",
        pool_bn=False,
    ),
    "darts": _darts_like("darts", DARTS_OPS),
    # VINNAS layouts: M (I = 2 states), F (I = 3), C (I = 4); K = 10 operations.
    # M searches a single reduction cell (l = 1), so its only cell kind is "reduce" (layout "R").
    "vinnas_m": replace(_darts_like("vinnas_m", VINNAS_OPS, n_nodes=2), cell_kinds=("reduce",)),
    "vinnas_f": _darts_like("vinnas_f", VINNAS_OPS, n_nodes=3),
    "vinnas_c": _darts_like("vinnas_c", VINNAS_OPS, n_nodes=4),
    **{f"rdarts_{s}": _darts_like(f"rdarts_{s}", ops) for s, ops in RDARTS_OPS.items()},
}


SPACES: Registry[SearchSpace] = Registry("search space", "a SearchSpace instance (ops, cell kinds, nodes)")
for _name, _space in _BUILTIN_SPACES.items():
    SPACES.register(_name, _space)


def get_space(name: str, where: str = "space") -> SearchSpace:
    """Look up a search space by name; ``RegistryError`` naming ``where`` and the known ones otherwise."""
    return SPACES.get(name, where)


def layout_for(space: SearchSpace, layers: int) -> str:
    """Macro layout string of a supernet: ``N`` normal cell, ``R`` reduction cell,
    ``B`` fixed residual reduction block (NAS-Bench-201 skeleton).

    NAS-Bench-201: ``layers`` cells per stage, 3 stages joined by residual blocks.
    DARTS-like: ``layers`` cells with reductions at 1/3 and 2/3 of the depth.
    """
    if space.n_inputs == 1:
        return "B".join(["N" * layers] * 3)
    return "".join("R" if i in (layers // 3, 2 * layers // 3) else "N" for i in range(layers))
