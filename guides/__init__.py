"""The guides of the seed methods, one file each (``guides/foo.py`` is the guide ``foo`` of ``guide.name``), and the
base classes a new guide subclasses (``pyronas.infer.program``)."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AlphaGuide": "pyronas.infer.program",
        "WeightGuide": "pyronas.infer.program",
        "ArchGuide": "pyronas.infer.program",
        "DeltaGuide": "delta",
        "DirichletGuide": "dirichlet",
        "MeanFieldGuide": "mean_field",
        "MeanFieldAlphaGuide": "mean_field",
        "MeanFieldWeightGuide": "mean_field",
        "BalenasGuide": "balenas",
        "VIMGuide": "vim",
        "AutoAlphaGuide": "auto",
    },
)
