"""Exit codes of ``pyronas``: 2 for config/data errors, 1 for runtime failures, 130 for Ctrl-C, and a
traceback for anything else (a bug must not be dressed up as a one-line error)."""

import pytest

import pyronas.cli as cli
from pyronas.errors import NonFiniteLossError


def _search(tmp_path, *sets):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\n")
    args = [a for s in sets for a in ("--set", s)]
    return cli.main(["--quiet", "search", "--config", str(cfg), *args, "--out", str(tmp_path / "run")])


def test_config_error_exits_2_naming_the_key(tmp_path, capsys):
    assert _search(tmp_path, "supernet.C=-1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: supernet.C: must be > 0") and "Traceback" not in err


def test_missing_data_file_exits_2_naming_the_path(tmp_path, capsys):
    empty = tmp_path / "mnist"
    empty.mkdir()
    assert _search(tmp_path, "data.name=mnist", f"data.root={empty}") == 2
    err = capsys.readouterr().err
    assert f"missing data file {empty}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.name", "nope_prior"),
        ("guide.name", "nope_guide"),
        ("objective.terms", "[{name: nope_term}]"),
        ("select.rule", "nope_rule"),
        ("search.callbacks", "[{name: nope_callback}]"),
        ("optim.arch.name", "nope_optimizer"),
        ("space", "nope_space"),
    ],
)
def test_unknown_extension_names_its_config_key(tmp_path, capsys, key, value):
    assert _search(tmp_path, f"{key}={value}") == 2
    err = capsys.readouterr().err
    where = {"objective.terms": "objective.terms[0].name", "search.callbacks": "search.callbacks[0].name"}.get(key, key)
    assert err.startswith(f"error: {where}: unknown") and value.strip("[]{}").split()[-1] in err


def test_resume_of_a_missing_folder_exits_2(tmp_path, capsys):
    assert cli.main(["--quiet", "search", "--resume", str(tmp_path / "gone")]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.fixture
def raising_search(monkeypatch):
    def install(exc):
        def cmd(args):
            raise exc

        monkeypatch.setattr(cli, "cmd_search", cmd)

    return install


def test_non_finite_loss_exits_1(tmp_path, capsys, raising_search):
    raising_search(NonFiniteLossError("the loss became nan at epoch 3, step 7"))
    assert cli.main(["--quiet", "search", "--config", "x.yaml"]) == 1
    assert "error: the loss became nan at epoch 3" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_a_message(capsys, raising_search):
    raising_search(KeyboardInterrupt())
    assert cli.main(["--quiet", "search", "--config", "x.yaml"]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [ValueError("a bug"), ZeroDivisionError("division by zero"), RuntimeError("cuda")])
def test_a_bug_keeps_its_traceback(raising_search, exc):
    raising_search(exc)
    with pytest.raises(type(exc), match=str(exc)):
        cli.main(["--quiet", "search", "--config", "x.yaml"])
