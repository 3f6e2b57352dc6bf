"""Convergence record of the architecture distribution (VIM-NAS sec. 3.4, Figures 2, 6-9).

VIM-NAS' main claim is that its distribution becomes nearly one-hot within one epoch of
architecture search. This callback writes ``onehot.json`` in the run folder: one row every
``every_steps`` steps during the first ``first_epochs`` epochs *after the weight warm-up* (the
engine's own ``search.record_every_steps`` covers epoch 0 only, which is still warm-up when
``warmup_epochs > 0``), and one row at the end of every epoch. A row holds

* ``onehot``: the mean over edges (and cell kinds) of the largest expected op probability,
  the same number as ``metrics.json``'s ``onehot`` (1 = one-hot, 1/|O| = uniform);
* ``first_edge``: the op probabilities of the first edge of the first (normal) cell kind, the
  curve of the paper's "anytime architectural weights" figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pyronas.callbacks.base import Callback
from pyronas.io import atomic_write_json

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState

FILENAME = "onehot.json"


def onehotness(probs: dict[str, torch.Tensor]) -> float:
    """Mean over cell kinds of the mean over edges of max_o p(o | edge); ``probs[kind]`` is [edges, ops]."""
    return float(torch.stack([p.max(-1).values.mean() for p in probs.values()]).mean())


def convergence_row(search: SearchState) -> dict[str, Any]:
    """One-hotness and the first normal edge's op probabilities of the current guide."""
    probs = search.op_probs()
    kind = search.space.cell_kinds[0]
    return {
        "onehot": onehotness(probs),
        "kind": kind,
        "edge": search.space.edge_labels()[0],
        "first_edge": dict(zip(search.space.ops, probs[kind][0].tolist(), strict=True)),
    }


class OneHotRecord(Callback):
    """Record the one-hotness and the first normal edge's op probabilities (see module doc).

    Args:
        every_steps: record every this many global steps in the recorded epochs (0: epoch ends only).
        first_epochs: how many architecture-search epochs (after warm-up) get step records.
    """

    def __init__(self, every_steps: int = 10, first_epochs: int = 1):
        if every_steps < 0 or first_epochs < 0:
            raise ValueError("every_steps and first_epochs must be >= 0")
        self.every_steps, self.first_epochs = every_steps, first_epochs
        self.rows: list[dict[str, Any]] = []

    def on_search_start(self, search: SearchState) -> None:
        """Record the starting one-hotness (once, not again on resume)."""
        if not self.rows:
            self.rows.append({"epoch": 0, "step": 0, "at": "start", **convergence_row(search)})

    def on_step_end(self, search: SearchState, step: int) -> None:
        """Record a row every ``every_steps`` steps of the first searched epochs."""
        first = search.cfg.search.warmup_epochs
        if not self.every_steps or not first <= search.epoch < first + self.first_epochs:
            return
        if step % self.every_steps == 0:
            self.rows.append({"epoch": search.epoch, "step": step, "at": "step", **convergence_row(search)})

    def on_epoch_end(self, search: SearchState, epoch: int) -> None:
        """Record the epoch's row and write onehot.json."""
        self.rows.append({"epoch": epoch, "step": search.global_step, "at": "epoch_end", **convergence_row(search)})
        if search.out_dir is not None:
            atomic_write_json(Path(search.out_dir) / FILENAME, self.rows)

    def state_dict(self) -> dict[str, Any]:
        """The rows recorded so far."""
        return {"rows": list(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the rows recorded so far."""
        self.rows = list(state["rows"])
