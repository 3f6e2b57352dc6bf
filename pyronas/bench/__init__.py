"""Ground truth for search quality: NAS-Bench-201 tables, black-box baselines, zero-cost proxies on the
table and a Fashion-MNIST reference set of retrained NAS-Bench-201 cells."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load_table": "nb201",
        "NB201Table": "nb201",
        "CellRecord": "nb201",
        "BenchmarkUnavailable": "nb201",
        "official_test_accuracy": "nb201",
        "random_search": "blackbox",
        "regularized_evolution": "blackbox",
        "bayesian_optimisation": "blackbox",
        "best_so_far": "blackbox",
        "load_reference": "reference",
        "evaluate_against_reference": "reference",
    },
)
