"""Track the dominant Hessian eigenvalue of the architecture-split loss (Zela et al. 2020).

Config: ``search.callbacks: [{name: hessian, params: {every: 5}}]`` adds ``hessian_eig`` to the
metrics row (``metrics.json``) of every ``every``-th epoch and of the last one; the value is
``pyronas.analysis.hessian.arch_hessian_eig`` at the end of that epoch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyronas.analysis.hessian import arch_hessian_eig
from pyronas.callbacks.base import Callback
from pyronas.errors import ConfigError

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState

log = logging.getLogger(__name__)


class HessianTracker(Callback):
    """Add ``hessian_eig`` to the metrics row of epochs ``0, every, 2·every, ...`` and the last.

    Args:
        every: epochs between two measurements (>= 1).
        batch_size: examples of the fixed architecture-split batch (default ``data.eval_batch_size``).
        iters: maximum number of power iterations.
    """

    def __init__(self, every: int = 1, batch_size: int | None = None, iters: int = 20):
        if every < 1:
            raise ConfigError(f"search.callbacks: hessian.every must be >= 1, got {every}")
        self.every, self.batch_size, self.iters = every, batch_size, iters

    def on_search_start(self, search: SearchState) -> None:
        """Refuse a guide whose samples are only once differentiable (the Hessian would be wrong)."""
        if not search.guide.supports_second_order:  # refused before any training, not at the first epoch's end
            raise ConfigError(
                "search.callbacks: hessian needs a guide whose samples are twice differentiable; "
                f"{type(search.guide.alpha_guide).__name__}'s are not (its double-backprop Hessian would be wrong)"
            )

    def on_epoch_end(self, search: SearchState, epoch: int) -> None:
        """Every ``every`` epochs and at the last: the dominant Hessian eigenvalue of the architecture loss, into the
        row."""
        if epoch % self.every and epoch != search.cfg.search.epochs - 1:
            return
        eig = arch_hessian_eig(search, self.batch_size, self.iters)
        search.row["hessian_eig"] = eig
        log.info("epoch %d: dominant Hessian eigenvalue of the arch-split loss %.4g", epoch, eig)
