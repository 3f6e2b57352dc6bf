"""Edges x ops heatmaps: the final op probabilities per cell kind, positive SNR μ/σ² and magnitude μ of a
Gaussian guide (``pyronas.select.rules.positive_snr``, what the ``snr`` rule selects by; VINNAS Sec. IV,
Fig. 3-5), and the correlation matrix of α under q."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pyronas.analysis.plots.common import _save, edge_names, op_names
from pyronas.nn.spaces import SearchSpace
from pyronas.select.rules import positive_snr

__all__ = [
    "op_heatmap_figure",
    "plot_alpha_correlation",
    "plot_op_heatmap",
    "plot_snr",
]


# --- heatmaps --------------------------------------------------------------------------------
def _heatmap(fig: Figure, ax, v: np.ndarray, space: SearchSpace, title: str, cmap: str, vmin=None, vmax=None):
    """Edges x ops heatmap of ``v`` on ``ax``, annotated when small."""
    im = ax.imshow(v, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(v.shape[1]), op_names(space, v.shape[1]), rotation=60, ha="right", fontsize=8)
    labels = edge_names(space, v.shape[0])
    ax.set_yticks(range(v.shape[0]), labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    if v.size <= 200:
        for (i, j), x in np.ndenumerate(v):
            r, g, b, _ = im.cmap(im.norm(x))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, f"{x:.2g}", ha="center", va="center", fontsize=6, color="w" if dark else "k")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def _heatmap_grid(rows: list[tuple[str, dict[str, np.ndarray], str, tuple]], space: SearchSpace, path) -> Path:
    """One row per (title, {kind: [E, O]}, cmap, (vmin, vmax)), one column per cell kind."""
    return _save(_heatmap_grid_figure(rows, space), path)


def _heatmap_grid_figure(rows: list[tuple[str, dict[str, np.ndarray], str, tuple]], space: SearchSpace) -> Figure:
    kinds = list(rows[0][1])
    fig = Figure(figsize=(1.5 + 0.8 * space.num_ops * len(kinds), (1.8 + 0.3 * space.num_edges) * len(rows)))
    axes = fig.subplots(len(rows), len(kinds), squeeze=False)
    for r, (title, values, cmap, (vmin, vmax)) in enumerate(rows):
        for c, kind in enumerate(kinds):
            v = np.asarray(values[kind], dtype=float)
            _heatmap(fig, axes[r, c], v, space, f"{title}: {kind}", cmap, vmin, vmax)
    fig.tight_layout()
    return fig


def op_heatmap_figure(op_probs: dict[str, np.ndarray], space: SearchSpace) -> Figure:
    """Heatmap figure of op probabilities, edges x ops, one panel per cell kind."""
    return _heatmap_grid_figure([("op probability", op_probs, "viridis", (0.0, 1.0))], space)


def plot_alpha_correlation(corr, path: str | os.PathLike) -> Path:
    """Heatmap of α's correlation matrix between (cell, edge, op) coordinates (a DataArray with
    ``"cell/edge/op"`` labels, ``diagnostics.alpha_correlation``), edges separated by grid lines."""
    labels = [str(v) for v in corr.coords["param"].values]
    v = np.asarray(corr.values, dtype=float)
    n = len(labels)
    fig = Figure(figsize=(2.0 + 0.13 * n, 1.5 + 0.13 * n))
    ax = fig.subplots()
    im = ax.imshow(v, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ticks = [i for i, lab in enumerate(labels) if n <= 60 or lab.endswith(labels[0].split("/")[-1])]
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=5)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=5)
    edges = ["/".join(lab.split("/")[:2]) for lab in labels]
    for i in range(1, n):
        if edges[i] != edges[i - 1]:
            ax.axhline(i - 0.5, color="0.6", lw=0.4)
            ax.axvline(i - 0.5, color="0.6", lw=0.4)
    ax.set_title("correlation of α under q (cell/edge/op)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


def plot_op_heatmap(op_probs: dict[str, np.ndarray], space: SearchSpace, path: str | os.PathLike) -> Path:
    """Heatmap of final op probabilities, edges x ops, one panel per cell kind."""
    return _save(op_heatmap_figure(op_probs, space), path)


def plot_snr(loc_scale: dict[str, tuple], space: SearchSpace, path: str | os.PathLike) -> Path:
    """Positive SNR μ/σ² (top row; the selection's own function, signed) and magnitude μ (bottom row) per op
    and edge of every cell kind."""
    mus = {k: np.asarray(m, dtype=float) for k, (m, _) in loc_scale.items()}
    snr = {k: positive_snr(mus[k], np.asarray(s, dtype=float)) for k, (_, s) in loc_scale.items()}
    lim = max(float(np.abs(m).max()) for m in mus.values()) or 1.0
    rows = [("positive SNR μ/σ²", snr, "magma", (None, None)), ("magnitude μ", mus, "coolwarm", (-lim, lim))]
    return _heatmap_grid(rows, space, path)
