"""Input encodings of the BO surrogate: what the GP kernel sees of a cell (``bo.encoding``).

- ``onehot`` (default): the one-hot op of every edge, ``[kinds * edges * ops]`` (``SearchSpace.encode``);
  distances count edges whose op differs.
- ``paths``: the path encoding of BANANAS (White, Neiswanger & Savani 2021, Sec. 3; White et al. 2020, "A Study
  on Encodings for Neural Architecture Search"): for every operation sequence ``(o_1, ..., o_k)`` without
  ``none``, the number of input-to-output routes of the cell DAG whose edges carry exactly those ops,

      phi_s(x) = sum_{routes r, |r| = |s|}  prod_{i} [x_{r_i} = s_i],

  so two cells that differ in which edge carries an op but compute the same sums of op compositions are
  close, and a ``none`` edge removes every route through it.
- ``paths_noskip``: the same with ``skip_connect`` dropped from every sequence (an identity composes to
  nothing), so a route of two skips and a direct skip are one feature, the identity path ``()``.

- ``wl``: the Weisfeiler-Lehman features of NAS-BOWL (``pyronas.bo.wl``): unit-norm counts of the op-on-node
  graph's WL labels of iterations ``0..h`` (``bo.wl_iterations``), so the dot product of two rows is the normalised
  WL kernel; for ``kernel: wl``.

Path and WL encodings need a single-input cell whose every edge is kept (``all_edges``, NAS-Bench-201-like): under top-k
derivation the routes depend on which edges are kept, which the one-hot layout does not fix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from pyronas.bo.wl import wl_features
from pyronas.errors import ConfigError
from pyronas.nn.spaces import SearchSpace

ENCODINGS = ("onehot", "paths", "paths_noskip", "wl")
WL_MAX_CELLS = 100_000


def routes(space: SearchSpace) -> list[tuple[int, ...]]:
    """Edge-index sequences of every route from the input node 0 to the output node (the last one)."""
    out_node = space.n_inputs + space.n_nodes - 1
    edge_of = {ij: e for e, ij in enumerate(space.edges)}
    found: list[tuple[int, ...]] = []

    def walk(node: int, path: tuple[int, ...]) -> None:
        if node == out_node:
            found.append(path)
            return
        for (i, j), e in edge_of.items():
            if i == node:
                walk(j, path + (e,))

    walk(0, ())
    return sorted(found, key=lambda p: (len(p), p))


def check_encoding(space: SearchSpace, encoding: str) -> None:
    """Refuse an encoding the space cannot have, naming the key and the fix."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"bo.encoding: unknown {encoding!r}; known: {', '.join(ENCODINGS)}")
    if encoding != "onehot" and (space.derivation != "all_edges" or space.n_inputs != 1
                                 or len(space.cell_kinds) != 1 or space.output != "last"):
        raise ConfigError(f"bo.encoding: {encoding!r} needs a single-input cell with every edge kept and the last "
                          f"node as output (NAS-Bench-201-like); space {space.name!r} is not one. Use encoding: onehot")
    if encoding == "wl" and space.size() > WL_MAX_CELLS:
        raise ConfigError(f"bo.encoding: 'wl' builds its label vocabulary over every cell, at most {WL_MAX_CELLS:,}; "
                          f"space {space.name!r} has {space.size():,}. Use encoding: onehot")


def path_features(space: SearchSpace, drop_skip: bool = False) -> tuple[list[tuple[str, ...]], list[list[int]]]:
    """The feature names (op sequences) and, per feature, the one-hot columns of each (route, op assignment)
    product that counts towards it, flattened as ``[c_1, ..., c_k]`` lists."""
    ops = [o for o in space.ops if o != "none"]
    names: dict[tuple[str, ...], int] = {}
    terms: list[tuple[int, list[int]]] = []
    for route in routes(space):
        for seq in itertools.product(ops, repeat=len(route)):
            name = tuple(o for o in seq if not (drop_skip and o == "skip_connect"))
            f = names.setdefault(name, len(names))
            terms.append((f, [e * space.num_ops + space.ops.index(o) for e, o in zip(route, seq, strict=True)]))
    by_feature: list[list[list[int]]] = [[] for _ in names]
    for f, cols in terms:
        by_feature[f].append(cols)
    return list(names), by_feature  # type: ignore[return-value]


def encoder(
    space: SearchSpace, encoding: str = "onehot", wl_iterations: int = 1
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map from one-hot rows ``[N, edges * ops]`` (``SearchSpace.encode``) to the GP's inputs."""
    check_encoding(space, encoding)
    if encoding == "onehot":
        return lambda X: X
    if encoding == "wl":
        _, phi = wl_features(space, wl_iterations)
        place = space.num_ops ** torch.arange(space.num_edges - 1, -1, -1)  # row of the op indices (edge 0 slowest)

        def encode_wl(X: torch.Tensor) -> torch.Tensor:
            idx = X.view(X.shape[0], space.num_edges, space.num_ops).argmax(-1)
            return phi[(idx * place).sum(1)].to(X.dtype)

        return encode_wl
    _, by_feature = path_features(space, drop_skip=encoding == "paths_noskip")

    def encode(X: torch.Tensor) -> torch.Tensor:
        cols = []
        for products in by_feature:
            total = X.new_zeros(X.shape[0])
            for c in products:
                total = total + X[:, c].prod(dim=1)
            cols.append(total)
        return torch.stack(cols, dim=1)

    return encode
