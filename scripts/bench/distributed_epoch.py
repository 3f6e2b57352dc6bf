"""Time per search epoch at 1 and K processes (``torchrun``, gloo on CPU; nccl with ``--device cuda``).

Each setting is a fresh ``pyronas search`` of the same config at the same *global* batch (one process
with batch B, or K ranks with B/K each, so an epoch sees the same images in the same number of steps):

    1 process  x T threads, batch B
    1 process  x 1 thread,  batch B
    K processes x T/K threads each (torchrun), batch B/K per rank

The epoch time is ``seconds`` of each epoch in the run's ``metrics.json`` (written by rank 0; with
K ranks it includes the gradient all-reduces). Nothing else may run on the machine meanwhile.

    python scripts/bench/distributed_epoch.py --out runs/bench_distributed
    python scripts/bench/distributed_epoch.py --device cuda --nproc 2 --threads 8   # a 2-GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run(name: str, cmd: list[str], threads: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("CI", None)
    run_dir = out / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--out", str(run_dir)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = [m["seconds"] for m in metrics]
    return {"name": name, "threads_per_process": threads, "epoch_s": epochs,
            "median_epoch_s": statistics.median(epochs), "wall_s": wall,
            "genotype": json.loads((run_dir / "genotype.json").read_text())["cells"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/darts_nb201_fmnist.yaml")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--portion", type=float, default=0.2, help="data.portion (0.2: 6,000 / 6,000 images)")
    p.add_argument("--batch", type=int, default=64, help="global batch size")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="threads of the one-process run (shared by the K ranks)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/bench_distributed")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = [f"search.epochs={args.epochs}", "search.warmup_epochs=0", f"data.portion={args.portion}",
            f"device={args.device}", "search.progress_seconds=1000"]

    def search(batch: int) -> list[str]:
        return ["--config", args.config, *[a for s in [*sets, f"data.batch_size={batch}"] for a in ("--set", s)]]

    rank_threads = max(1, args.threads // args.nproc)
    single = [sys.executable, "-m", "pyronas", "search"]
    multi = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
             "-m", "pyronas", "search"]
    runs = [
        run(f"1proc_{args.threads}threads", [*single, *search(args.batch)], args.threads, out),
        run("1proc_1thread", [*single, *search(args.batch)], 1, out),
        run(f"{args.nproc}proc_{rank_threads}thread", [*multi, *search(args.batch // args.nproc)], rank_threads, out),
    ]
    result = {"config": args.config, "epochs": args.epochs, "portion": args.portion, "global_batch": args.batch,
              "device": args.device, "cpus": os.cpu_count(), "runs": runs}
    (out / "distributed_epoch.json").write_text(json.dumps(result, indent=1))
    base = runs[0]["median_epoch_s"]
    for r in runs:
        print(f"{r['name']:18s} epochs {', '.join(f'{s:.1f}' for s in r['epoch_s'])} s  median "
              f"{r['median_epoch_s']:.1f} s ({r['median_epoch_s'] / base:.2f}x)  wall {r['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
