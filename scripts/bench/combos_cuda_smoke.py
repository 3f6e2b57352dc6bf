"""CUDA smoke check of the mix-and-match pieces: the three combo configs, the autoguide families and a
tiny NUTS comparison on ``device=cuda`` (sklearn digits, a few steps). Prints one line per check.

    python scripts/bench/combos_cuda_smoke.py
"""

from __future__ import annotations

import time

import pyro
import torch

from pyronas.analysis.nuts import compare, run_nuts, supernet_log_likelihood
from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import Search

TINY = [
    "device=cuda", "data.name=digits", "data.portion=1.0", "data.image_size=null", "supernet.C=4",
    "data.batch_size=32", "search.epochs=1", "search.warmup_epochs=0", "search.steps_per_epoch=5",
    "search.eval_batches=1",
]


def main() -> None:
    print(torch.__version__, pyro.__version__, torch.cuda.get_device_name(0))
    digits = load_dataset("digits")
    for c in ["combo_dirichlet_lu", "combo_lowrank_alpha", "combo_balenas_bayesw"]:
        s = Search(load_config(f"configs/{c}.yaml", TINY), f"/tmp/out_{c}", data=digits)
        t = time.perf_counter()
        g = s.run(progress_bar=False)
        devices = {str(v.device) for v in s.guide.op_probs().values()}
        print(c, "ok", f"{time.perf_counter() - t:.1f} s", g, devices)
    for fam in ["normal", "iaf", "delta"]:
        cfg = load_config("configs/combo_lowrank_alpha.yaml", TINY + [f"guide.alpha.params={{family: {fam}}}"])
        s = Search(cfg, f"/tmp/out_{fam}", data=digits)
        s.run(progress_bar=False)
        print(fam, "ok")
    m = s.model
    for p in m.parameters():
        p.requires_grad_(False)
    x, y = s.arch_data.x[:64], s.arch_data.y[:64]
    res = run_nuts(m.prior, supernet_log_likelihood(m, x, y, 500), 20, 20, 2, max_tree_depth=3)
    print("nuts ok", f"{res.wall_time:.1f} s", res.accept_prob, compare(res, m.prior, s.guide, s.space, 200).max_rhat)


if __name__ == "__main__":
    main()
