"""The leader of a noisy search: the evaluated architecture with the best *mean* observation.

An architecture queried k times (``bo.replicate``; regularised evolution re-queries too) is judged by the mean of
its k observations, so one lucky training seed does not make a runner-up the winner. ``pyronas.bo.loop.BayesOpt``
(best observed, the leader it re-evaluates) and ``pyronas.bench.blackbox`` (how a run is scored) share this code.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

__all__ = ["cell_means", "leader", "running_leaders"]


def cell_means(keys: Sequence[K], values: Sequence[float]) -> dict[K, tuple[float, int]]:
    """``key -> (mean of its values, number of values)``, in the order the keys first occur."""
    sums: dict[K, list] = {}
    for k, v in zip(keys, values, strict=True):
        acc = sums.setdefault(k, [0.0, 0])
        acc[0] += v
        acc[1] += 1
    return {k: (t / c, c) for k, (t, c) in sums.items()}


def leader(means: dict[K, tuple[float, int]]) -> K:
    """The key with the highest mean in ``cell_means``' output (the first to occur on ties)."""
    return max(means, key=lambda k: means[k][0])


def running_leaders(keys: Sequence[K], values: Sequence[float]) -> list[tuple[K, float]]:
    """After each observation t: ``(leader, its mean)`` over the observations ``0 .. t``,
    ``r*_t = argmax_r mean{v_s : s <= t, key_s = r}`` (the key that occurred first wins a tie). For a search that
    never repeats a key this is the best single observation so far."""
    sums: dict[K, float] = {}
    counts: dict[K, int] = {}
    out: list[tuple[K, float]] = []
    for k, v in zip(keys, values, strict=True):
        sums[k], counts[k] = sums.get(k, 0.0) + v, counts.get(k, 0) + 1
        best = max(sums, key=lambda c: sums[c] / counts[c])  # dicts keep first-occurrence order: first on ties
        out.append((best, sums[best] / counts[best]))
    return out
