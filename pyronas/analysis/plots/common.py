"""What every figure of ``pyronas.analysis.plots`` shares: reading a run folder's ``history.json`` and
``metrics.json`` defensively, writing a figure, and the names of ops and edges on its axes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pyronas.nn.spaces import SearchSpace

__all__ = [
    "SKIP",
    "edge_names",
    "load_history",
    "load_metrics",
    "op_names",
]

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
