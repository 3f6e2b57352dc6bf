"""The Pyro program (prior + supernet + likelihood, guide), the objective, and the search loop."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ArchPrior": "program",
        "ArchGuide": "program",
        "SupernetModel": "program",
        "Objective": "objectives",
        "Schedule": "objectives",
        "TermSpec": "objectives",
        "TermContext": "objectives",
        "TERMS": "objectives",
        "register_term": "objectives",
        "Search": "search",
        "run_search": "search",
        "load_run": "search",
    },
)
