"""The manual: the Sphinx build is warning-free, every public module has an API page, and docstring coverage of
public names stays >= 95 % (the figure in docs/docstring_coverage.md is the measured one)."""

from __future__ import annotations

import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyronas

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def public_modules() -> list[str]:
    """Every module of the installed package whose dotted name has no private part."""
    names = [m.name for m in pkgutil.walk_packages(pyronas.__path__, "pyronas.")]
    for pkg, folder in (("pyronas.models", "models"), ("pyronas.guides", "guides")):
        names += [f"{pkg}.{p.stem}" for p in (ROOT / folder).glob("*.py") if p.stem != "__init__"]
    return sorted({n for n in names if not any(part.startswith("_") for part in n.split("."))})


def documented_modules() -> set[str]:
    """Modules named by an ``.. automodule::`` directive of docs/api/*.rst."""
    text = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.rst"))
    return set(re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.M))


def test_every_public_module_has_an_api_page():
    missing = [m for m in public_modules() if m not in documented_modules()]
    assert not missing, f"add these modules to a page of docs/api/: {missing}"
    packages = {"pyronas", *(m.rsplit(".", 1)[0] for m in public_modules())}
    stale = sorted(documented_modules() - set(public_modules()) - packages)
    assert not stale, f"docs/api/ names modules that do not exist: {stale}"


def test_every_page_is_reachable_from_the_index():
    """A page outside every toctree is a Sphinx warning, but a glob can hide it: list the explicit entries."""
    index = (DOCS / "index.md").read_text()
    for page in ("config_reference", "api/index", "docstring_coverage", "method_comparison"):
        assert re.search(rf"^{re.escape(page)}$", index, flags=re.M), page


@pytest.mark.requires("sphinx", "myst_parser")
def test_docs_build_without_warnings(tmp_path):
    """``sphinx-build -W``: every docstring parses, every cross-reference and toctree entry resolves, offline."""
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = (tmp_path / "html" / "api" / "infer.html").read_text()
    assert "BilevelSVI" in html and "SearchState" in html  # autodoc ran (an empty page would also build)


def docstring_coverage() -> float:
    """Percentage of public names with a docstring, by interrogate with the ``[tool.interrogate]`` settings."""
    from interrogate import config, coverage

    options = config.parse_pyproject_toml(str(ROOT / "pyproject.toml"))
    keys = set(inspect.signature(config.InterrogateConfig).parameters)
    aliases = {"ignore_setters": "ignore_property_setters"}  # the CLI's spelling -> the config class's
    conf = config.InterrogateConfig(**{aliases.get(k, k): v for k, v in options.items() if aliases.get(k, k) in keys})
    paths = [str(ROOT / p) for p in ("pyronas", "models", "guides")]
    excluded = tuple(str(ROOT / e) for e in options.get("exclude", ()))
    result = coverage.InterrogateCoverage(paths=paths, conf=conf, excluded=excluded).get_coverage()
    return result.perc_covered


@pytest.mark.requires("interrogate")
def test_docstring_coverage_at_least_95_percent_and_documented():
    measured = docstring_coverage()
    assert measured >= 95.0, f"docstring coverage {measured:.1f} % < 95 % (run `interrogate -vv pyronas models guides`)"
    page = (DOCS / "docstring_coverage.md").read_text()
    stated = float(re.search(r"\*\*(\d+(?:\.\d+)?) %\*\*", page).group(1))
    assert abs(stated - measured) <= 1.0, f"docs/docstring_coverage.md: {stated} %; interrogate: {measured:.1f} %"


def _readme_block(language: str, after: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start : text.index("```", start)]


def test_ci_runs_exactly_the_readme_test_line():
    line = _readme_block("bash", "Install and run the test suite").strip()
    assert line in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "docs]" in line  # the manual's build and the coverage test run in CI


def test_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.requires("fashion_mnist")
def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's example, as written, at a tiny size (one epoch on 1 % of the data)."""
    code = _readme_block("python", "## From Python")
    tiny = 'seed=0, overrides=["search.epochs=1", "search.warmup_epochs=0", "data.portion=0.01"])'
    assert code.count("seed=0)") == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("seed=0)", tiny), "README.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "runs" / "drnas-py" / "genotype.json").is_file()
    assert 0.0 <= namespace["search"].metrics[-1]["val_acc"] <= 1.0 and namespace["svi"] is not None
