"""Figures of a search run (PNG, matplotlib without pyplot, so no global backend is touched).

* anytime architecture weights: op probabilities per epoch on chosen edges (VIM-NAS Fig. 2, 6-9);
* heatmap of the final op probabilities (edges x ops) per cell kind;
* positive SNR μ/σ² (``pyronas.select.rules.positive_snr``, what the ``snr`` rule selects by) and magnitude μ
  per op and edge of a Gaussian guide (VINNAS Sec. IV, Fig. 3-5);
* the derived cell as a diagram (Graphviz through the Python ``graphviz`` package when it and the
  ``dot`` binary are installed -- Debian: ``apt-get install graphviz`` -- else matplotlib);
* number of skip-connections in the derived normal cell per epoch (BaLeNAS Fig. 2);
* dominant Hessian eigenvalue of the architecture-split loss per epoch (Zela et al. 2020; BaLeNAS Fig. 3;
  DrNAS Fig. 4).

Inputs are read defensively from a run folder: ``history.json`` (a list of per-epoch dicts with
``epoch``, ``op_probs`` ``{kind: [[...]]}`` and ``genotype``) and ``metrics.json`` (a list of
per-epoch dicts, ``hessian_eig`` when tracked).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pyronas.nn.spaces import Genotype, SearchSpace
from pyronas.select.rules import positive_snr

logger = logging.getLogger(__name__)

SKIP = "skip_connect"


# --- reading a run ---------------------------------------------------------------------------
def _read_json_list(path: Path, key: str) -> list[dict]:
    """A list of dicts from ``path`` (also accepts ``{key: [...]}``); [] when missing or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        logger.warning("cannot read %s: %s", path, err)
        return []
    if isinstance(data, dict):
        data = data.get(key, data.get("epochs", []))
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def load_history(run_dir: str | os.PathLike) -> list[dict]:
    """Per-epoch records of ``history.json`` that carry an epoch (sorted by epoch)."""
    records = [r for r in _read_json_list(Path(run_dir) / "history.json", "history") if "epoch" in r]
    return sorted(records, key=lambda r: r["epoch"])


def load_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """Per-epoch dicts of ``metrics.json``."""
    return _read_json_list(Path(run_dir) / "metrics.json", "metrics")


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def op_names(space: SearchSpace, n: int) -> list[str]:
    """Names of ``n`` ops: the space's (``n`` = its op count), else ``"op <i>"``. The one naming of the
    ops in history, TensorBoard, ArviZ coords and plots."""
    return list(space.ops) if n == space.num_ops else [f"op {i}" for i in range(n)]


def edge_names(space: SearchSpace, n: int) -> list[str]:
    """Names of ``n`` edges: the space's ``"target<-source"`` labels (``space.edge_labels()``, ArviZ's
    ``edge`` coord) when ``n`` is its edge count, else ``"edge <i>"``."""
    return space.edge_labels() if n == space.num_edges else [f"edge {i}" for i in range(n)]



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


# --- the derived cell ------------------------------------------------------------------------
INPUT_COLOR, NODE_COLOR, OUTPUT_COLOR = "#b4eeb4", "#add8e6", "#eee8aa"  # darkseagreen2, lightblue, palegoldenrod


def _node_name(space: SearchSpace, node: int) -> str:
    """DARTS-style names (c_{k-2}, c_{k-1}, 0, 1, ...) for two-input cells; raw node ids otherwise."""
    if space.n_inputs != 2:
        return f"in {node}" if node < space.n_inputs else str(node)
    return ["c_{k-2}", "c_{k-1}"][node] if node < 2 else str(node - 2)


def _cell_outputs(genotype: Genotype, kind: str, space: SearchSpace) -> list[int]:
    """Nodes feeding the cell output: the genotype's concat, else the last node."""
    return list(genotype.concat.get(kind) or [space.n_inputs + space.n_nodes - 1])


def cell_graph(genotype: Genotype, kind: str, space: SearchSpace):
    """The derived cell ``kind`` as a ``graphviz.Digraph`` (inputs green, intermediates blue, output
    yellow, one labelled edge per kept op). Needs the Python ``graphviz`` package (``pyronas[graph]``)."""
    import graphviz

    font = {"fontname": "Helvetica"}
    g = graphviz.Digraph("cell", graph_attr={"rankdir": "LR", "label": kind, "labelloc": "t", "dpi": "110", **font},
                         node_attr={"style": "filled,rounded", "shape": "box", **font},
                         edge_attr={"fontsize": "11", **font})
    nodes = {i for _, s, t in genotype.cells[kind] for i in (s, t)} | set(range(space.n_inputs))
    for n in sorted(nodes):
        g.node(f"n{n}", _node_name(space, n), fillcolor=INPUT_COLOR if n < space.n_inputs else NODE_COLOR)
    g.node("out", "c_{k}", fillcolor=OUTPUT_COLOR)
    for op, s, t in genotype.cells[kind]:
        g.edge(f"n{s}", f"n{t}", label=op)
    for n in _cell_outputs(genotype, kind, space):
        g.edge(f"n{n}", "out", color="gray")
    return g


def cell_dot(genotype: Genotype, kind: str, space: SearchSpace) -> str:
    """DOT source of ``cell_graph``."""
    return cell_graph(genotype, kind, space).source


@functools.cache
def _warn_once(message: str) -> None:
    logger.warning(message)


def render_cell(
    genotype: Genotype, kind: str, space: SearchSpace, fmt: str = "png", use_graphviz: bool = True
) -> bytes:
    """The cell diagram encoded as ``fmt`` (``png``, ``pdf``, ``svg``): Graphviz's ``dot`` through the
    Python ``graphviz`` package when both are installed (and allowed), else matplotlib."""
    if use_graphviz:
        try:
            import graphviz
        except ImportError:
            _warn_once("the Python graphviz package is not installed (pip install 'pyronas[graph]'); "
                       "drawing cells with matplotlib")
        else:
            try:
                return cell_graph(genotype, kind, space).pipe(format=fmt)
            except graphviz.ExecutableNotFound:
                _warn_once("Graphviz's `dot` is not on PATH (Debian: apt-get install graphviz); "
                           "drawing cells with matplotlib")
            except graphviz.CalledProcessError as err:
                logger.warning("graphviz failed (%s); drawing the cell with matplotlib", str(err).strip())
    buf = io.BytesIO()
    fig = _cell_figure_matplotlib(genotype, kind, space)
    FigureCanvasAgg(fig)
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight")
    return buf.getvalue()


def plot_cell(
    genotype: Genotype, kind: str, space: SearchSpace, path: str | os.PathLike, use_graphviz: bool = True
) -> Path:
    """Diagram of a derived cell in the format of ``path``'s suffix (``.png``, ``.pdf``, ``.svg``)."""
    path = Path(path)
    data = render_cell(genotype, kind, space, path.suffix.lstrip(".").lower() or "png", use_graphviz)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _cell_figure_matplotlib(genotype: Genotype, kind: str, space: SearchSpace) -> Figure:
    edges = genotype.cells[kind]
    pos = {}
    for n in range(space.n_inputs):
        pos[n] = (0.0, (n + 0.5) / space.n_inputs)
    for j in range(space.n_nodes):
        pos[space.n_inputs + j] = (1.0 + j, 0.5 + (0.2 if j % 2 else -0.2))
    pos["out"] = (float(space.n_nodes + 1), 0.5)
    fig = Figure(figsize=(2.0 + 1.6 * space.n_nodes, 3.2))
    ax = fig.subplots()
    ax.set_xlim(-0.5, space.n_nodes + 1.5)
    ax.set_ylim(-0.1, 1.1)
    style = {"arrowstyle": "->", "shrinkA": 14, "shrinkB": 14}
    to_px, to_data = ax.transData.transform, ax.transData.inverted().transform
    for op, s, t in edges:
        rad = (0.3 if s % 2 else -0.3) if (t - s) > 1 else 0.0
        ax.annotate("", pos[t], pos[s], arrowprops={**style, "connectionstyle": f"arc3,rad={rad}"})
        # label at the middle of matplotlib's arc3 quadratic Bezier (control point in display space)
        (x0, y0), (x1, y1) = to_px(pos[s]), to_px(pos[t])
        mid = ((x0 + x1) / 2 + rad * (y1 - y0) / 2, (y0 + y1) / 2 - rad * (x1 - x0) / 2)
        ax.text(*to_data(mid), op, fontsize=7, ha="center", va="center", bbox={"fc": "w", "ec": "none", "pad": 0.5})
    for n in _cell_outputs(genotype, kind, space):
        ax.annotate("", pos["out"], pos[n], arrowprops={**style, "color": "gray"})
    for n, (x, y) in pos.items():
        label = "c_{k}" if n == "out" else _node_name(space, n)
        color = OUTPUT_COLOR if n == "out" else (INPUT_COLOR if n < space.n_inputs else NODE_COLOR)
        ax.text(x, y, label, ha="center", va="center", bbox={"boxstyle": "round", "fc": color}, fontsize=9)
    ax.axis("off")
    ax.set_title(kind)
    return fig


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


# --- everything for one run ------------------------------------------------------------------
def plot_run(
    run_dir: str | os.PathLike,
    space: SearchSpace,
    out_dir: str | os.PathLike | None = None,
    guide=None,
    genotype: Genotype | None = None,
    edges: Sequence[str] | None = None,
    history: Sequence[dict] | None = None,
    metrics: Sequence[dict] | None = None,
) -> dict[str, Path]:
    """All figures a run supports, into ``out_dir`` (default the run folder); returns name -> path.

    ``guide`` (the trained ArchGuide) gives the final op probabilities and, for Gaussian families,
    the SNR figure; without it the last history record is used. ``genotype`` defaults to the run's
    ``genotype.json``, else the last history record's. ``history`` / ``metrics`` (e.g. of a loaded
    checkpoint) replace the run folder's JSON files.
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    history = list(history) if history is not None else load_history(run_dir)
    metrics = list(metrics) if metrics is not None else load_metrics(run_dir)
    files: dict[str, Path] = {}
    normal = space.cell_kinds[0]
    for kind in space.cell_kinds:
        if len(anytime_op_probs(history, kind)[0]):
            files[f"anytime_{kind}"] = plot_anytime_weights(history, space, out / f"anytime_{kind}.png", kind, edges)
    final = None
    if guide is not None:
        final = {k: v.detach().cpu().numpy() for k, v in guide.op_probs().items()}
    elif history and isinstance(history[-1].get("op_probs"), dict):
        final = history[-1]["op_probs"]
    if final:
        files["op_probs"] = plot_op_heatmap(final, space, out / "op_probs.png")
    loc_scale = guide.loc_scale() if guide is not None else None
    if loc_scale:
        ls = {k: (m.detach().cpu().numpy(), s.detach().cpu().numpy()) for k, (m, s) in loc_scale.items()}
        files["snr"] = plot_snr(ls, space, out / "snr.png")
    if genotype is None:
        genotype = _last_genotype(history, run_dir)
    if genotype is not None:
        for kind in genotype.cells:
            files[f"cell_{kind}"] = plot_cell(genotype, kind, space, out / f"cell_{kind}.png")
    if len(skip_counts(history, normal)[0]):
        files["skip_connect"] = plot_skip_counts(history, out / "skip_connect.png", normal)
    if len(hessian_curve(metrics)[0]):
        files["hessian"] = plot_hessian(metrics, out / "hessian.png")
    if any("benchmark_val_acc" in r for r in metrics):
        files["benchmark"] = plot_benchmark(metrics, out / "benchmark.png")
    return files


def _last_genotype(history: Sequence[dict], run_dir: Path) -> Genotype | None:
    if (run_dir / "genotype.json").exists():
        try:
            return Genotype.load(run_dir / "genotype.json")
        except (KeyError, TypeError, ValueError) as err:
            logger.warning("cannot read %s: %s", run_dir / "genotype.json", err)
    for rec in reversed(history):
        if isinstance(rec.get("genotype"), dict):
            try:
                return Genotype.from_dict(rec["genotype"])
            except (KeyError, TypeError, ValueError):
                continue
    return None
