"""The wheel ships every subpackage, every prior and guide file, and the license; the public API resolves."""

import importlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pyronas

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = sorted(p.parent.name for p in (ROOT / "pyronas").glob("*/__init__.py"))


def _can_build_wheels() -> bool:
    import setuptools

    if importlib.util.find_spec("wheel") is not None:
        return True
    return tuple(int(x) for x in setuptools.__version__.split(".")[:2]) >= (70, 1)  # bdist_wheel built in


@pytest.mark.skipif(not _can_build_wheels(), reason="needs the 'wheel' package (or setuptools >= 70.1)")
def test_wheel_holds_every_subpackage_prior_and_guide(tmp_path):
    src = tmp_path / "src"  # build from a copy: no build/ or egg-info left in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("pyronas", "models", "guides"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."]
    subprocess.run(cmd, cwd=src, check=True, capture_output=True)
    (wheel,) = tmp_path.glob("pyronas-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"pyronas/{p}/__init__.py" for p in SUBPACKAGES} <= names
    for folder in ("models", "guides"):
        files = {f"pyronas/{folder}/{p.name}" for p in (ROOT / folder).glob("*.py")}
        assert len(files) > 1 and files <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Apache-2.0" in text and any(n.endswith("LICENSE") for n in names)


def test_version_and_public_names_resolve():
    assert pyronas.__version__ and pyronas.__version__[0].isdigit()
    assert set(SUBPACKAGES) >= {"nn", "infer", "optim", "select", "callbacks", "analysis", "bo", "data", "train"}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"pyronas.{sub}")
        assert module.__all__, sub
        for name in module.__all__:
            assert getattr(module, name) is not None, f"pyronas.{sub}.{name}"
