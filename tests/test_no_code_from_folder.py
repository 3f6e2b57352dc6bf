"""No code from a run folder (issue 30): a folder's config.yaml naming a plug-in (``imports:``) imports nothing
unless the user names it again (``--imports``) or trusts the folder (``--trust-imports``), and the current
folder never makes such an import succeed, so ``cd RUN && python -m pyronas search --resume .`` cannot run an
``evil_plugin.py`` lying beside the checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyronas.cli as cli
from pyronas.registry import import_modules

EVIL = "from pathlib import Path\nPath({marker!r}).write_text('ran')\n"
GENOTYPE = ('{"space": "nb201", "cells": {"cell": [["none", 0, 1], ["none", 0, 2], ["none", 1, 2], ["none", 0, 3], '
            '["none", 1, 3], ["none", 2, 3]]}}')


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A run folder whose configs name ``evil_plugin``, with ``evil_plugin.py`` beside them; ``marker`` is the
    file the module would write when imported."""
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "PWNED"
    (run / "evil_plugin.py").write_text(EVIL.format(marker=str(marker)))
    (run / "config.yaml").write_text("name: x\nimports: [evil_plugin]\n")
    (run / "train_config.yaml").write_text("name: x\nimports: [evil_plugin]\n")
    (run / "genotype.json").write_text(GENOTYPE)
    torch.save({"epoch": 0}, run / "checkpoint.pt")  # data only: read before the config
    yield run, marker
    sys.modules.pop("evil_plugin", None)


def test_resume_from_inside_the_folder_with_python_m_refuses(folder):
    run, marker = folder
    proc = subprocess.run([sys.executable, "-m", "pyronas", "--quiet", "search", "--resume", "."], cwd=run,
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: config.yaml: imports: evil_plugin: a run folder's config does not choose what code runs; if you "
        "trust these modules, pass them again with --imports evil_plugin (or --trust-imports)"
    ]
    assert not marker.exists()
    assert (run / "search.log").read_text().splitlines()[-1].endswith(proc.stderr.strip())  # a failed resume


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--resume", "."],
        ["train", "--resume", "."],
        ["diagnose", ".", "--no-plots"],
        ["export", ".", "--format", "state_dict"],
    ],
)
@pytest.mark.parametrize("allow", [[], ["--imports", "evil_plugin"], ["--trust-imports"]])
def test_no_command_imports_a_plugin_from_the_current_folder(folder, monkeypatch, capsys, argv, allow):
    """In-process, with the current folder first on sys.path as ``python -m`` puts it: refused without
    permission; with it, the import is tried without the current folder and fails."""
    run, marker = folder
    monkeypatch.chdir(run)
    monkeypatch.setattr(sys, "path", [str(run), *sys.path])
    assert cli.main(["--quiet", *argv, *allow]) == 2
    err = capsys.readouterr().err.strip()
    if allow:
        assert err.endswith("error: imports[0]: cannot import 'evil_plugin': No module named 'evil_plugin' (plug-ins "
                            "are imported from installed packages and PYTHONPATH, never from the current folder)")
    else:
        assert err.startswith("error: ") and "imports: evil_plugin: a run folder's config does not choose" in err
    assert not marker.exists() and "evil_plugin" not in sys.modules


def test_an_installed_module_named_by_a_folder_is_refused_too(folder, capsys):
    run, _ = folder
    (run / "config.yaml").write_text("name: x\nimports: [json, evil_plugin]\n")
    assert cli.main(["--quiet", "diagnose", str(run), "--imports", "evil_plugin"]) == 2
    assert "imports: json: a run folder's config does not choose" in capsys.readouterr().err


def test_a_folder_the_user_puts_on_the_path_is_their_choice(folder, tmp_path, monkeypatch):
    run, marker = folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(run), *sys.path])  # [implicit cwd, PYTHONPATH entry, ...]
    import_modules(["evil_plugin"])
    assert marker.read_text() == "ran"


def test_the_implicit_current_folder_is_restored_after_the_imports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = ["", str(tmp_path), *sys.path]
    monkeypatch.setattr(sys, "path", list(path))
    import_modules(["json"])
    assert sys.path == path
    assert Path.cwd() == tmp_path
