"""Inference: the Pyro program (``program``), the objective (``objectives``), the bilevel engine
(``engine.BilevelSVI``) and the search runner (``runner.Search``, ``run_search``, ``load_run``).

The names below are imported lazily, so ``pyronas.infer.program`` stays importable on its own
(models and guides import it while the runner imports them).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BilevelSVI",
    "NonFiniteLossError",
    "Search",
    "SearchState",
    "StepResult",
    "load_run",
    "make_objective",
    "run_search",
]

_WHERE = {
    "BilevelSVI": "engine",
    "NonFiniteLossError": "engine",
    "StepResult": "engine",
    "Search": "runner",
    "SearchState": "runner",
    "load_run": "runner",
    "make_objective": "runner",
    "run_search": "runner",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pyronas.infer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pyronas.infer.{_WHERE[name]}"), name)
