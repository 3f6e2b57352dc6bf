"""The priors of the seed methods, one file each (``models/foo.py`` is the prior ``foo`` of ``model.name``), and the
base classes a new prior subclasses (``pyronas.infer.program``)."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AlphaPrior": "pyronas.infer.program",
        "WeightPrior": "pyronas.infer.program",
        "ArchPrior": "pyronas.infer.program",
        "FlatPrior": "flat",
        "DirichletPrior": "dirichlet",
        "GaussianPrior": "gaussian",
        "LogUniformPrior": "log_uniform",
        "LogUniformAlphaPrior": "log_uniform",
        "LogUniformWeightPrior": "log_uniform",
    },
)
