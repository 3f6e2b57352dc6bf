"""The public API: every name in every ``__all__`` resolves, ``import pyronas`` gives what a user needs at the top
level or one level down (lazily: importing pyronas loads no torch), and the packaged configs are found by name."""

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyronas
from pyronas import cli, config_files
from pyronas.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _packages() -> list[str]:
    """Every subpackage; ``pyronas.models`` / ``pyronas.guides`` live in models/ and guides/ of the checkout."""
    found = {info.name for info in pkgutil.walk_packages(pyronas.__path__, "pyronas.") if info.ispkg}
    return sorted(found | {"pyronas.models", "pyronas.guides"})


def _modules() -> list[str]:
    names = ["pyronas"]
    for info in pkgutil.walk_packages(pyronas.__path__, "pyronas."):
        if not info.name.endswith("__main__"):  # running it is the CLI
            names.append(info.name)
    for package in ("pyronas.models", "pyronas.guides"):
        names.append(package)
        names += [info.name for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + ".")]
    return names


def test_every_name_in_every_all_resolves():
    checked, missing = 0, []
    for name in _modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            checked += 1
            try:
                getattr(module, attr)
            except AttributeError as e:
                missing.append(f"{name}.{attr}: {e}")
    assert not missing, "\n".join(missing)
    assert checked > 300  # every subpackage and most modules declare one


def test_every_subpackage_declares_all():
    packages = _packages()
    assert {"pyronas.infer", "pyronas.nn", "pyronas.select", "pyronas.bench", "pyronas.train"} <= set(packages)
    for name in packages:
        assert importlib.import_module(name).__all__, name


def test_top_level_gives_what_a_user_needs():
    needed = {
        "BilevelSVI", "Search", "run_search", "load_run", "StepResult", "load_config", "Config", "AlphaPrior",
        "AlphaGuide", "WeightPrior", "WeightGuide", "Callback", "register_term", "register_selector", "PRIORS",
        "GUIDES", "Genotype", "get_space", "load_dataset", "run_train", "diagnose_searches", "load_table",
        "methods", "infer", "nn", "data", "select", "train", "analysis", "bench", "models", "guides",
    }
    assert needed <= set(pyronas.__all__)
    assert needed <= set(dir(pyronas))
    from pyronas.infer.program import AlphaPrior
    from pyronas.select.rules import register_selector

    assert pyronas.AlphaPrior is AlphaPrior and pyronas.register_selector is register_selector
    assert pyronas.models.DirichletPrior.__mro__[1] is AlphaPrior  # one level down: the seed methods' pieces
    assert pyronas.methods.drnas is importlib.import_module("pyronas.methods").drnas
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        pyronas.nonexistent  # noqa: B018


def test_import_pyronas_is_lazy():
    code = "import sys, pyronas; print('torch' in sys.modules, 'pyro' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- the packaged configs ------------------------------------------------------------------------------------
def test_packaged_configs_are_the_repository_configs_each_with_a_description():
    found = config_files.packaged_configs()
    assert set(found) == {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    assert "demo_nb201_fmnist" in found
    undescribed = [name for name, path in found.items() if not config_files.describe(path)]
    assert not undescribed, f"configs without a first comment line: {undescribed}"


def test_describe_is_the_first_comment_line(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("\n# DrNAS on a tiny cell, sized for\n# a 2-core CPU.\nname: x\n")
    assert config_files.describe(p) == "DrNAS on a tiny cell, sized for …"
    p.write_text("# One line.\n# more\nname: x\n")
    assert config_files.describe(p) == "One line."
    p.write_text("name: x  # not a description\n")
    assert config_files.describe(p) == ""


def test_config_by_name_path_or_checkout_spelling(tmp_path, monkeypatch):
    packaged = config_files.packaged_configs()["drnas_nb201_fmnist"]
    monkeypatch.chdir(tmp_path)  # outside the repository: configs/… does not exist here
    for value in ("drnas_nb201_fmnist", "drnas_nb201_fmnist.yaml", "configs/drnas_nb201_fmnist.yaml"):
        assert config_files.resolve_config(value) == packaged
    own = tmp_path / "drnas_nb201_fmnist.yaml"  # a file the user has wins over the packaged one
    own.write_text("name: mine\n")
    assert config_files.resolve_config("drnas_nb201_fmnist.yaml") == Path("drnas_nb201_fmnist.yaml")
    assert config_files.find_packaged("other/drnas_nb201_fmnist.yaml") is None  # a folder is a path, not a name
    with pytest.raises(ConfigError, match="--config: drnas_nb201 is neither .* mean .*drnas_nb201_cifar10, drnas_nb2"):
        config_files.resolve_config("drnas_nb201")


def test_cli_lists_the_packaged_configs_one_line_each(capsys):
    assert cli.main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(list((ROOT / "configs").glob("*.yaml")))
    demo = next(line for line in lines if line.startswith("demo_nb201_fmnist "))
    assert "BaLeNAS-TF" in demo


def test_cli_unknown_config_name_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["search", "--config", "no_such_config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no_such_config" in err[0]
