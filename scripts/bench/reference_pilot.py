"""Pilot of candidate reference protocols (issue #26 §1): how large is the training-seed noise of a protocol
against the spread of the cells it is meant to rank?

A few uniformly random NAS-Bench-201 cells (``--cell-seed``, never the reference set's own draw) are retrained
with every candidate protocol for training seeds 0, 1, 2; each run's Fashion-MNIST test accuracy on the full
10,000-image test set and on v1's fixed 2,000-image subset (the same trained network) is appended to ``--out``
(JSONL; finished runs are skipped, so it can be stopped and resumed). ``--report`` prints, per protocol, the
noise ratio of ``pyronas.bench.stats.noise_ratio`` and the training seconds per run.

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/reference_pilot.py --cells 12
    python scripts/bench/reference_pilot.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pyronas.bench import reference as ref
from pyronas.bench.stats import noise_ratio
from pyronas.train.trainer import evaluate

# candidate protocols: overrides of configs/train_reference_fmnist.yaml (v1), cheapest first
CANDIDATES: dict[str, list[str]] = {
    "v1-train": [],  # v1's training (3 epochs, 6,000 images, 16 px)
    "6ep": ["train.epochs=6", "train.eval_every=6"],
    "6ep-12k": ["train.epochs=6", "train.eval_every=6", "data.portion=0.2"],
}
SEEDS = (0, 1, 2)


def run(cells: int, cell_seed: int, out: Path, protocols: list[str]) -> None:
    """Train every (protocol, cell, seed) not yet in ``out``, protocol by protocol (cheapest first)."""
    torch.set_num_threads(1)
    done = {(r["protocol"], r["cell"], r["seed"]) for r in load(out)}
    strings = [s for _, s in ref.reference_cells(cells, cell_seed)[len(ref.NB201_OPS):]]
    for name in protocols:
        cfg = ref.load_protocol(overrides=CANDIDATES[name])
        for string in strings:
            for seed in SEEDS:
                if (name, string, seed) in done:
                    continue
                r = ref.train_cell(string, seed, cfg, test_subset=None)
                (_, _, x_te, y_te), _ = ref.reference_data(cfg, None)
                idx = ref.test_subset_index(len(x_te))
                sub_acc, _ = evaluate(r["trainer"].net, x_te[idx], y_te[idx], cfg.data.eval_batch_size)
                row = {"protocol": name, "overrides": CANDIDATES[name], "cell": string, "seed": seed,
                       "test_acc_full": r["test_acc"], "test_acc_2000": sub_acc, "wall_s": r["wall_s"],
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{name} {string} seed {seed}: {r['test_acc']:.4f} (2000: {sub_acc:.4f}) {r['wall_s']:.1f} s",
                      flush=True)


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def report(rows: list[dict]) -> str:
    """Markdown: per protocol and test set, cells with all seeds, noise ratios and seconds per run."""
    lines = ["| protocol | test images | cells | seed sd (pp) | mean abs. seed diff. (pp) | cell sd (pp) | "
             "ratio per seed | ratio of the 3-seed mean | s / run |", "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["protocol"] for r in rows):
        rs = [r for r in rows if r["protocol"] == name]
        for key, label in (("test_acc_2000", "2,000"), ("test_acc_full", "10,000")):
            acc: dict[str, list[float]] = {}
            for r in rs:
                acc.setdefault(r["cell"], []).append(100 * r[key])
            full = [v for v in acc.values() if len(v) == len(SEEDS)]
            if len(full) < 3:
                continue
            n = noise_ratio(full, exclude_below=20.0)  # chance-level cells (no path) left out
            wall = sum(r["wall_s"] for r in rs) / len(rs)
            lines.append(f"| {name} | {label} | {len(full)} | {n['seed_sd']:.2f} | {n['mean_abs_diff']:.2f} | "
                         f"{n['cell_sd']:.2f} | {n['ratio']:.2f} | {n['ratio_mean']:.2f} | {wall:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=12)
    p.add_argument("--cell-seed", type=int, default=2026, help="not the reference set's draw (seed 0)")
    p.add_argument("--protocols", default=",".join(CANDIDATES))
    p.add_argument("--out", default="runs/bench/reference_pilot.jsonl")
    p.add_argument("--report", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.report:
        print(report(load(out)))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    run(args.cells, args.cell_seed, out, args.protocols.split(","))


if __name__ == "__main__":
    main()
