"""pyronas: Bayesian differentiable neural architecture search as Pyro programs.

Subpackages, bottom to top (README, "How the code is laid out"): ``nn`` (spaces, supernet, networks) and
``data``; ``infer`` (the Pyro program, the objective, the engine), ``models``, ``guides``, ``optim``, ``bo``;
``select``, ``train``, ``analysis``, ``bench``; ``callbacks``; the search runner ``infer.runner``.
Extension points are named in ``pyronas.registry``.

``import pyronas`` gives the names a user needs (``pyronas.__all__``): configs (``load_config``), the search
(``Search``, ``run_search``, ``load_run``) and its engine (``BilevelSVI``, ``StepResult``), the base classes of
priors and guides (``AlphaPrior``, ``AlphaGuide``, ``WeightPrior``, ``WeightGuide``), the objective
(``Objective``, ``register_term``), the registries (``PRIORS``, ``GUIDES``, ``Callback``, ``register_selector``),
spaces, data, retraining, diagnostics and the NAS-Bench-201 tables; one level down, the method presets
(``pyronas.methods.drnas(...)``) and every subpackage's own ``__all__``. Everything is imported on first use.
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
        # configs
        "Config": "config",
        "load_config": "config",
        "ConfigError": "errors",
        "DataError": "errors",
        "NonFiniteLossError": "errors",
        "PyronasError": "errors",
        # the search: runner, engine, what plug-ins see
        "Search": "infer.runner",
        "run_search": "infer.runner",
        "load_run": "infer.runner",
        "BilevelSVI": "infer.engine",
        "StepResult": "infer.engine",
        "SearchState": "infer.state",
        # the Pyro program: base classes of priors and guides, the objective and its terms
        "AlphaPrior": "infer.program",
        "WeightPrior": "infer.program",
        "ArchPrior": "infer.program",
        "AlphaGuide": "infer.program",
        "WeightGuide": "infer.program",
        "ArchGuide": "infer.program",
        "SupernetModel": "infer.program",
        "Objective": "infer.objectives",
        "Schedule": "infer.objectives",
        "TermContext": "infer.objectives",
        "TermSpec": "infer.objectives",
        "register_term": "infer.objectives",
        # registries and the other extension points
        "Registry": "registry",
        "PRIORS": "registry",
        "GUIDES": "registry",
        "Callback": "callbacks.base",
        "register_selector": "select.rules",
        "register_proxy": "select.proxies",
        # spaces, data, retraining, diagnostics, benchmark tables
        "Genotype": "nn.spaces",
        "SearchSpace": "nn.spaces",
        "get_space": "nn.spaces",
        "Supernet": "nn.supernet",
        "Dataset": "data.datasets",
        "load_dataset": "data.datasets",
        "bilevel_split": "data.datasets",
        "run_train": "train.protocol",
        "load_train_config": "train.config",
        "diagnose_searches": "analysis.diagnostics",
        "load_search": "analysis.diagnostics",
        "load_table": "bench.nb201",
    },
    # one level down: pyronas.methods.drnas(...), pyronas.select.select(...), pyronas.bench.load_reference(...)
    submodules=[
        "analysis", "bench", "bo", "callbacks", "config_files", "data", "guides", "infer", "methods", "models", "nn",
        "optim", "registry", "select", "summary", "train",
    ],
)
__all__ = ["__version__", *_all]
