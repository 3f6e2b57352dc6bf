"""Bayesian-optimisation NAS baseline on a pyro.contrib.gp surrogate."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BOConfig": "config",
        "BayesOpt": "loop",
        "run_bo": "loop",
        "KERNELS": "gp",
        "GPPosterior": "gp",
        "fit_map": "gp",
        "fit_nuts": "gp",
    },
)
