"""Build the Fashion-MNIST reference set: the five single-op NAS-Bench-201 cells and N uniformly random cells.

v1 (pyronas/bench/data/fmnist_reference_v1.json): configs/train_reference_fmnist.yaml, training seeds 0 and 1,
a 2,000-image test subset. v2 (``--version 2``, fmnist_reference_v2.json): configs/train_reference_fmnist_v2.yaml
(chosen by scripts/bench/reference_pilot.py), the full 10,000-image test set, training seeds 0-4 (built with
0, 1, 2, then extended with ``--seeds 0,1,2,3,4``, which trains only the seeds a cell lacks). Both draw
the random cells with ``--cell-seed 0``, so v2's first 100 random cells are v1's. Resumable: the file is
rewritten atomically after every cell (with ``cells_planned`` and a ``partial`` note until all are there) and
cells already present are skipped, so it can be run in chunks (``--max-cells``) or restarted after an interruption.

    OMP_NUM_THREADS=1 python scripts/bench/build_fmnist_reference.py --n-random 100
    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/build_fmnist_reference.py --version 2 --n-random 200
"""

from __future__ import annotations

import argparse
import datetime
import logging
import platform
import time
from pathlib import Path

import torch

from pyronas.bench import reference as ref
from pyronas.io import atomic_write_json


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", type=int, choices=(1, 2), default=1, help="reference protocol version")
    p.add_argument("--n-random", type=int, default=100)
    p.add_argument("--cell-seed", type=int, default=0, help="seed of the random cell draw")
    p.add_argument("--out", default=None, help="default: the packaged file of --version")
    p.add_argument("--protocol", default=None, help="protocol YAML (default configs/train_reference_fmnist.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="protocol override key=value")
    p.add_argument("--max-cells", type=int, default=None, help="stop after this many new cells (a chunk)")
    p.add_argument("--random-first", action="store_true",
                   help="train the random cells before the five single-op cells (same indices)")
    p.add_argument("--shard", default=None, help="K/N: build only the cells whose index is K mod N (parallel runs)")
    p.add_argument("--merge", nargs="+", default=None, help="merge these shard files into --out and exit")
    p.add_argument("--seeds", default=None,
                   help="comma-separated training seeds; extending an existing file's list (e.g. 0,1,2,3,4 after "
                   "0,1,2) trains only the missing seeds of every cell")
    args = p.parse_args(argv)
    if args.merge:
        merge(args.merge, Path(args.out))
        return
    shard_k, shard_n = (int(v) for v in args.shard.split("/")) if args.shard else (0, 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    v2 = args.version == 2
    cfg = ref.load_protocol(args.protocol or (ref.PROTOCOL_V2 if v2 else None), args.overrides)
    test_subset = None if v2 else ref.TEST_SUBSET
    h = ref.protocol_hash(cfg, test_subset)
    out = Path(args.out or (ref.REFERENCE_FILE_V2 if v2 else ref.REFERENCE_FILE))
    if out.is_file():
        data = ref.load_reference(out)
        if data["protocol_hash"] != h:
            raise SystemExit(f"{out} was built with protocol {data['protocol_hash']}, not {h}: use another --out")
    else:
        test_images = "the full 10,000-image test set" if v2 else "fixed 2,000-image test subset"
        data = {
            "version": args.version,
            "description": f"Fashion-MNIST test accuracy ({test_images}) of NAS-Bench-201 cells "
            "retrained with the protocol below, per training seed",
            "protocol": {k: v for k, v in cfg.to_dict().items()},
            "protocol_hash": h,
            "test_subset": test_subset,
            "seeds": _seed_list(args.seeds) or list(ref.SEEDS_V2 if v2 else ref.SEEDS),
            "cell_seed": args.cell_seed,
            "torch": torch.__version__,
            "platform": platform.platform(),
            "cells": [],
        }
    if args.seeds:
        _extend_seeds(data, _seed_list(args.seeds))
    done = {c["index"] for c in data["cells"] if len(c["test_acc"]) == len(data["seeds"])}
    partial = {c["index"]: c for c in data["cells"] if c["index"] not in done}
    new = 0
    planned = ref.reference_cells(args.n_random, args.cell_seed)
    data["cells_planned"] = len(planned)
    order = list(enumerate(planned))
    if args.random_first:
        order = [o for o in order if o[1][0] == "random"] + [o for o in order if o[1][0] != "random"]
    for index, (kind, string) in order:
        if index in done or index % shard_n != shard_k:
            continue
        if args.max_cells is not None and new >= args.max_cells:
            break
        start = time.perf_counter()
        cell = partial.get(index)  # a cell trained with a prefix of the seeds: train the rest
        if cell is not None and cell["string"] != string:
            raise SystemExit(f"cell {index} is {cell['string']} in {out}, not {string}: another --cell-seed?")
        have = cell["test_acc"] if cell is not None else []
        runs = [ref.train_cell(string, s, cfg, test_subset) for s in data["seeds"][len(have):]]
        if cell is None:
            cell = {"index": index, "kind": kind, "string": string, "test_acc": [],
                    "params_M": runs[0]["params_M"], "wall_s": 0.0}
            data["cells"].append(cell)
        cell["test_acc"] = have + [r["test_acc"] for r in runs]
        cell["wall_s"] += time.perf_counter() - start
        data["updated"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        _mark_partial(data)
        atomic_write_json(out, data)
        new += 1
        logging.info("cell %d %s %s: %s (%.1f s)", index, kind, string, cell["test_acc"], cell["wall_s"])
    total = sum(c["wall_s"] for c in data["cells"])
    logging.info("%d cells in %s, %.0f s of training in all", len(data["cells"]), out, total)


def _seed_list(text: str | None) -> list[int] | None:
    return [int(v) for v in text.split(",")] if text else None


def _extend_seeds(data: dict, seeds: list[int]) -> None:
    """Make ``seeds`` the file's training seeds; they must extend its current list (cells keep their values)."""
    have = list(data["seeds"])
    if seeds[: len(have)] != have:
        raise SystemExit(f"--seeds {seeds} must start with the file's seeds {have}")
    data["seeds"] = seeds


def _mark_partial(data: dict) -> None:
    """``partial: N of M cells`` while cells (or some of a cell's seeds) are missing (no such key once complete);
    the training hours so far."""
    n = sum(len(c["test_acc"]) == len(data["seeds"]) for c in data["cells"])
    m = data.get("cells_planned", len(data["cells"]))
    data.pop("partial", None)
    if n < m:
        data["partial"] = f"partial: {n} of {m} cells"
    data["training_hours"] = round(sum(c["wall_s"] for c in data["cells"]) / 3600, 3)


def merge(paths: list[str], out: Path) -> None:
    """Union of the cells of shard files built with the same protocol (and of ``out`` if it exists)."""
    files = ([out] if out.is_file() else []) + [Path(p) for p in paths]
    parts = [ref.load_reference(p) for p in files]
    if len({d["protocol_hash"] for d in parts}) != 1:
        raise SystemExit("shards were built with different protocols")
    data = dict(parts[0])
    if len({tuple(d["seeds"]) for d in parts}) != 1:
        raise SystemExit("shards list different training seeds")
    cells: dict[int, dict] = {}
    for c in (c for d in parts for c in d["cells"]):  # the copy with the most seeds trained wins
        if c["index"] not in cells or len(c["test_acc"]) > len(cells[c["index"]]["test_acc"]):
            cells[c["index"]] = c
    data["cells"] = [cells[i] for i in sorted(cells)]
    data["updated"] = max(d.get("updated", "") for d in parts)
    _mark_partial(data)
    atomic_write_json(out, data)
    logging.info("merged %d files: %d cells in %s", len(files), len(cells), out)


if __name__ == "__main__":
    main()
