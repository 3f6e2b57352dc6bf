"""The search runner: safe checkpoints, no side effects on the user's Pyro state, config checks, progress."""

from __future__ import annotations

import io
import logging
import os

import pyro
import pytest
import torch

from pyronas.config import ConfigError, load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import load_run, run_search
from pyronas.io import UnsafeCheckpointError, load_checkpoint
from pyronas.progress import Progress

TINY = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
    "search.epochs=1", "search.steps_per_epoch=2", "data.eval_batch_size=64", "search.eval_batches=1",
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


class _WritesAFile:
    """Unpickling this calls a function (here a harmless one that creates a file)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_checkpoint_holds_plain_types_and_a_code_running_pickle_is_refused(tmp_path, digits):
    cfg = load_config(overrides=TINY)
    run_search(cfg, tmp_path, progress_bar=False, data=digits)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # atomic writes left no temp file
    state = load_checkpoint(tmp_path / "checkpoint.pt")  # weights_only=True
    assert isinstance(state["rng"]["python"], tuple) and isinstance(state["rng"]["numpy"], list)

    marker = tmp_path / "pwned"
    state["evil"] = _WritesAFile(str(marker))
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(UnsafeCheckpointError, match="checkpoint.pt"):
        load_run(tmp_path, data=digits)
    assert not marker.exists()


def test_train_checkpoint_refuses_a_code_running_pickle(tmp_path):
    from pyronas.train.trainer import CHECKPOINT, Trainer

    marker = tmp_path / "pwned"
    torch.save({"evil": _WritesAFile(str(marker))}, tmp_path / CHECKPOINT)
    trainer = Trainer.__new__(Trainer)  # resume() only needs the device before reading the file
    trainer.device = torch.device("cpu")
    with pytest.raises(UnsafeCheckpointError, match=CHECKPOINT):
        trainer.resume(tmp_path)
    assert not marker.exists()


def test_search_leaves_the_users_param_store_and_validation_flag_alone(tmp_path, digits):
    pyro.param("users_own", torch.tensor([1.0, 2.0]))
    pyro.enable_validation(True)
    run_search(load_config(overrides=TINY), tmp_path, progress_bar=False, data=digits)  # builds and runs a Search
    assert "users_own" in pyro.get_param_store()
    assert torch.equal(pyro.param("users_own").detach(), torch.tensor([1.0, 2.0]))
    assert pyro.distributions.util.is_validation_enabled() and pyro.poutine.util.is_validation_enabled()


def test_second_order_needs_an_sgd_weight_optimizer():
    with pytest.raises(ConfigError, match=r"^optim\.weights\.name: .*sgd"):
        load_config(overrides=["search.order=2", "optim.weights.name=adam"])
    with pytest.raises(ConfigError, match=r"^optim\.weights\.params"):
        load_config(overrides=["search.order=2", "optim.weights.params={nesterov: true}"])
    assert load_config(overrides=["search.order=2"]).optim.weights.name == "sgd"


def test_hessian_is_a_callback_only():
    with pytest.raises(ConfigError, match="search.hessian_every: unknown key"):
        load_config(overrides=["search.hessian_every=1"])


def test_progress_off_a_terminal_logs_a_few_lines_not_one_per_step(caplog):
    stream = io.StringIO()  # not a terminal
    with caplog.at_level(logging.INFO, logger="pyronas.progress"):
        with Progress(1000, desc="search", interval=3600.0, stream=stream) as bar:
            for _ in range(1000):
                bar.update(1, loss="0.1")
    lines = [r for r in caplog.records if r.name == "pyronas.progress"]
    assert 1 <= len(lines) <= 2 and "1000/1000" in lines[-1].getMessage()
    assert stream.getvalue() == ""  # no bar drawn into a file


def test_progress_logs_every_interval(caplog, monkeypatch):
    clock = iter(range(0, 10_000, 10))  # each monotonic() call: 10 s later
    monkeypatch.setattr("pyronas.progress.time.monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="pyronas.progress"):
        bar = Progress(100, interval=30.0, stream=io.StringIO())
        for _ in range(100):
            bar.update(1)
        bar.close()
    n = len([r for r in caplog.records if r.name == "pyronas.progress"])
    assert 30 <= n <= 36  # one line per 30 s of 1000 s, plus the last


def test_progress_on_a_terminal_draws_a_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    with Progress(5, desc="train", stream=stream) as bar:
        for _ in range(5):
            bar.update(1)
    assert "5/5" in stream.getvalue()

