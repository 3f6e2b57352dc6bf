"""Build the Fashion-MNIST reference set (pyronas/bench/data/fmnist_reference_v1.json): the five single-op
NAS-Bench-201 cells and N uniformly random cells, each retrained with configs/train_reference_fmnist.yaml for
training seeds 0 and 1. Resumable: the file is rewritten atomically after every cell and cells already
present are skipped, so it can be run in chunks (``--max-cells``) or restarted after an interruption.

    OMP_NUM_THREADS=1 python scripts/bench/build_fmnist_reference.py --n-random 100
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
    p.add_argument("--n-random", type=int, default=100)
    p.add_argument("--cell-seed", type=int, default=0, help="seed of the random cell draw")
    p.add_argument("--out", default=str(ref.REFERENCE_FILE))
    p.add_argument("--protocol", default=None, help="protocol YAML (default configs/train_reference_fmnist.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="protocol override key=value")
    p.add_argument("--max-cells", type=int, default=None, help="stop after this many new cells (a chunk)")
    p.add_argument("--shard", default=None, help="K/N: build only the cells whose index is K mod N (parallel runs)")
    p.add_argument("--merge", nargs="+", default=None, help="merge these shard files into --out and exit")
    args = p.parse_args(argv)
    if args.merge:
        merge(args.merge, Path(args.out))
        return
    shard_k, shard_n = (int(v) for v in args.shard.split("/")) if args.shard else (0, 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    cfg = ref.load_protocol(args.protocol, args.overrides)
    h = ref.protocol_hash(cfg)
    out = Path(args.out)
    if out.is_file():
        data = ref.load_reference(out)
        if data["protocol_hash"] != h:
            raise SystemExit(f"{out} was built with protocol {data['protocol_hash']}, not {h}: use another --out")
    else:
        data = {
            "version": ref.VERSION,
            "description": "Fashion-MNIST test accuracy (fixed 2,000-image test subset) of NAS-Bench-201 cells "
            "retrained with the protocol below, per training seed",
            "protocol": {k: v for k, v in cfg.to_dict().items()},
            "protocol_hash": h,
            "test_subset": ref.TEST_SUBSET,
            "seeds": list(ref.SEEDS),
            "cell_seed": args.cell_seed,
            "torch": torch.__version__,
            "platform": platform.platform(),
            "cells": [],
        }
    done = {(c["index"]) for c in data["cells"]}
    new = 0
    for index, (kind, string) in enumerate(ref.reference_cells(args.n_random, args.cell_seed)):
        if index in done or index % shard_n != shard_k:
            continue
        if args.max_cells is not None and new >= args.max_cells:
            break
        start = time.perf_counter()
        runs = [ref.train_cell(string, s, cfg) for s in data["seeds"]]
        data["cells"].append({
            "index": index, "kind": kind, "string": string,
            "test_acc": [r["test_acc"] for r in runs], "params_M": runs[0]["params_M"],
            "wall_s": time.perf_counter() - start,
        })
        data["updated"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        atomic_write_json(out, data)
        new += 1
        logging.info("cell %d %s %s: %s (%.1f s)", index, kind, string, data["cells"][-1]["test_acc"],
                     data["cells"][-1]["wall_s"])
    total = sum(c["wall_s"] for c in data["cells"])
    logging.info("%d cells in %s, %.0f s of training in all", len(data["cells"]), out, total)


def merge(paths: list[str], out: Path) -> None:
    """Union of the cells of shard files built with the same protocol (and of ``out`` if it exists)."""
    files = ([out] if out.is_file() else []) + [Path(p) for p in paths]
    parts = [ref.load_reference(p) for p in files]
    if len({d["protocol_hash"] for d in parts}) != 1:
        raise SystemExit("shards were built with different protocols")
    data = dict(parts[0])
    cells = {c["index"]: c for d in parts for c in d["cells"]}
    data["cells"] = [cells[i] for i in sorted(cells)]
    data["updated"] = max(d.get("updated", "") for d in parts)
    atomic_write_json(out, data)
    logging.info("merged %d files: %d cells in %s", len(files), len(cells), out)


if __name__ == "__main__":
    main()
