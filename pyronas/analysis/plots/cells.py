"""The derived cell as a diagram: Graphviz through the Python ``graphviz`` package when it and the ``dot``
binary are installed (Debian: ``apt-get install graphviz``), else matplotlib."""

from __future__ import annotations

import functools
import io
import logging
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pyronas.nn.spaces import Genotype, SearchSpace

__all__ = [
    "INPUT_COLOR",
    "NODE_COLOR",
    "OUTPUT_COLOR",
    "cell_dot",
    "cell_graph",
    "plot_cell",
    "render_cell",
]

logger = logging.getLogger(__name__)


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
