"""VINNAS outputs (callback ``vinnas_select``): both selections and the sparsity of the weights.

At the end of the search (after ``search.keep: best`` restored the best θ_α) it writes
``genotype_snr.json`` (positive SNR, VINNAS IV-C) and ``genotype_magnitude.json`` (softmax of
μ_α) to the run folder, and ``sparsity.json`` with the non-zero parameter count of the supernet
after pruning at log λ ≥ ``threshold`` (the paper's "# Params"). Every epoch it adds
``nonzero_params`` to the metrics row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyronas.callbacks.base import Callback
from pyronas.io import atomic_write_json
from pyronas.nn.bayesian import PRUNE_THRESHOLD, NormalWeights, Sparsity, sparsity
from pyronas.select.rules import select

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState

log = logging.getLogger(__name__)


def _weights_of(search: SearchState) -> NormalWeights | None:
    w = getattr(search.guide, "weights", None)
    return w if isinstance(w, NormalWeights) and w.names else None


class VinnasSelect(Callback):
    """Write the SNR and magnitude genotypes and the post-pruning parameter count.

    Args:
        threshold: prune weights with log λ = log σ²/μ² at or above it (paper: 3).
    """

    def __init__(self, threshold: float = PRUNE_THRESHOLD):
        self.threshold = threshold

    def sparsity(self, search: SearchState) -> Sparsity | None:
        """Weights kept after pruning at the threshold, or None without Bayesian weights."""
        w = _weights_of(search)
        return None if w is None else sparsity(w, search.supernet, self.threshold)

    def on_epoch_end(self, search: SearchState, epoch: int) -> None:
        """Add the number of non-zero weights to the row."""
        s = self.sparsity(search)
        if s is not None:
            search.row["nonzero_params"] = s.kept

    def on_search_end(self, search: SearchState) -> None:
        """Derive the SNR and magnitude genotypes (VINNAS IV-C) and write them with the sparsity."""
        genotypes = {rule: select(search, rule, {}) for rule in ("snr", "magnitude")}
        for rule, g in genotypes.items():
            log.info("%s selection: %s", rule, g)
        s = self.sparsity(search)
        if s is not None:
            log.info("non-zero parameters after pruning at log λ ≥ %g: %d of %d", self.threshold, s.kept, s.total)
        if search.out_dir is None:
            return
        for rule, g in genotypes.items():
            atomic_write_json(search.out_dir / f"genotype_{rule}.json", g.to_dict(), indent=2)
        if s is not None:
            info = {"threshold": self.threshold, "nonzero_params": s.kept, "total_params": s.total}
            atomic_write_json(search.out_dir / "sparsity.json", info)
