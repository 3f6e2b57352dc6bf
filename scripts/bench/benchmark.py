"""Benchmark: one first-order bilevel iteration of pyronas vs the official NAS-Bench-201 search loop.

    python scripts/bench/benchmark.py [--C 16 --layers 5 --image-size 32 --batch 64 --iters 5 --threads 2]
                                [--methods darts drnas] [--reference] [--channels-last] [--no-memory]

Paths (same initial weights, same pre-made batches, model time only):

- ``official <m>``: ``scripts/bench/official_loop.py``, a plain-PyTorch reimplementation of the
  official DARTS (softmax) / DrNAS (Dirichlet) NAS-Bench-201 search loop: every op of every edge
  computed (``none`` included), ``loss.backward()`` on each level;
- ``pyronas <m>``: ``Search.svi.step`` (``BilevelSVI``: architecture step, then weight step; the Pyro path,
  fast supernet path);
- ``pyronas <m> (reference path)`` with ``--reference``: the same with ``Supernet.fast = False``.

Times interleave the paths in one process (medians); peak memory is measured per path in a fresh
subprocess (CPU: peak resident set size of the process; CUDA: ``max_memory_allocated``). The
parameter counts of both networks are asserted equal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

import pyro
import torch

for _d in (Path(__file__).resolve().parent, Path(__file__).resolve().parent / "bench"):
    if (_d / "official_loop.py").exists() and str(_d) not in sys.path:
        sys.path.insert(0, str(_d))

import official_loop  # noqa: E402

from pyronas.config import load_config  # noqa: E402
from pyronas.data.datasets import Dataset  # noqa: E402
from pyronas.infer import Search  # noqa: E402

METHOD_OVERRIDES = {
    "darts": ["model.name=flat", "guide.name=delta"],
    "drnas": ["model.name=dirichlet", "guide.name=dirichlet", "objective.kl_scales={'alpha/': {weight: 0.0}}",
              "objective.terms=[{name: l2_anchor, weight: 0.001}]"],
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_search(args, method: str) -> Search:
    overrides = [
        "space=nb201", f"supernet.C={args.C}", f"supernet.layers={args.layers}", f"device={args.device}",
        f"data.batch_size={args.batch}", "search.epochs=1", f"seed={args.seed}",
    ] + METHOD_OVERRIDES[method]
    cfg = load_config(overrides=overrides)
    n = 4 * args.batch
    g = torch.Generator().manual_seed(args.seed)
    data = Dataset(torch.randn(n, 3, args.image_size, args.image_size, generator=g),
                   torch.randint(0, 10, (n,), generator=g), 10)
    pyro.enable_validation(False)
    return Search(cfg, None, data=data)


def batches(search: Search):
    (xw, yw), (xa, ya) = next(search.weight_batches.epoch(0)), next(search.arch_batches.epoch(0))
    return xw, yw, xa, ya


class PyronasPath:
    def __init__(self, args, method: str, reference: bool = False):
        self.search = make_search(args, method)
        self.search.supernet.fast = not reference
        self.batch = batches(self.search)
        if args.channels_last:
            self.search.supernet.to(memory_format=torch.channels_last)
            xw, yw, xa, ya = self.batch
            self.batch = (xw.contiguous(memory_format=torch.channels_last), yw,
                          xa.contiguous(memory_format=torch.channels_last), ya)
        self.device = self.search.device

    def step(self) -> None:
        xw, yw, xa, ya = self.batch
        self.search.svi.step((xw, yw), (xa, ya), progress=0.0)  # arch first (DARTS/DrNAS configs), then weights

    def counts(self) -> tuple[int, int]:
        return (official_loop.count_parameters(self.search.supernet),
                sum(p.numel() for p in self.search.svi.arch_params))


class OfficialPath:
    def __init__(self, args, method: str, search: Search | None = None):
        search = search if search is not None else make_search(args, method)
        self.loop = official_loop.OfficialLoop(method, args.C, args.layers)
        official_loop.copy_weights(search.supernet, self.loop.net)
        self.loop.net.to(search.device)
        with torch.no_grad():
            self.loop.alpha = self.loop.alpha.to(search.device).detach().requires_grad_(True)
        self.loop.opt_a = torch.optim.Adam([self.loop.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.batch = batches(search)
        self.device = search.device

    def step(self) -> None:
        self.loop.step(*self.batch)

    def counts(self) -> tuple[int, int]:
        return official_loop.count_parameters(self.loop.net), self.loop.alpha.numel()


def build(args, name: str):
    kind, method = name.split(":")[:2]
    if kind == "official":
        return OfficialPath(args, method)
    return PyronasPath(args, method, reference=name.endswith(":reference"))


def path_names(args) -> list[str]:
    names = []
    for m in args.methods:
        names += [f"official:{m}", f"pyronas:{m}"] + ([f"pyronas:{m}:reference"] if args.reference else [])
    return names


def time_paths(args, names: list[str]) -> tuple[dict[str, float], dict[str, float], dict[str, tuple[int, int]]]:
    """Median wall-clock and process-CPU seconds per iteration of each path, interleaved. On a
    shared machine the CPU time (``time.process_time``, all threads of this process) is the
    robust figure: waiting for a core does not count."""
    paths = {n: build(args, n) for n in names}
    counts = {n: p.counts() for n, p in paths.items()}
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.warmup):
        for p in paths.values():
            p.step()
    for i in range(args.iters):
        for n, p in paths.items():
            _sync(p.device)
            t0, c0 = time.perf_counter(), time.process_time()
            p.step()
            _sync(p.device)
            wall[n].append(time.perf_counter() - t0)
            cpu[n].append(time.process_time() - c0)
            print(f"  iteration {i}: {n:28s} wall {wall[n][-1]:7.2f} s  cpu {cpu[n][-1]:7.2f} s", flush=True)
    med = statistics.median
    return {n: med(v) for n, v in wall.items()}, {n: med(v) for n, v in cpu.items()}, counts


def _peak_child(args, name: str, queue) -> None:
    torch.set_num_threads(args.threads)
    path = build(args, name)
    if path.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(path.device)
    for _ in range(2):
        path.step()
    _sync(path.device)
    if path.device.type == "cuda":
        queue.put(torch.cuda.max_memory_allocated(path.device) / 2**20)
    else:
        queue.put(_peak_rss_mib())


def _peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``). Not ``ru_maxrss``: Linux keeps that across ``execve``,
    so a spawned child would report its (large) parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(args, name: str) -> float:
    """Peak memory of two iterations of path ``name`` in a fresh process (MiB)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(args, name, q))
    p.start()
    value = q.get()
    p.join()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=["drnas", "darts"], choices=sorted(METHOD_OVERRIDES))
    parser.add_argument("--reference", action="store_true", help="also time pyronas with Supernet.fast = False")
    parser.add_argument("--channels-last", action="store_true", help="pyronas paths in channels-last layout")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    names = path_names(args)
    t, c, counts = time_paths(args, names)
    for m in args.methods:
        same = {counts[n] for n in names if n.split(":")[1] == m}
        assert len(same) == 1, f"{m}: parameter counts differ between paths: {counts}"
    print(f"nb201 C={args.C} N={args.layers} {args.image_size}px batch {args.batch} on {args.device} "
          f"({args.threads} threads), median of {args.iters} interleaved iterations (arch step + weight step)")
    print(f"  {'path':30s} {'wall s/iter':>11s} {'ratio':>6s} {'CPU s/iter':>10s} {'ratio':>6s}   weights, arch params")
    rows = []
    for n in names:
        ref = f"official:{n.split(':')[1]}"
        rows.append({"path": n, "s_per_iter": t[n], "time_ratio": t[n] / t[ref], "cpu_s_per_iter": c[n],
                     "cpu_ratio": c[n] / c[ref], "weights": counts[n][0], "arch_params": counts[n][1]})
        print(f"  {n:30s} {t[n]:11.3f} {t[n] / t[ref]:6.2f} {c[n]:10.3f} {c[n] / c[ref]:6.2f}   "
              f"{counts[n][0]:,}, {counts[n][1]}", flush=True)
    if not args.no_memory:
        unit = "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS of a fresh process"
        print(f"  peak memory ({unit}, two iterations):")
        for row in rows:
            n = row["path"]
            row["peak_mib"] = peak_memory(args, n)
            ref = next(r for r in rows if r["path"] == f"official:{n.split(':')[1]}")
            row["mem_ratio"] = row["peak_mib"] / ref["peak_mib"]
            print(f"  {n:30s} {row['peak_mib']:8.0f} MiB  ratio {row['mem_ratio']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
