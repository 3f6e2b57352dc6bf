"""Search callbacks: per-method work at step/epoch boundaries without touching the search loop.

A callback named ``X`` in a config is the one ``Callback`` subclass defined in module
``pyronas/X.py`` (file name = name, like priors and guides).
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyronas.infer.runner import SearchState


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


def load_callback(name: str, params: dict[str, Any], where: str) -> Callback:
    """Instantiate the callback defined in ``pyronas/<name>.py`` with ``params``."""
    from pyronas.registry import check_params

    try:
        module = importlib.import_module(f"pyronas.callbacks.{name}")
    except ModuleNotFoundError:
        raise ValueError(f"{where}.name: no callback module pyronas/callbacks/{name}.py") from None
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, Callback) and c is not Callback and c.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise ValueError(f"{where}.name: pyronas/callbacks/{name}.py must define exactly one Callback subclass")
    check_params(classes[0], params, f"{where}.params", positional=0)
    return classes[0](**params)
