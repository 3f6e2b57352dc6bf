import json

import pytest

from pyronas.cli import main
from pyronas.config import ConfigError, load_config
from pyronas.infer.checks import check_config


def test_defaults_and_overrides():
    cfg = load_config(overrides=["optim.arch.lr=0.01", "search.epochs=3"])
    assert cfg.optim.arch.lr == 0.01 and cfg.optim.arch.name == "adam" and cfg.optim.arch.betas == [0.5, 0.999]
    assert cfg.optim.weights.schedule == "cosine" and cfg.search.epochs == 3


@pytest.mark.parametrize(
    "override,key",
    [
        ("optim.arch.lrr=1", "optim.arch.lrr"),
        ("search.epochs=many", "search.epochs"),
        ("data.split=1.5", "data.split"),
        ("space=foo", "space"),
        ("data.name=imagenet", "data.name"),
        ("search.order=3", "search.order"),
        ("objective.terms=[{name: entropy, wieght: 1}]", "objective.terms[0].wieght"),
        ("supernet.layout=NXN", "supernet.layout"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key.replace('[', '.').replace(']', '.')}"):
        check_config(load_config(overrides=[override]))  # types and values on load, names in the build step


def test_yaml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("supernet: {C: 8, layres: 2}\n")
    with pytest.raises(ConfigError, match="supernet.layres: unknown key"):
        load_config(bad)


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {name: mnist, root: /definitely/missing}\nsearch: {epochs: 1}\n")
    assert main(["--quiet", "search", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "/definitely/missing" in err and "Traceback" not in err
    args = ["--set", "guide.params={bogus: 1}", "--set", "data.name=digits"]
    assert main(["--quiet", "search", "--config", str(cfg), *args]) == 2
    assert "guide.params.bogus" in capsys.readouterr().err


def test_cli_quiet_search_keeps_console_clean_but_logs_to_file(tmp_path, capsys):
    args = ["--set", "data.name=digits", "--set", "search.epochs=1", "--set", "search.steps_per_epoch=2",
            "--set", "supernet.C=4", "--set", "supernet.layers=1", "--set", "data.batch_size=32"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: quiet\n")
    assert main(["--quiet", "search", "--config", str(cfg), *args, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    found = json.loads((tmp_path / "genotype.json").read_text())["string"]
    assert "INFO" not in captured.err and found in captured.out  # the result on stdout, whatever its wording
    assert "epoch 0:" in (tmp_path / "search.log").read_text()
