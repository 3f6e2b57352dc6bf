"""Per-epoch curves of a run: anytime architecture weights (op probabilities per epoch on chosen edges;
VIM-NAS Fig. 2, 6-9), skip-connections in the derived normal cell (BaLeNAS Fig. 2), the dominant Hessian
eigenvalue of the architecture-split loss (Zela et al. 2020; BaLeNAS Fig. 3; DrNAS Fig. 4) and the benchmark
accuracy of the derived genotype."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pyronas.analysis.plots.common import SKIP, _save, edge_names, op_names
from pyronas.nn.spaces import Genotype, SearchSpace

__all__ = [
    "anytime_op_probs",
    "hessian_curve",
    "plot_anytime_weights",
    "plot_benchmark",
    "plot_hessian",
    "plot_skip_counts",
    "skip_counts",
]


# --- anytime weights -------------------------------------------------------------------------
def anytime_op_probs(history: Sequence[dict], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs ``[T]`` and op probabilities ``[T, edges, ops]`` of ``kind`` (epochs missing it are skipped)."""
    epochs, probs = [], []
    for rec in history:
        p = (rec.get("op_probs") or {}).get(kind)
        if p is None:
            continue
        arr = np.asarray(p, dtype=float)
        if arr.ndim != 2 or (probs and arr.shape != probs[0].shape):
            continue
        epochs.append(float(rec["epoch"]))
        probs.append(arr)
    if not probs:
        return np.zeros(0), np.zeros((0, 0, 0))
    return np.asarray(epochs), np.stack(probs)


def plot_anytime_weights(
    history: Sequence[dict],
    space: SearchSpace,
    path: str | os.PathLike,
    kind: str | None = None,
    edges: Sequence[str] | None = None,
) -> Path:
    """Op probabilities per epoch, one panel per edge (labels like ``"2<-0"``; default all edges)."""
    kind = kind or space.cell_kinds[0]
    epochs, probs = anytime_op_probs(history, kind)
    if not len(epochs):
        raise ValueError(f"history has no op_probs for cell kind {kind!r}")
    labels = edge_names(space, probs.shape[1])
    chosen = [labels.index(e) for e in edges] if edges else list(range(len(labels)))
    ops = op_names(space, probs.shape[2])
    cols = min(len(chosen), 4)
    rows = math.ceil(len(chosen) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for ax, e in zip(axes.flat, chosen, strict=False):
        for o, name in enumerate(ops):
            ax.plot(epochs, probs[:, e, o], marker="." if len(epochs) < 20 else None, label=name)
        ax.set_title(f"{kind} edge {labels[e]}", fontsize=9)
        ax.set_ylim(0, 1)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("op probability")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=min(len(ops), 5), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.4 * rows + 0.6)))
    return _save(fig, path)


# --- per-epoch curves ------------------------------------------------------------------------
def skip_counts(history: Sequence[dict], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and the number of ``skip_connect`` edges in the derived cell ``kind`` per epoch."""
    epochs, counts = [], []
    for rec in history:
        g = rec.get("genotype")
        try:
            cell = Genotype.from_dict(g).cells[kind] if isinstance(g, dict) else None
        except (KeyError, TypeError, ValueError):
            cell = None
        if cell is None:
            continue
        epochs.append(float(rec["epoch"]))
        counts.append(sum(op == SKIP for op, _, _ in cell))
    return np.asarray(epochs), np.asarray(counts)


def plot_skip_counts(history: Sequence[dict], path: str | os.PathLike, kind: str) -> Path:
    """Skip-connections in the derived ``kind`` cell per epoch (BaLeNAS Fig. 2)."""
    epochs, counts = skip_counts(history, kind)
    if not len(epochs):
        raise ValueError(f"history has no genotypes with cell kind {kind!r}")
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(epochs, counts, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"# {SKIP} in {kind} cell")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def hessian_curve(metrics: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and finite ``hessian_eig`` values of the metrics (epoch = record's ``epoch`` or index)."""
    epochs, eigs = [], []
    for i, rec in enumerate(metrics):
        v = rec.get("hessian_eig")
        if isinstance(v, int | float) and math.isfinite(v):
            epochs.append(float(rec.get("epoch", i)))
            eigs.append(float(v))
    return np.asarray(epochs), np.asarray(eigs)


def plot_hessian(metrics: Sequence[dict], path: str | os.PathLike) -> Path:
    """Dominant eigenvalue of ∇²_α L_valid per epoch (Zela et al. 2020)."""
    epochs, eigs = hessian_curve(metrics)
    if not len(epochs):
        raise ValueError("metrics have no finite 'hessian_eig'")
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(epochs, eigs, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"dominant eigenvalue of $\nabla^2_\alpha \mathcal{L}_{valid}$")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_benchmark(metrics: Sequence[dict], path: str | os.PathLike) -> Path:
    """Benchmark (NAS-Bench-201) validation accuracy of the derived genotype per epoch
    (``benchmark_val_acc``, written by the ``benchmark`` callback)."""
    points = [(float(r.get("epoch", i)), float(r["benchmark_val_acc"])) for i, r in enumerate(metrics)
              if isinstance(r.get("benchmark_val_acc"), int | float)]
    if not points:
        raise ValueError("metrics have no 'benchmark_val_acc'")
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(*zip(*points, strict=False), marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("benchmark validation accuracy (%)")
    ax.set_title("derived genotype on the NAS-Bench-201 table")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
