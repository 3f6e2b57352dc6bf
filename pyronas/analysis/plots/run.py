"""Every figure a run supports (``plot_run``), from its folder, its trained guide or both."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pyronas.analysis.plots.cells import plot_cell
from pyronas.analysis.plots.common import load_history, load_metrics
from pyronas.analysis.plots.curves import (
    anytime_op_probs,
    hessian_curve,
    plot_anytime_weights,
    plot_benchmark,
    plot_hessian,
    plot_skip_counts,
    skip_counts,
)
from pyronas.analysis.plots.heatmaps import plot_op_heatmap, plot_snr
from pyronas.nn.spaces import Genotype, SearchSpace

__all__ = ["plot_run"]

logger = logging.getLogger(__name__)


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
