"""Weisfeiler-Lehman features of a cell DAG, the graph kernel of NAS-BOWL (``bo.encoding: wl``).

Ru, Wan, Dong & Osborne (2021), "Interpretable Neural Architecture Search via Bayesian Optimisation with
Weisfeiler-Lehman Kernels", Sec. 3.1: a cell becomes a directed graph whose nodes carry the operations (one node per
edge of the NAS-Bench-201 cell, plus ``input`` and ``output``); WL relabelling at iteration ``t``

    l_{t+1}(v) = ( l_t(v), sorted multiset { l_t(u) : u -> v } )

compresses each node's label with those of its predecessors, so that after ``h`` iterations a label names a
sub-path of up to ``h + 1`` operations ending at ``v``. The feature vector of a graph ``G`` counts every label of
iterations ``0..h``,

    phi(G) = ( #{v : l_t(v) = s} )_{t <= h, s},      k_WL(G, G') = <phi(G), phi(G')>,

and the kernel is normalised, ``k(G, G') / sqrt(k(G, G) k(G', G'))`` (Eq. 3 with the normalisation of Sec. 3.1):
here the rows of ``phi`` are scaled to unit norm, so a dot product of two rows is the normalised kernel.

Choices the paper leaves open, made here: a ``none`` edge is no node, and an operation node that lies on no
input-to-output route is dropped (it cannot change the output), so cells that compute the same function through
the same routes share features; labels propagate along the edges' direction (predecessors).
"""

from __future__ import annotations

import functools

import torch

from pyronas.bo.candidates import enumerate_op_indices
from pyronas.nn.spaces import SearchSpace


def op_graph(space: SearchSpace, ops: tuple[str, ...]) -> tuple[list[str], list[list[int]]]:
    """The op-on-node graph of one cell: labels ``['input', op..., 'output']`` and the predecessors of each node.

    ``ops[e]`` is the op of ``space.edges[e]``; edge ``(i, j)`` becomes a node fed by every kept edge into ``i``
    (or by ``input`` when ``i = 0``), feeding every kept edge out of ``j`` (or ``output`` for the last node).
    """
    out_node = space.n_inputs + space.n_nodes - 1
    kept = [e for e, o in enumerate(ops) if o != "none"]
    into = {e: [f for f in kept if space.edges[f][1] == space.edges[e][0]] for e in kept}
    # an op node is alive when it is reachable from the input and reaches the output
    alive = set(kept)
    while True:
        fed = {e for e in alive if space.edges[e][0] == 0 or any(f in alive for f in into[e])}
        feeds = {e for e in fed if space.edges[e][1] == out_node
                 or any(space.edges[f][0] == space.edges[e][1] for f in fed)}
        if feeds == alive:
            break
        alive = feeds
    nodes = sorted(alive)
    pos = {e: k + 1 for k, e in enumerate(nodes)}
    labels = ["input"] + [ops[e] for e in nodes] + ["output"]
    preds: list[list[int]] = [[]]
    for e in nodes:
        preds.append([0] if space.edges[e][0] == 0 else [pos[f] for f in into[e] if f in alive])
    preds.append([pos[e] for e in nodes if space.edges[e][1] == out_node])
    return labels, preds


def wl_labels(labels: list[str], preds: list[list[int]], h: int) -> list[str]:
    """Every node label of WL iterations ``0..h`` (Eq. above), written ``op(pred_1,pred_2)`` with the predecessors'
    labels sorted: ``nor_conv_3x3(input)`` at iteration 1, ``skip_connect(nor_conv_3x3)(nor_conv_3x3(input))`` at 2."""
    current = list(labels)
    found = list(current)
    for _ in range(h):
        current = [f"{current[v]}({','.join(sorted(current[u] for u in preds[v]))})" for v in range(len(labels))]
        found.extend(current)
    return found


@functools.lru_cache(maxsize=4)
def wl_features(space: SearchSpace, h: int) -> tuple[dict[str, int], torch.Tensor]:
    """The vocabulary (label -> column) and the unit-norm WL count vectors of every cell, rows ordered as the op
    indices of ``pyronas.bo.candidates.enumerate_op_indices`` (edge 0's op varies slowest); cached per space and ``h``
    (one pass over the 15,625 NAS-Bench-201 cells takes about 2 s at ``h = 1``)."""
    vocab: dict[str, int] = {}
    rows: list[dict[int, int]] = []
    for idx in enumerate_op_indices(space).tolist():
        counts: dict[int, int] = {}
        for lab in wl_labels(*op_graph(space, tuple(space.ops[i] for i in idx)), h):
            col = vocab.setdefault(lab, len(vocab))
            counts[col] = counts.get(col, 0) + 1
        rows.append(counts)
    phi = torch.zeros(len(rows), len(vocab))
    for r, counts in enumerate(rows):
        phi[r, list(counts)] = torch.tensor(list(counts.values()), dtype=phi.dtype)
    return vocab, phi / phi.norm(dim=1, keepdim=True)
