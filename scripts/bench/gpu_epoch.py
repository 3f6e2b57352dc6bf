"""Timed NAS-Bench-201 search epochs (DrNAS, first order) with each runtime option.

    python scripts/bench/gpu_epoch.py --device cuda [--steps 60 --warmup 8] [--json out.json]
    python scripts/bench/gpu_epoch.py --device cpu --steps 2 --warmup 1 --tiny      # dry run

The papers' size: C = 16, N = 5 cells per stage, batch 64 of CIFAR-shaped synthetic data
(3x32x32, 10 classes) on the device, a 25k/25k split (391 steps of one weight batch + one
architecture batch per epoch). To fit a short GPU slot, ``--steps`` timed steps (after
``--warmup`` untimed ones, which include torch.compile's warm-up) are run and the epoch time is
extrapolated: ``s/epoch = median s/step x 391``. One step = the architecture step (Dirichlet
sample θ ~ Dir(elu(β) + 1), Adam on β) then the weight step (SGD, clipping at 5), both through
``pyronas.runtime.Runtime`` (``grad`` + ``step`` per level), as the bilevel engine calls it.
``official`` is ``scripts/bench/official_loop.py`` (the official loop reimplemented, fp32) on the
same data. Every option runs in its own try/except; results go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import official_loop  # noqa: E402

from pyronas.nn.spaces import SPACES  # noqa: E402
from pyronas.nn.supernet import Supernet  # noqa: E402
from pyronas.runtime import Runtime  # noqa: E402

OPTIONS = {
    "fp32": {},
    "bf16": {"amp": "bf16"},
    "fp16": {"amp": "fp16"},
    "channels_last": {"channels_last": True},
    "bf16_channels_last": {"amp": "bf16", "channels_last": True},
    "checkpoint_cells": {"checkpoint_cells": True},
    "compile": {"compile": True},  # the compiled options last: their warm-up is the longest
    "compile_bf16": {"compile": True, "amp": "bf16", "channels_last": True},
}


class PyronasStep:
    def __init__(self, args, options: dict):
        dev = torch.device(args.device)
        self.rt = Runtime(dev, cudnn_benchmark=dev.type == "cuda", **options)
        torch.manual_seed(args.seed)
        net = Supernet(SPACES["nb201"], args.C, args.layers, 3, 10).to(dev)
        self.net = self.rt.prepare_model(net)
        self.params = list(self.net.parameters())
        self.beta = (1e-3 * torch.randn(6, 5, device=dev)).requires_grad_()
        self.opt_w = torch.optim.SGD(self.params, lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.opt_a = torch.optim.Adam([self.beta], lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def loss(self, x, y):
        theta = torch.distributions.Dirichlet(F.elu(self.beta) + 1).rsample()
        with self.rt.autocast():
            return F.cross_entropy(self.net(self.rt.prepare_batch(x), {"cell": theta}), y)

    def __call__(self, xw, yw, xa, ya) -> None:
        (g,) = self.rt.grad(self.loss(xa, ya), [self.beta], "arch")
        self.beta.grad = g
        self.rt.step(self.opt_a, "arch")
        grads = self.rt.grad(self.loss(xw, yw), self.params, "weights")
        for p, gp in zip(self.params, grads, strict=True):
            p.grad = gp
        torch.nn.utils.clip_grad_norm_(self.params, 5.0)
        self.rt.step(self.opt_w, "weights")


class OfficialStep:
    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.loop = official_loop.OfficialLoop("drnas", args.C, args.layers)
        self.loop.net.to(args.device)
        self.loop.alpha = self.loop.alpha.detach().to(args.device).requires_grad_()
        self.loop.opt_a = torch.optim.Adam([self.loop.alpha], lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def __call__(self, xw, yw, xa, ya) -> None:
        self.loop.step(xw, yw, xa, ya)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def run_option(args, name: str, batches) -> dict:
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    torch._dynamo.reset()
    step = OfficialStep(args) if name == "official" else PyronasStep(args, OPTIONS[name])
    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(*batches[i % len(batches)])
    _sync(dev)
    warmup_s = time.perf_counter() - t0
    times = []
    for i in range(args.steps):
        _sync(dev)
        t = time.perf_counter()
        step(*batches[i % len(batches)])
        _sync(dev)
        times.append(time.perf_counter() - t)
    s_step = statistics.median(times)
    out = {
        "option": name, "s_per_step": s_step, "s_per_epoch": s_step * args.steps_per_epoch,
        "images_per_s": 2 * args.batch / s_step, "warmup_s": warmup_s, "timed_steps": args.steps,
    }
    if dev.type == "cuda":
        out["peak_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--split", type=int, default=25_000, help="images per split (steps per epoch = split / batch)")
    p.add_argument("--options", nargs="+", default=["official", *OPTIONS], choices=["official", *OPTIONS])
    p.add_argument("--tiny", action="store_true", help="C=4, N=1, batch 8, 16px: a dry run of the script")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    args = p.parse_args()
    if args.tiny:
        args.C, args.layers, args.batch, args.image_size = 4, 1, 8, 16
    args.steps_per_epoch = -(-args.split // args.batch)
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(args.seed)
    batches = []
    for _ in range(4):  # pre-made batches on the device (data loading is not timed)
        xs = [torch.randn(args.batch, 3, args.image_size, args.image_size, generator=g) for _ in range(2)]
        ys = [torch.randint(0, 10, (args.batch,), generator=g) for _ in range(2)]
        batches.append((xs[0].to(dev), ys[0].to(dev), xs[1].to(dev), ys[1].to(dev)))
    info = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
            "config": {k: v for k, v in vars(args).items() if k != "json"}, "results": [], "errors": {}}
    print(f"NB201 C={args.C} N={args.layers} batch {args.batch} {args.image_size}px on {info['device']}: "
          f"{args.steps} timed steps after {args.warmup} warm-up, epoch = {args.steps_per_epoch} steps (extrapolated)")
    for name in args.options:
        try:
            r = run_option(args, name, batches)
            info["results"].append(r)
            mem = f"{r['peak_mib']:8.0f} MiB" if "peak_mib" in r else ""
            print(f"  {name:20s} {r['s_per_step'] * 1000:8.1f} ms/step {r['s_per_epoch']:8.1f} s/epoch "
                  f"{r['images_per_s']:8.0f} img/s  warm-up {r['warmup_s']:6.1f} s {mem}", flush=True)
        except Exception as e:  # one failing option must not lose the others
            info["errors"][name] = f"{type(e).__name__}: {e}"
            print(f"  {name:20s} FAILED: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
        if args.json:
            Path(args.json).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
