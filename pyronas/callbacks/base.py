"""Search callbacks: per-method work at step/epoch boundaries without touching the search loop.

A callback named ``X`` in a config is the one ``Callback`` subclass defined in module
``pyronas/callbacks/X.py`` (file name = name, like priors and guides), or a ``Callback`` subclass
registered anywhere with ``@CALLBACKS.register("X")`` (a plug-in, see ``pyronas.registry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyronas.registry import Registry

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState


class Callback:
    """Hooks called by the search runner (``pyronas.infer.runner.Search``) with its ``SearchState``
    (fields: cfg, space, model, supernet, guide, svi, weight_data, arch_data, device, out_dir, epoch,
    step, global_step, history, metrics, row; methods: op_probs, evaluate, predict, loss,
    arch_parameters, rebuild_optimizers). ``on_epoch_end`` may add numbers to ``search.row``, the
    metrics row of the epoch that ends. Stateful callbacks implement ``state_dict``."""

    def on_search_start(self, search: SearchState) -> None: ...

    def on_resume(self, search: SearchState) -> None:
        """Called after ``load_state_dict`` and before the network/guide states are loaded, so a
        callback that changed the network's structure (pruning, widening) can re-apply it."""

    def on_step_end(self, search: SearchState, step: int) -> None: ...

    def on_epoch_end(self, search: SearchState, epoch: int) -> None: ...

    def on_search_end(self, search: SearchState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


CALLBACKS: Registry[type[Callback]] = Registry(
    "callback",
    "a Callback subclass; __init__(**params); hooks on_search_start/on_step_end/on_epoch_end/...",
    base=Callback,
    package="pyronas.callbacks",
    exclude=("base",),
)


def load_callback(name: str, params: dict[str, Any], where: str) -> Callback:
    """Instantiate callback ``name`` with ``params``; ``where`` is its config section
    (``search.callbacks[0]``), named by every error."""
    return CALLBACKS.build(name, params, where=where)
