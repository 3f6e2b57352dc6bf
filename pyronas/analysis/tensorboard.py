"""TensorBoard logging of a run (``output: {tensorboard: true}``) into ``RUN_DIR/tensorboard/``.

One writer for search, retraining and BO: each call to ``TensorBoardLog.write`` takes one record
(a row of ``metrics.json`` / ``train_metrics.json``'s history / an evaluation of ``evaluations.jsonl``)
and writes

* every numeric field of the row as a scalar with the field's name as tag (``train_loss``, ``val_acc``,
  ``lr_weights``, ``onehot``, ``hessian_eig``, ...);
* with op probabilities: one scalar per op and edge, ``op_probs/<kind>/<edge>/<op>`` with the edge
  named as in history.json, ArviZ and the plots (``1<-0``, ``pyronas.analysis.plots.edge_names``),
  and the edges x ops heatmap as an image ``op_probs/heatmap``;
* with a genotype: the diagram of each cell kind as an image ``cell/<kind>``.

Images are rendered with matplotlib's Agg canvas / Graphviz (``pyronas.analysis.plots``) and written
with ``add_image``, so pyplot and its global backend are never touched. The underlying
``SummaryWriter`` opens at the first write with ``purge_step`` = that step, so a resumed run
replaces what an interrupted one wrote after its last checkpoint.
"""

from __future__ import annotations

import io
import logging
import os
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pyronas.nn.spaces import Genotype, SearchSpace

logger = logging.getLogger(__name__)

SUBDIR = "tensorboard"


def numeric_fields(row: dict[str, Any]) -> dict[str, float]:
    """The numeric (int / float, not bool) fields of a record, as floats (NaN/Inf kept)."""
    return {k: float(v) for k, v in row.items() if isinstance(v, Real) and not isinstance(v, bool)}


def _figure_rgb(fig) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 image of a matplotlib figure (Agg canvas, no pyplot)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _png_rgb(png: bytes) -> np.ndarray:
    """Decode a PNG into an ``[H, W, 3]`` uint8 image."""
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png), format="png")
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3]


class TensorBoardLog:
    """Writes records of a run into ``run_dir/tensorboard`` (event files readable by TensorBoard).

    Args:
        run_dir: the run folder.
        space: the search space (op and edge names of op probabilities, cell diagrams).
    """

    def __init__(self, run_dir: str | os.PathLike, space: SearchSpace | None = None):
        self.log_dir = Path(run_dir) / SUBDIR
        self.space = space
        self._writer = None

    def _open(self, step: int):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir), purge_step=step if step > 0 else None)
        return self._writer

    def write(
        self,
        row: dict[str, Any],
        step: int,
        op_probs: dict[str, Any] | None = None,
        genotype: Genotype | None = None,
        walltime: float | None = None,
    ) -> None:
        """Scalars of ``row``, op probabilities (scalars + heatmap) and cell diagrams at ``step``; flushed.
        ``walltime`` (unix seconds) stamps the scalars instead of the current time."""
        w = self._open(step)
        for tag, value in numeric_fields(row).items():
            w.add_scalar(tag, value, step, walltime=walltime)
        if op_probs:
            self._write_op_probs(w, op_probs, step)
        if genotype is not None:
            self._write_cells(w, genotype, step)
        w.flush()

    def _write_op_probs(self, w, op_probs: dict[str, Any], step: int) -> None:
        from pyronas.analysis.plots import edge_names, op_heatmap_figure, op_names

        probs = {k: np.asarray(v, dtype=float) for k, v in op_probs.items()}
        for kind, p in probs.items():
            if self.space is not None:
                edges, ops = edge_names(self.space, p.shape[0]), op_names(self.space, p.shape[1])
            else:
                edges, ops = [f"edge {i}" for i in range(p.shape[0])], [f"op {i}" for i in range(p.shape[1])]
            for e, o in np.ndindex(*p.shape):
                w.add_scalar(f"op_probs/{kind}/{edges[e]}/{ops[o]}", p[e, o], step)
        if self.space is not None:
            w.add_image("op_probs/heatmap", _figure_rgb(op_heatmap_figure(probs, self.space)), step, dataformats="HWC")

    def _write_cells(self, w, genotype: Genotype, step: int) -> None:
        from pyronas.analysis.plots import render_cell
        from pyronas.nn.spaces import get_space

        space = get_space(genotype.space)
        for kind in genotype.cells:
            png = render_cell(genotype, kind, space, "png")
            w.add_image(f"cell/{kind}", _png_rgb(png), step, dataformats="HWC")

    def close(self) -> None:
        """Flush and close the event file (a later write opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

