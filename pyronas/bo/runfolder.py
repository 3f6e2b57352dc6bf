"""The run folder of a BO-NAS run (``pyronas bo``): its state and outputs, read and written atomically.

- ``evaluations.jsonl``: one ``Evaluation`` per line, appended as each is made; the run's state (a resumed run
  reads it back, drops a torn last line and rewrites the file whole).
- ``trajectory.json``: ``{"best_observed": [...], "incumbents": [...]}``, rewritten after every step.
- ``genotype.json``: the architecture the run returns, with its mean observed value.

Only JSON is read back: nothing in the folder can execute code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from pyronas.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """One evaluated architecture (a line of evaluations.jsonl): index, key, genotype, value, seconds in the objective,
    unix time."""

    index: int
    arch: str
    genotype: dict
    value: float
    time: float  # seconds spent in the objective
    wall: float  # unix time when recorded


def read_evaluations(out_dir: Path) -> list[Evaluation]:
    """The evaluations of ``out_dir/evaluations.jsonl`` (none when absent); a torn last line (a kill during the
    append) is dropped with a warning and the file rewritten whole, so the next append does not follow it."""
    path = out_dir / "evaluations.jsonl"
    if not path.exists():
        return []
    rows = read_jsonl(path)
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    logger.info("resumed %d evaluations from %s", len(rows), path)
    return [Evaluation(**r) for r in rows]


def read_incumbents(out_dir: Path, n: int) -> list[dict]:
    """The incumbents of ``out_dir/trajectory.json`` fitted on at most ``n`` evaluations (none when absent)."""
    path = out_dir / "trajectory.json"
    if not path.exists():
        return []
    with open(path) as f:
        return [r for r in json.load(f)["incumbents"] if r["n"] <= n]


def append_evaluation(out_dir: Path, ev: Evaluation) -> None:
    """Append one evaluation to ``out_dir/evaluations.jsonl``."""
    append_jsonl(out_dir / "evaluations.jsonl", asdict(ev))


def write_json(out_dir: Path, name: str, obj) -> None:
    """Write ``out_dir/name`` atomically (a reader never sees half a file)."""
    atomic_write_json(out_dir / name, obj, indent=2)
