"""A pyronas plug-in in a package of its own: the prior ``laplace`` and the guide ``edge_normal``.

Importing the package registers both (``pyronas.registry``): pyronas imports it through the entry point
of group ``pyronas.plugins`` declared in ``pyproject.toml``, or a config names it under ``imports:``.
"""

from my_nas_plugin.edge_normal import EdgeNormalGuide
from my_nas_plugin.laplace import LaplacePrior

__all__ = ["EdgeNormalGuide", "LaplacePrior"]
