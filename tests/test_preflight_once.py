"""``pyronas search`` checks its config once: the CLI's preflight (before the run folder is made) and ``Search``'s
(before the data is read) share one run of the expensive checks -- names and combinations (``check_program``) and
the optimizers' dry build (``check_optimizers``) -- while a changed config, changed flags or a third call is checked
again in full, and the cheap checks (extras, data files) run every time."""

from __future__ import annotations

import logging

import pytest

import pyronas.cli as cli
from pyronas import preflight
from pyronas.config import load_config
from pyronas.errors import ConfigError

pytestmark = pytest.mark.requires("sklearn")

TINY = ["space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
        "search.epochs=1", "search.steps_per_epoch=1", "search.eval_batches=1"]


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """Counts the calls of the two expensive checks (each still runs) and starts from an empty memo."""
    calls = {"check_program": 0, "check_optimizers": 0}
    for name in calls:
        original = getattr(preflight, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(preflight, name, spy)
    monkeypatch.setattr(preflight, "_passed", None)
    return calls


def test_pyronas_search_runs_the_expensive_checks_once(tmp_path, counted):
    """The CLI path: ``cmd_search``'s preflight, then ``run_search`` -> ``Search.__init__``'s, on one config."""
    config = tmp_path / "once.yaml"
    config.write_text("name: once\n")
    overrides = [arg for o in TINY for arg in ("--set", o)]
    assert cli.main(["--quiet", "search", "--config", str(config), *overrides, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "genotype.json").is_file()
    assert counted == {"check_program": 1, "check_optimizers": 1}  # without the memo: 2 and 2


def test_the_second_call_returns_and_logs_the_first_calls_notes(caplog, counted):
    cfg = load_config("configs/drnas_nb201_fmnist.yaml")  # a masked prior: one note
    first = preflight.preflight(cfg, data_given=True, log_notes=False)
    with caplog.at_level(logging.INFO, logger="pyronas"):
        second = preflight.preflight(cfg, data_given=True)
    assert len(first) == 1 and second == first
    assert first[0] in caplog.text  # logged where log_notes is true, as without the memo
    assert counted == {"check_program": 1, "check_optimizers": 1}


def test_a_changed_config_or_flag_is_checked_again(counted):
    cfg = load_config(overrides=TINY)
    preflight.preflight(cfg, log_notes=False)
    preflight.preflight(load_config(overrides=[*TINY, "optim.arch.lr=0.01"]), log_notes=False)  # another value
    assert counted == {"check_program": 2, "check_optimizers": 2}
    cfg.optim.weights.lr = 0.05  # the same object, changed in place after it passed
    preflight.preflight(cfg, log_notes=False)
    assert counted == {"check_program": 3, "check_optimizers": 3}
    preflight.preflight(cfg, data_given=True, log_notes=False)  # another flag
    assert counted == {"check_program": 4, "check_optimizers": 4}


def test_the_memo_is_one_shot_and_keeps_no_failure(counted):
    cfg = load_config(overrides=TINY)
    for _ in range(3):  # checked, remembered; skipped, consumed; checked again
        preflight.preflight(cfg, log_notes=False)
    assert counted == {"check_program": 2, "check_optimizers": 2}
    bad = load_config(overrides=[*TINY, "select.rule=nope"])
    for _ in range(2):
        with pytest.raises(ConfigError, match="^select.rule: unknown"):
            preflight.preflight(bad, log_notes=False)
    assert counted["check_program"] == 4


def test_a_hit_still_checks_the_extras(monkeypatch, counted):
    """The cheap checks are not remembered: scikit-learn gone between the two calls is still found missing."""
    cfg = load_config(overrides=TINY)  # data.name: digits needs scikit-learn
    preflight.preflight(cfg, log_notes=False)
    find_spec = preflight.importlib.util.find_spec
    monkeypatch.setattr(preflight.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else find_spec(name, *a))
    with pytest.raises(ConfigError, match="^data.name: digits needs the package sklearn"):
        preflight.preflight(cfg, log_notes=False)
    assert counted["check_program"] == 1
