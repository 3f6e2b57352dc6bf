"""Benchmark accuracy of the derived genotype, every epoch (callback ``benchmark``; config section
``benchmark: {name: nb201, dataset: cifar10}``).

After each epoch the genotype derived from the op probabilities (the history row's ``genotype``, the
``mean`` selection rule) is looked up in the NAS-Bench-201 validation table of ``dataset``
(``pyronas.bench.nb201``): its seed-mean 200-epoch **validation** accuracy and its percentile among the
15,625 cells are added to the metrics row (``benchmark_val_acc``, ``benchmark_percentile``) and the history
row (``benchmark``: the same plus the per-seed accuracies), and logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pyronas.callbacks.base import Callback
from pyronas.errors import ConfigError
from pyronas.nn.spaces import Genotype

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState as Search

log = logging.getLogger(__name__)


def epoch_rows(search: Search) -> tuple[Genotype, dict[str, Any], dict[str, Any]] | None:
    """The only access to the search's state: the last epoch's derived genotype, metrics row and history row."""
    if not search.metrics or not search.history:
        return None
    history = search.history[-1]
    return Genotype.from_dict(history["genotype"]), search.metrics[-1], history


class Benchmark(Callback):
    """Look the derived genotype up in a benchmark table each epoch.

    Args:
        name: benchmark (``nb201``).
        dataset: table (``cifar10`` = NB201's cifar10-valid, ``cifar100``, ``imagenet16-120``).
    """

    def __init__(self, name: str = "nb201", dataset: str = "cifar10"):
        if name != "nb201":
            raise ValueError(f"benchmark.name: unknown benchmark {name!r}; known: nb201")
        from pyronas.bench.nb201 import canonical_dataset

        self.name, self.dataset = name, canonical_dataset(dataset)
        self._table = None

    def table(self):
        """The benchmark table, loaded on first use (``pyronas.bench.nb201.load_table``)."""
        if self._table is None:
            from pyronas.bench.nb201 import load_table

            self._table = load_table(self.dataset)
        return self._table

    def on_search_start(self, search: Search) -> None:
        """Refuse a space other than nb201 and load the table, before any training."""
        if search.space.name != "nb201":
            raise ConfigError(f"benchmark.name: the nb201 benchmark needs space nb201, not {search.space.name!r}")
        self.table()  # a missing package fails here, before any training

    def on_epoch_end(self, search: Search, epoch: int) -> None:
        """Look the epoch's derived genotype up and add its accuracy and percentile to the row and history."""
        rows = epoch_rows(search)
        if rows is None:
            return
        genotype, metrics, history = rows
        rec = self.table().query(genotype)
        metrics["benchmark_val_acc"] = rec.val_acc_mean
        metrics["benchmark_percentile"] = rec.percentile
        history["benchmark"] = {"name": self.name, "dataset": self.dataset, "val_acc": rec.val_acc_mean,
                                "val_acc_seeds": list(rec.val_acc), "percentile": rec.percentile,
                                "rank": rec.rank}
        log.info("epoch %d: %s %s validation accuracy of %s: %.2f (percentile %.1f)",
                 epoch, self.name, self.dataset, genotype, rec.val_acc_mean, rec.percentile)
