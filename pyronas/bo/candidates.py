"""Discrete candidate sets over which a BO acquisition is maximised.

Small spaces (``all_edges`` derivation, e.g. NAS-Bench-201 with 5^6 = 15,625 cells) are enumerated
exhaustively; larger ones are covered by uniformly random genotypes plus local mutations (one edge's
operation or input changed) of the current best architectures. Pure Python/torch (no Pyro).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from pyronas.nn.spaces import Genotype, SearchSpace


def key(genotype: Genotype) -> str:
    """Canonical string of a genotype (NAS-Bench-201 or DARTS form)."""
    return str(genotype)


def can_enumerate(space: SearchSpace, max_size: int) -> bool:
    """Whether every architecture of ``space`` can be scored (all-edges derivation and at most ``max_size``)."""
    return space.derivation == "all_edges" and space.size() <= max_size


def enumerate_op_indices(space: SearchSpace) -> torch.Tensor:
    """All architectures of an ``all_edges`` space as op indices ``[size, kinds * edges]``."""
    if space.derivation != "all_edges":
        raise ValueError(f"space {space.name!r} derives top-k edges; only all_edges spaces are enumerable")
    n = len(space.cell_kinds) * space.num_edges
    return torch.tensor(list(itertools.product(range(space.num_ops), repeat=n)), dtype=torch.long)


def row_of(space: SearchSpace, genotype: Genotype) -> int:
    """Row of ``genotype`` in ``enumerate_op_indices(space)`` (lexicographic order of the op indices)."""
    row = 0
    for kind in space.cell_kinds:
        for op, _, _ in sorted(genotype.cells[kind], key=lambda t: (t[2], t[1])):
            row = row * space.num_ops + space.ops.index(op)
    return row


def within(idx: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """Mask of the rows of op indices ``idx`` within ``radius`` edges (Hamming distance) of a row of ``centres``."""
    return (idx[:, None, :] != centres[None]).sum(-1).min(1).values <= radius


def encode_op_indices(space: SearchSpace, idx: torch.Tensor) -> torch.Tensor:
    """One-hot encodings ``[N, kinds * edges * ops]`` (same layout as ``SearchSpace.encode``)."""
    return F.one_hot(idx, space.num_ops).flatten(1).to(torch.get_default_dtype())


def decode_op_indices(space: SearchSpace, idx: torch.Tensor) -> Genotype:
    """The genotype of one row of op indices of an ``all_edges`` space."""
    idx = idx.view(len(space.cell_kinds), space.num_edges)
    cells = {
        kind: [(space.ops[int(idx[c, e])], i, j) for e, (i, j) in enumerate(space.edges)]
        for c, kind in enumerate(space.cell_kinds)
    }
    last = [space.n_inputs + space.n_nodes - 1] if space.output == "last" else None
    concat = list(range(space.n_inputs, space.n_inputs + space.n_nodes))
    return Genotype(space.name, cells, {kind: last or concat for kind in space.cell_kinds})


def _randint(n: int, generator: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=generator))


def _canonical(cell: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    return sorted(cell, key=lambda t: (t[2], t[1]))


def mutate(space: SearchSpace, genotype: Genotype, generator: torch.Generator) -> Genotype:
    """Change one edge: its operation (another op; not ``none`` under top-k) or, under top-k, its input node."""

    def randint(n: int) -> int:
        return _randint(n, generator)

    kind = space.cell_kinds[randint(len(space.cell_kinds))]
    cell = list(genotype.cells[kind])
    e = randint(len(cell))
    op, i, j = cell[e]
    allowed = [o for o in space.ops if o != op and (space.derivation == "all_edges" or o != "none")]
    sources = [s for s in range(j) if s not in {src for _, src, dst in cell if dst == j}]
    if space.derivation == "top_k" and sources and (not allowed or randint(2) == 0):
        cell[e] = (op, sources[randint(len(sources))], j)
    elif allowed:
        cell[e] = (allowed[randint(len(allowed))], i, j)
    cells = dict(genotype.cells)
    cells[kind] = _canonical(cell)
    return Genotype(genotype.space, cells, dict(genotype.concat))


def candidate_genotypes(
    space: SearchSpace,
    parents: list[Genotype],
    n_random: int,
    n_mutations: int,
    generator: torch.Generator,
) -> list[Genotype]:
    """Random genotypes plus ``n_mutations`` mutants (1-2 steps) of the ``parents``, de-duplicated."""
    out: dict[str, Genotype] = {}
    for _ in range(n_random):
        g = space.random_genotype(generator)
        out.setdefault(key(g), g)
    for m in range(n_mutations if parents else 0):
        g = parents[m % len(parents)]
        for _ in range(1 + _randint(2, generator)):
            g = mutate(space, g, generator)
        out.setdefault(key(g), g)
    return list(out.values())
