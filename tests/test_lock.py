"""One writer per run folder (``pyronas.runlock``): a second writer is refused at once with the holder's pid and
start time, the lock goes with its process however it ends (SIGKILL included), temp files are per process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pyronas.cli as cli
from pyronas.errors import RunFolderError
from pyronas.io import _tmp, atomic_write_text
from pyronas.runfolder import writing
from pyronas.runlock import LOCK_FILE, RunLock

HOLD = """
import sys, time
from pyronas.runlock import RunLock
lock = RunLock(sys.argv[1], command="pyronas search (test holder)").acquire()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path / 'run'`` (killed with SIGKILL afterwards)."""
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield run, proc
    finally:
        proc.kill()
        proc.wait(30)


def test_a_second_writer_is_refused_with_the_holders_pid_and_start_time(holder, tmp_path, capsys):
    run, proc = holder
    (tmp_path / "c.yaml").write_text("name: t\n")
    before = sorted(p.name for p in run.iterdir())
    assert cli.main(["--quiet", "search", "--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {run}: another process is writing this run folder")
    assert re.search(rf"\(pid {proc.pid} on \S+, started 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ, "
                     r"command: pyronas search \(test holder\)\)", err), err
    assert sorted(p.name for p in run.iterdir()) == before  # no search.log, nothing written


def test_the_lock_goes_with_a_killed_holder(holder):
    run, proc = holder
    with pytest.raises(RunFolderError, match=f"pid {proc.pid}"):
        RunLock(run).acquire()
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert (run / LOCK_FILE).exists()  # the file stays; without a holder it locks nothing
    with RunLock(run) as lock:
        assert lock.held and f"pid {os.getpid()}" in (run / LOCK_FILE).read_text()


def test_in_one_process_a_second_lock_is_refused_until_the_first_is_released(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunFolderError, match=f"pid {os.getpid()} .*command: "):
        RunLock(tmp_path).acquire()
    first.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released: the note is cleared
    RunLock(tmp_path).acquire().release()


def test_writing_releases_the_lock_on_an_exception_and_nests(tmp_path):
    with pytest.raises(ZeroDivisionError), writing(tmp_path, "x.log"):
        with writing(tmp_path, "x.log"):  # nested in one process: one lock, one log handler
            raise ZeroDivisionError("division by zero")
    assert (tmp_path / "x.log").read_text().splitlines()[-1] == "ZeroDivisionError: division by zero"
    RunLock(tmp_path).acquire().release()


def test_temp_files_are_unique_per_process(tmp_path):
    target = tmp_path / "history.json"
    assert _tmp(target).name == f"history.json.{os.getpid()}.tmp"
    atomic_write_text(target, "[]")
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_the_lock_file_of_an_unwritable_folder_is_one_error(tmp_path):
    with pytest.raises(RunFolderError, match="cannot create the run folder's lock file"):
        RunLock(Path("/proc/self")).acquire()


def test_bo_folders_are_locked_refuse_a_fresh_run_and_overwrite(tmp_path, capsys):
    cfg = tmp_path / "bo.yaml"
    cfg.write_text("name: bo\nspace: nb201\nbo: {budget: 2, n_init: 2, map_steps: 20, objective: {kind: synthetic}}\n")
    out = tmp_path / "run"
    argv = ["--quiet", "bo", "--config", str(cfg), "--out", str(out)]
    assert cli.main(argv) == 0
    first = (out / "evaluations.jsonl").read_text()
    assert len(first.splitlines()) == 2 and "eval 1:" in (out / "bo.log").read_text()
    capsys.readouterr()
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {out} already holds a bo run (")
    assert (out / "evaluations.jsonl").read_text() == first
    with RunLock(out):
        assert cli.main(["--quiet", "bo", "--resume", str(out), "--set", "bo.budget=3"]) == 2
    assert "another process is writing this run folder" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0
    again = (out / "evaluations.jsonl").read_text()
    assert [_arch_value(ln) for ln in again.splitlines()] == [_arch_value(ln) for ln in first.splitlines()]


def _arch_value(line: str) -> tuple:
    """An evaluation without its clock times: started afresh, the same 2 evaluations (not 4)."""
    row = json.loads(line)
    return row["arch"], row["value"]
