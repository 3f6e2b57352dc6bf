"""Retraining found architectures (DARTS protocol, Bayesian weights) and the random baseline."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "config",
        "Trainer": "trainer",
        "load_train_config": "config",
        "load_genotype": "protocol",
        "run_train": "protocol",
        "BayesianNetwork": "bayesian",
        "random_search": "random_cells",
    },
)
