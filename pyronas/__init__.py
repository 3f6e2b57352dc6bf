"""pyronas: Bayesian differentiable neural architecture search as Pyro programs.

Subpackages, bottom to top (README, "How the code is laid out"): ``nn`` (spaces, supernet, networks) and
``data``; ``infer`` (the Pyro program, the objective, the engine), ``models``, ``guides``, ``optim``, ``bo``;
``select``, ``train``, ``analysis``, ``bench``; ``callbacks``; the search runner ``infer.runner``.
Extension points are named in ``pyronas.registry``.
"""

from importlib.metadata import PackageNotFoundError, version

from pyronas._exports import lazy_exports

try:
    __version__ = version("pyronas")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_all, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Config": "config",
        "load_config": "config",
        "ConfigError": "errors",
        "PyronasError": "errors",
        "run_search": "infer.runner",
        "Search": "infer.runner",
        "BilevelSVI": "infer.engine",
    },
)
__all__ = ["__version__", *_all]
