"""Runs side by side (``pyronas compare RUN_DIR...``): one row per run folder, printed and written as CSV.

A row holds what a researcher compares between methods: the run's kind (``search``, ``train``, ``bo``), its
method (config name, prior and guide names, selection rule), the genotype, the accuracy on the split the run
selects on (a search's architecture split, ``val_acc`` of ``metrics.json``; a retraining's validation split),
for a NAS-Bench-201 search the found cell's (``genotype.json``) CIFAR-10 validation accuracy and percentile
(transfer; ``nb201_*`` columns, as ``pyronas search`` prints them), the last epoch's benchmark values when a
callback recorded them (``last_epoch_benchmark_*``: the epoch's mean-rule cell, not always the found one), a
retraining's test accuracy (reported once, not used for selection), and the wall time. Everything is read from the files
the runs wrote (``config.yaml`` / ``train_config.yaml``, ``genotype.json``, ``metrics.json`` /
``train_metrics.json``, ``trajectory.json``), without rebuilding any network.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from pyronas.errors import ConfigError

COLUMNS = [
    "run", "kind", "name", "model", "guide", "select", "space", "genotype", "arch_acc", "epochs", "time_s",
]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _genotype(run: Path) -> str:
    g = _read_json(run / "genotype.json")
    if not g:
        return ""
    return g.get("string") or " ".join(f"{k}:" + "|".join(f"{o}~{i}>{j}" for o, i, j in v)
                                       for k, v in g.get("cells", {}).items())


def method_name(section: dict | None, default: str) -> str:
    """The name of a ``model:`` / ``guide:`` section as the build step resolves it: ``name`` (default
    ``default``), or per group ``alpha=<name>+weights=<name>`` (defaults ``default`` and ``none``)."""
    section = section or {}
    alpha, weights = section.get("alpha"), section.get("weights")
    if section.get("name") is not None or (alpha is None and weights is None):
        return section.get("name") or default
    return f"alpha={(alpha or {}).get('name') or default}+weights={(weights or {}).get('name') or 'none'}"


def _search_row(run: Path, cfg: dict) -> dict[str, Any]:
    """Row of a search folder: arch-split accuracy of the kept epoch (best or last, ``search.keep``)."""
    metrics = _read_json(run / "metrics.json") or []
    keep = (cfg.get("search") or {}).get("keep", "last")
    kept = max(metrics, key=lambda r: r.get("val_acc", -1.0)) if keep == "best" and metrics else (
        metrics[-1] if metrics else {})
    row = {
        "kind": "search",
        "name": cfg.get("name", ""),
        "model": method_name(cfg.get("model"), "flat"),
        "guide": method_name(cfg.get("guide"), "delta"),
        "select": (cfg.get("select") or {}).get("rule", ""),
        "space": cfg.get("space", ""),
        "arch_acc": kept.get("val_acc", math.nan),
        "epochs": len(metrics),
        "time_s": sum(r.get("seconds", 0.0) for r in metrics),
    }
    last = metrics[-1] if metrics else {}
    # the benchmark callback looks up each epoch's mean-rule cell, which need not be the selected one
    row |= {f"last_epoch_{k}": v for k, v in last.items() if k.startswith("benchmark_") and isinstance(v, int | float)}
    if cfg.get("space") == "nb201":
        row |= _found_cell_nb201(run)
    return row


def _found_cell_nb201(run: Path) -> dict[str, float]:
    """NAS-Bench-201 CIFAR-10 validation accuracy and percentile of the cell in ``genotype.json`` (the one the
    selection rule returned, as ``pyronas search`` prints it; transfer, not a result of this run's data);
    empty when the table is not installed or the folder has no genotype."""
    from pyronas.nn.spaces import Genotype
    from pyronas.summary import nb201_lookup

    if not (run / "genotype.json").is_file():
        return {}
    nb = nb201_lookup(Genotype.load(run / "genotype.json"))
    return {} if nb is None else {"nb201_c10_valid_transfer": nb["val_acc"], "nb201_percentile": nb["percentile"]}


def _train_row(run: Path, cfg: dict) -> dict[str, Any]:
    """Row of a ``pyronas train`` folder: validation accuracy, test accuracy (reported once), parameters."""
    m = _read_json(run / "train_metrics.json") or {}
    return {
        "kind": "train",
        "name": cfg.get("name", ""),
        "model": "", "guide": "", "select": "",
        "space": (m.get("genotype") or {}).get("space", ""),
        "arch_acc": m.get("val_acc", math.nan),
        "test_acc_reported_once": m.get("test_acc", math.nan),
        "params_M": m.get("params_M", math.nan),
        "epochs": m.get("epochs", 0),
        "time_s": m.get("wall_time_s", math.nan),
    }


def _bo_row(run: Path, cfg: dict) -> dict[str, Any]:
    """Row of a ``pyronas bo`` folder: the best value observed, the number of evaluations (``epochs``) and
    their summed evaluation time."""
    traj = _read_json(run / "trajectory.json") or {}
    best = traj.get("best_observed") or []
    log = run / "evaluations.jsonl"
    evaluations = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    return {
        "kind": "bo", "name": cfg.get("name", ""), "model": "gp", "guide": "", "select": "",
        "space": cfg.get("space", ""), "arch_acc": best[-1] if best else math.nan, "epochs": len(best),
        "time_s": sum(float(ev.get("time", 0.0)) for ev in evaluations),
    }


def summarize_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """One row (a dict over ``COLUMNS`` and any ``benchmark_*`` / train columns) for a run folder.

    Raises:
        ConfigError: the folder does not exist or holds neither ``config.yaml`` nor ``train_config.yaml``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"RUN_DIR: {run} is not a folder")
    if (run / "train_config.yaml").is_file():
        row = _train_row(run, yaml.safe_load((run / "train_config.yaml").read_text()) or {})
    elif (run / "config.yaml").is_file():
        cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
        is_bo = (run / "trajectory.json").is_file() or (run / "evaluations.jsonl").is_file()
        row = _bo_row(run, cfg) if is_bo else _search_row(run, cfg)
    else:
        raise ConfigError(f"RUN_DIR: {run} holds neither config.yaml (search/bo) nor train_config.yaml (train)")
    return {"run": str(run), **row, "genotype": _genotype(run)}


def compare_runs(run_dirs: list[str | os.PathLike], csv_path: str | os.PathLike | None = None) -> list[dict]:
    """Rows of ``summarize_run`` for every folder, with the union of their columns (missing: empty);
    written to ``csv_path`` when given."""
    rows = [summarize_run(r) for r in run_dirs]
    columns = table_columns(rows)
    rows = [{c: r.get(c, "") for c in columns} for r in rows]
    if csv_path is not None:
        path = Path(csv_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return rows


def table_columns(rows: list[dict]) -> list[str]:
    """``COLUMNS`` then every other key of the rows, in first-seen order."""
    extra = [k for r in rows for k in r if k not in COLUMNS]
    return COLUMNS + list(dict.fromkeys(extra))


def format_rows(rows: list[dict]) -> str:
    """Fixed-width text of the rows (floats with 4 significant digits), for the terminal."""
    if not rows:
        return ""
    columns = list(rows[0])

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    text = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)) for t in text]
    return "\n".join(lines)
