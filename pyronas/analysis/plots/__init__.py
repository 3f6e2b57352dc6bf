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

One file per kind of figure: ``curves`` (per-epoch curves), ``heatmaps``, ``cells`` (the cell diagram),
``common`` (reading a run, writing a figure, axis names) and ``run`` (``plot_run``: all of a run's figures);
this package re-exports their names.
"""

from pyronas.analysis.plots.cells import (
    INPUT_COLOR,
    NODE_COLOR,
    OUTPUT_COLOR,
    _cell_figure_matplotlib,  # noqa: F401 (a name of the one module this was; tests read it)
    _cell_outputs,  # noqa: F401 (a name of the one module this was; tests read it)
    cell_dot,
    cell_graph,
    plot_cell,
    render_cell,
)
from pyronas.analysis.plots.common import SKIP, edge_names, load_history, load_metrics, op_names
from pyronas.analysis.plots.curves import (
    anytime_op_probs,
    hessian_curve,
    plot_anytime_weights,
    plot_benchmark,
    plot_hessian,
    plot_skip_counts,
    skip_counts,
)
from pyronas.analysis.plots.heatmaps import (
    _heatmap_grid,  # noqa: F401 (a name of the one module this was; tests read it)
    op_heatmap_figure,
    plot_alpha_correlation,
    plot_op_heatmap,
    plot_snr,
    positive_snr,  # noqa: F401 (a name of the one module this was; tests read it)
)
from pyronas.analysis.plots.run import plot_run

__all__ = [
    "INPUT_COLOR",
    "NODE_COLOR",
    "OUTPUT_COLOR",
    "SKIP",
    "anytime_op_probs",
    "cell_dot",
    "cell_graph",
    "edge_names",
    "hessian_curve",
    "load_history",
    "load_metrics",
    "op_heatmap_figure",
    "op_names",
    "plot_alpha_correlation",
    "plot_anytime_weights",
    "plot_benchmark",
    "plot_cell",
    "plot_hessian",
    "plot_op_heatmap",
    "plot_run",
    "plot_skip_counts",
    "plot_snr",
    "render_cell",
    "skip_counts",
]
