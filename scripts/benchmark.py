"""Benchmark: one bilevel iteration of the Pyro path vs a hand-written plain-PyTorch DARTS iteration.

    python scripts/benchmark.py [--space nb201 --C 16 --layers 5 --image-size 32 --batch 64 --iters 10]
                                [--device cpu|cuda] [--methods darts drnas ...]

Both paths use the same supernet (same initial weights), the same batches and the same optimizer
settings. The plain path is the DARTS reference loop (Liu et al. 2019, first order):
``loss = CE(net(x, softmax(α)), y)``, SGD step on w, then Adam step on α -- what the papers' own
code runs per step. The Pyro path is ``Search.weight_step`` + ``Search.arch_step`` (trace, replay,
ELBO). Timings interleave the two paths and report medians; peak memory is measured per path in a
fresh subprocess (CUDA: max_memory_allocated; CPU: peak resident set size).
With ``--methods`` the step time of each configured method is reported as well.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import resource
import statistics
import time

import pyro
import torch
import torch.nn.functional as F

from pyronas.config import load_config
from pyronas.data.datasets import Dataset
from pyronas.infer import Search

METHOD_OVERRIDES = {
    "darts": ["model.name=flat", "guide.name=delta"],
    "drnas": ["model.name=dirichlet", "guide.name=dirichlet", "objective.kl_scales={'alpha/': {weight: 0.0}}",
              "objective.terms=[{name: l2_anchor, weight: 0.001}]"],
    "vinnas": ["model.name=log_uniform", "guide.name=mean_field", "objective.elbo=meanfield"],
    "balenas": ["model.name=gaussian", "guide.name=balenas", "optim.arch.name=vadam", "optim.arch.weight_decay=0.0",
                "optim.arch.params={num_data: 1000}", "objective.kl_scales={'alpha/': {weight: 0.0}}"],
    "vimnas": ["model.name=flat", "guide.name=vim", "optim.arch.name=sgd", "optim.arch.lr=0.025",
               "optim.arch.momentum=0.9", "optim.arch.weight_decay=0.0"],
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_search(args, method: str = "darts", extra: list[str] | None = None) -> Search:
    overrides = [
        f"space={args.space}", f"supernet.C={args.C}", f"supernet.layers={args.layers}", f"device={args.device}",
        f"data.batch_size={args.batch}", "search.epochs=1", f"seed={args.seed}",
    ] + METHOD_OVERRIDES[method] + (extra or [])
    cfg = load_config(overrides=overrides)
    n = 4 * args.batch
    g = torch.Generator().manual_seed(args.seed)
    data = Dataset(torch.randn(n, args.channels, args.image_size, args.image_size, generator=g),
                   torch.randint(0, 10, (n,), generator=g), 10)
    pyro.enable_validation(False)
    return Search(cfg, None, data=data)


class PlainDarts:
    """The DARTS reference loop, first order, plain PyTorch, on a copy of the same supernet."""

    def __init__(self, search: Search):
        self.net = copy.deepcopy(search.supernet)
        self.alpha = {k: a.detach().clone().requires_grad_(True) for k, a in search.guide.alpha.items()}
        wc, ac = search.cfg.optim.weights, search.cfg.optim.arch
        self.opt_w = torch.optim.SGD(self.net.parameters(), lr=wc.lr, momentum=wc.momentum,
                                     weight_decay=wc.weight_decay)
        self.opt_a = torch.optim.Adam(self.alpha.values(), lr=ac.lr, betas=tuple(ac.betas),
                                      weight_decay=ac.weight_decay)
        self.clip = wc.grad_clip

    def step(self, xw, yw, xa, ya) -> None:
        weights = {k: F.softmax(a, dim=-1) for k, a in self.alpha.items()}
        self.opt_w.zero_grad()
        F.cross_entropy(self.net(xw, weights), yw).backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.opt_w.step()
        self.opt_a.zero_grad()
        weights = {k: F.softmax(a, dim=-1) for k, a in self.alpha.items()}
        F.cross_entropy(self.net(xa, weights), ya).backward()
        self.opt_a.step()

    def step_per_level(self, xw, yw, xa, ya) -> None:
        """The same loop with ``autograd.grad`` per level (as the Pyro path does): isolates Pyro's overhead."""
        params = list(self.net.parameters())
        weights = {k: F.softmax(a, dim=-1) for k, a in self.alpha.items()}
        grads = torch.autograd.grad(F.cross_entropy(self.net(xw, weights), yw), params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, self.clip)
        self.opt_w.step()
        alphas = list(self.alpha.values())
        weights = {k: F.softmax(a, dim=-1) for k, a in self.alpha.items()}
        grads = torch.autograd.grad(F.cross_entropy(self.net(xa, weights), ya), alphas)
        for a, g in zip(alphas, grads, strict=True):
            a.grad = g
        self.opt_a.step()


def pyro_step(search: Search, xw, yw, xa, ya) -> None:
    search.svi.step((xw, yw), (xa, ya), progress=0.0)


def batches(search: Search):
    (xw, yw), (xa, ya) = next(search.weight_batches.epoch(0)), next(search.arch_batches.epoch(0))
    return xw, yw, xa, ya


def time_paths(args) -> dict[str, float]:
    search = make_search(args)
    plain = PlainDarts(search)
    b = batches(search)
    dev = search.device
    plain_levels = PlainDarts(search)
    times: dict[str, list[float]] = {"plain": [], "plain_levels": [], "pyro": []}
    runs = {
        "plain": lambda: plain.step(*b),
        "plain_levels": lambda: plain_levels.step_per_level(*b),
        "pyro": lambda: pyro_step(search, *b),
    }
    for _ in range(args.warmup):
        for fn in runs.values():
            fn()
    for _ in range(args.iters):
        for name, fn in runs.items():
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _peak_child(args, path: str, method: str, queue) -> None:
    torch.set_num_threads(args.threads)
    search = make_search(args, method)
    b = batches(search)
    dev = search.device
    fn = (lambda: PlainDarts(search).step(*b)) if path == "plain" else (lambda: pyro_step(search, *b))
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    fn()
    fn()
    _sync(dev)
    if dev.type == "cuda":
        queue.put(torch.cuda.max_memory_allocated(dev) / 2**20)
    else:
        queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_memory(args, path: str, method: str = "darts") -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(args, path, method, q))
    p.start()
    value = q.get()
    p.join()
    return value


def time_method(args, method: str) -> float:
    search = make_search(args, method)
    b = batches(search)
    for _ in range(args.warmup):
        pyro_step(search, *b)
    ts = []
    for _ in range(args.iters):
        _sync(search.device)
        t0 = time.perf_counter()
        pyro_step(search, *b)
        _sync(search.device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def drnas_stage_memory(args) -> list[dict[str, float]]:
    """DrNAS section 2.4: peak memory per progressive stage (partial channels K, ops per edge)."""
    from pyronas.callbacks.progressive import memory_per_stage

    C = 6 * max(1, args.C // 6)  # divisible by K = 6
    search = make_search(args, "drnas", ["space=darts", "supernet.partial_channels=6", f"supernet.C={C}"])
    xw, yw, _, _ = batches(search)
    rows = memory_per_stage(search.supernet, search.model, search.guide, search.objective,
                            xw, yw, len(search.weight_data), partial_channels=[6, 3], num_ops=[8, 4])
    for r in rows:
        print(f"  drnas stage {r['stage']}: K={r['partial_channels']}, {r['num_ops']} ops/edge, "
              f"peak {r['peak_mib']:.0f} MiB ({r['method']})")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="*", default=[], choices=sorted(METHOD_OVERRIDES))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--drnas-stages", action="store_true",
                        help="peak memory per DrNAS progressive stage (darts space, K 6 -> 3, 8 -> 4 ops)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = time_paths(args)
    result = {
        "config": vars(args),
        "plain_darts_s": t["plain"],
        "pyro_darts_s": t["pyro"],
        "plain_per_level_s": t["plain_levels"],
        "ratio": t["pyro"] / t["plain"],
        "ratio_same_grads": t["pyro"] / t["plain_levels"],
    }
    print(f"{args.space} C={args.C} layers={args.layers} {args.image_size}px batch {args.batch} on {args.device} "
          f"({args.threads} threads), median of {args.iters} iterations (weight step + architecture step):")
    print(f"  plain PyTorch DARTS (reference loop, .backward()) : {1000 * t['plain']:8.1f} ms")
    print(f"  plain PyTorch DARTS (autograd.grad per level)     : {1000 * t['plain_levels']:8.1f} ms")
    print(f"  Pyro path (DARTS)                                 : {1000 * t['pyro']:8.1f} ms   "
          f"ratio {result['ratio']:.3f} vs reference, {result['ratio_same_grads']:.3f} vs same-gradient plain")
    if not args.no_memory:
        mem = {path: peak_memory(args, path) for path in ("plain", "pyro")}
        unit = "MiB (CUDA max allocated)" if args.device.startswith("cuda") else "MiB (peak RSS of the process)"
        print(f"  peak memory: plain {mem['plain']:.0f}, Pyro {mem['pyro']:.0f} {unit}")
        result["peak_memory_mib"] = mem
    for method in args.methods:
        s = time_method(args, method)
        result[f"{method}_s"] = s
        print(f"  {method:8s} (Pyro)     : {1000 * s:8.1f} ms   ({s / t['plain']:.2f}x plain DARTS)")
    if args.drnas_stages:
        result["drnas_stages"] = drnas_stage_memory(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
