"""Inference: the Pyro program (``program``), the objective (``objectives``), the bilevel engine
(``engine.BilevelSVI``), what plug-ins see of a search (``state.SearchState``), the search runner (``runner.Search``,
``run_search``, ``load_run``) and the peak memory of one search step (``memory``)."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ArchPrior": "program",
        "ArchGuide": "program",
        "SupernetModel": "program",
        "AlphaPrior": "program",
        "WeightPrior": "program",
        "AlphaGuide": "program",
        "WeightGuide": "program",
        "NoWeightPrior": "program",
        "NoWeightGuide": "program",
        "as_arch_guide": "program",
        "build_model": "build",
        "build_guide": "build",
        "check_contract": "build",
        "arch_parameters": "state",
        "weight_parameters": "state",
        "Objective": "objectives",
        "Schedule": "objectives",
        "TermSpec": "objectives",
        "TermContext": "objectives",
        "TERMS": "objectives",
        "register_term": "objectives",
        "BilevelSVI": "engine",
        "NonFiniteLossError": "engine",
        "StepResult": "engine",
        "Loss": "engine",
        "Search": "runner",
        "SearchState": "state",
        "load_run": "runner",
        "make_objective": "build",
        "run_search": "runner",
        "peak_memory": "memory",
        "stage_memory_report": "memory",
    },
)
