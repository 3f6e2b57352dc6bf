"""Track the dominant Hessian eigenvalue of the architecture-split loss (Zela et al. 2020).

Config: ``search.callbacks: [{name: hessian, params: {every: 5}}]`` adds ``hessian_eig`` (the value),
``hessian_iters`` (Hessian-vector products used) and ``hessian_converged`` (False when the cap
``iters`` was reached before the relative residual fell to ``tol``; power iteration logs a warning) to the
metrics row (``metrics.json``) of every ``every``-th epoch and of the last one; the value is
``pyronas.analysis.hessian.arch_hessian`` at the end of that epoch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyronas.analysis.hessian import MAX_ITERS, TOL, arch_hessian
from pyronas.callbacks.base import Callback
from pyronas.errors import ConfigError

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState

log = logging.getLogger(__name__)


class HessianTracker(Callback):
    """Add ``hessian_eig``, ``hessian_iters`` and ``hessian_converged`` to the metrics row of epochs
    ``0, every, 2·every, ...`` and the last.

    Args:
        every: epochs between two measurements (>= 1).
        batch_size: examples of the fixed architecture-split batch (default ``data.eval_batch_size``).
        iters: the cap on power iterations (Hessian-vector products).
        tol: relative residual ‖H v − λ v‖ / |λ| at which power iteration stops.
    """

    def __init__(self, every: int = 1, batch_size: int | None = None, iters: int = MAX_ITERS, tol: float = TOL):
        if every < 1:
            raise ConfigError(f"search.callbacks: hessian.every must be >= 1, got {every}")
        if iters < 1 or not tol > 0:
            raise ConfigError(f"search.callbacks: hessian needs iters >= 1 and tol > 0, got {iters} and {tol}")
        self.every, self.batch_size, self.iters, self.tol = every, batch_size, iters, tol

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
        eig = arch_hessian(search, self.batch_size, self.iters, self.tol)
        search.row.update(hessian_eig=eig.value, hessian_iters=eig.iterations, hessian_converged=eig.converged)
        status = "" if eig.converged else f", NOT converged: relative residual {eig.residual:.3g} > {self.tol:.3g}"
        log.info("epoch %d: dominant Hessian eigenvalue of the arch-split loss %.4g (%d products%s)",
                 epoch, eig.value, eig.iterations, status)
