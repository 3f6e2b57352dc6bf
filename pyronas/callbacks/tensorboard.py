"""TensorBoard logging of a search: the runner appends this callback when ``output.tensorboard`` is true.

After every epoch it writes the epoch's ``metrics.json`` row (every numeric field), the op
probabilities per edge (scalars + heatmap) and the derived cell's diagram through
``pyronas.analysis.tensorboard.TensorBoardLog`` into ``RUN_DIR/tensorboard/``. It runs after the
configured callbacks, so fields they add to the row are logged too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyronas.analysis.tensorboard import TensorBoardLog
from pyronas.callbacks.base import Callback
from pyronas.nn.spaces import Genotype, SearchSpace


@dataclass
class EpochView:
    """What the callback reads of the search after an epoch."""

    out_dir: Path | None
    space: SearchSpace
    row: dict[str, Any]
    op_probs: dict[str, Any] | None
    genotype: Genotype | None


def epoch_view(search) -> EpochView:
    """The only place that touches the search: run folder, space, last metrics row, its op probabilities
    and derived genotype (the last ``history`` record)."""
    last = search.history[-1] if search.history else {}
    genotype = Genotype.from_dict(last["genotype"]) if "genotype" in last else None
    return EpochView(search.out_dir, search.space, search.metrics[-1], last.get("op_probs"), genotype)


class TensorBoard(Callback):
    """Writes each epoch's metrics, op probabilities and cell diagram to ``RUN_DIR/tensorboard/``."""

    def __init__(self):
        self.log: TensorBoardLog | None = None

    def on_epoch_end(self, search, epoch: int) -> None:
        """Write the epoch's metrics, op probabilities and cell diagram."""
        view = epoch_view(search)
        if view.out_dir is None:
            return
        if self.log is None:
            self.log = TensorBoardLog(view.out_dir, view.space)
        self.log.write(view.row, epoch, view.op_probs, view.genotype)

    def on_search_end(self, search) -> None:
        """Close the event file."""
        if self.log is not None:
            self.log.close()
            self.log = None
