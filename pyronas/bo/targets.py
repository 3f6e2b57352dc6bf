"""Black-box objectives of BO-NAS: architecture (genotype) -> value to maximise.

- ``TrainObjective``: validation accuracy of the discrete network (``pyronas.nn.network.Network``) after a
  short training from scratch on the weight split.
- ``TableObjective``: a tabular benchmark lookup (JSON ``{arch string: value}`` or CSV ``arch,value``).
- ``SyntheticObjective``: additive + pairwise-interaction scores over the per-edge operations of an
  ``all_edges`` space, with its optimum known by enumeration (for tests and comparisons).

``build_objective(cfg)`` builds the one a config's ``bo.objective`` names.

Pure torch (no Pyro).
"""

from __future__ import annotations

import csv
import json
import logging
import zlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from pyronas.bo.candidates import enumerate_op_indices, key
from pyronas.nn.spaces import Genotype, SearchSpace, get_space

logger = logging.getLogger(__name__)


class TableObjective:
    """Lookup of a benchmark table keyed by the genotype string (``Genotype.__str__``)."""

    def __init__(self, path: str | Path, column: str = "value"):
        path = Path(path)
        if path.suffix == ".json":
            with open(path) as f:
                raw = json.load(f)
            self.table = {k: float(v if not isinstance(v, dict) else v[column]) for k, v in raw.items()}
        elif path.suffix == ".csv":
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            if not rows or "arch" not in rows[0] or column not in rows[0]:
                raise ValueError(f"{path}: a CSV table needs columns 'arch' and {column!r}")
            self.table = {r["arch"]: float(r[column]) for r in rows}
        else:
            raise ValueError(f"{path}: table must be .json or .csv")

    def __call__(self, genotype: Genotype) -> float:
        k = key(genotype)
        if k not in self.table:
            raise KeyError(f"architecture {k!r} is not in the table")
        return self.table[k]


class SyntheticObjective:
    """``f(a) = sum_e w[e, a_e] + sum_{(e, e')} v_{e e'}[a_e, a_e'] (+ noise)`` on an ``all_edges`` space.

    Weights are drawn with ``seed``; ``irrelevant`` edges get zero weight (nothing to learn there).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, n_pairs: int = 2, irrelevant: int = 1,
                 noise: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        n = len(space.cell_kinds) * space.num_edges
        self.space, self.noise = space, noise
        self.w = torch.randn(n, space.num_ops, generator=g)
        self.w[n - irrelevant :] = 0.0
        perm = torch.randperm(n - irrelevant, generator=g).tolist()
        self.pairs = [(perm[2 * p], perm[2 * p + 1]) for p in range(n_pairs)]
        self.v = 0.7 * torch.randn(n_pairs, space.num_ops, space.num_ops, generator=g)
        self._gen = torch.Generator().manual_seed(seed + 1)

    def value_of_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Noise-free values of op-index rows ``[N, kinds * edges]``."""
        f = self.w.gather(1, idx.T).sum(0)
        for p, (a, b) in enumerate(self.pairs):
            f = f + self.v[p][idx[:, a], idx[:, b]]
        return f

    def indices(self, genotype: Genotype) -> torch.Tensor:
        """The op index of every edge of ``genotype``, as a [1, edges] tensor."""
        ops = [self.space.ops.index(op) for kind in self.space.cell_kinds for op, _, _ in genotype.cells[kind]]
        return torch.tensor([ops])

    def __call__(self, genotype: Genotype) -> float:
        f = float(self.value_of_indices(self.indices(genotype)))
        if self.noise:
            f += self.noise * float(torch.randn((), generator=self._gen))
        return f

    def optimum(self) -> tuple[str, float]:
        """The best architecture string and its value, by enumeration."""
        from pyronas.bo.candidates import decode_op_indices

        idx = enumerate_op_indices(self.space)
        f = self.value_of_indices(idx)
        best = int(f.argmax())
        return key(decode_op_indices(self.space, idx[best])), float(f[best])


class TrainObjective:
    """Validation accuracy of a genotype's discrete network after a short training from scratch.

    ``data`` = ``(x_train, y_train, x_val, y_val)`` tensors (the weight split and a held-out split).
    Each evaluation trains ``steps`` SGD mini-batches (momentum, cosine lr) with a seed fixed by ``seed``,
    the architecture string and how often that architecture was trained before (``run_seed``: a repeat, as
    ``bo.replicate`` asks for, sees another training seed; a resumed run scores an architecture exactly as
    before, the counts restored by ``resume``) and returns the accuracy on the validation tensors.
    """

    def __init__(
        self,
        space: SearchSpace,
        data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        C: int = 8,
        layers: int = 1,
        steps: int = 100,
        batch_size: int = 64,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        eval_batch_size: int = 512,
        seed: int = 0,
        device: str = "cpu",
    ):
        self.space, self.data = space, data
        self.C, self.layers, self.steps, self.batch_size = C, layers, steps, batch_size
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.eval_batch_size, self.seed, self.device = eval_batch_size, seed, torch.device(device)
        self.num_classes = int(max(int(data[1].max()), int(data[3].max())) + 1)
        self.counts: dict[str, int] = {}  # architecture string -> trainings so far

    def run_seed(self, arch: str, k: int = 0) -> int:
        """Training seed of the ``k``-th training (0 = first) of architecture ``arch``: ``k = 0`` is the seed of
        the runs made before repeats existed (``seed * 1_000_003 + crc32(arch)``); ``k > 0`` mixes in ``k``."""
        tag = arch if k == 0 else f"{arch}#repeat{k}"
        return self.seed * 1_000_003 + zlib.crc32(tag.encode())

    def resume(self, archs: list[str]) -> None:
        """Restore the training counts from the architectures already evaluated (``evaluations.jsonl``)."""
        self.counts = {}
        for a in archs:
            self.counts[a] = self.counts.get(a, 0) + 1

    def synflow(self, genotype: Genotype) -> float:
        """SynFlow (Tanaka et al. 2020) of the network this objective trains, at its initialisation under ``seed``:
        the training-free score of ``bo.init_design: zero_cost`` (needs no data: an all-ones input)."""
        from pyronas.select.proxies import score_genotype

        x = torch.ones(1, *self.data[0].shape[1:])
        return score_genotype(genotype, "synflow", x, torch.zeros(1, dtype=torch.long), C=self.C, layers=self.layers,
                              num_classes=self.num_classes, seed=self.seed)

    def __call__(self, genotype: Genotype) -> float:
        from pyronas.nn.network import Network

        x_tr, y_tr, x_va, y_va = self.data
        arch = key(genotype)
        run_seed = self.run_seed(arch, self.counts.get(arch, 0))
        self.counts[arch] = self.counts.get(arch, 0) + 1
        torch.manual_seed(run_seed)
        g = torch.Generator().manual_seed(run_seed)
        net = Network.from_genotype(
            genotype, self.space, C=self.C, layers=self.layers, in_channels=x_tr.shape[1], num_classes=self.num_classes
        ).to(self.device)
        opt = torch.optim.SGD(net.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(self.steps, 1))
        net.train()
        for _ in range(self.steps):
            b = torch.randint(x_tr.shape[0], (self.batch_size,), generator=g)
            loss = F.cross_entropy(net(x_tr[b].to(self.device)), y_tr[b].to(self.device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, x_va.shape[0], self.eval_batch_size):
                logits = net(x_va[s : s + self.eval_batch_size].to(self.device))
                correct += int((logits.argmax(1).cpu() == y_va[s : s + self.eval_batch_size]).sum())
        return correct / x_va.shape[0]


def build_objective(cfg) -> Callable[[Genotype], float]:
    """The objective named by ``cfg.bo.objective`` (``cfg`` is a ``pyronas.config.Config``)."""
    space, o = get_space(cfg.space), cfg.bo.objective
    if o.kind == "synthetic":
        return SyntheticObjective(space, o.synthetic_seed, noise=o.synthetic_noise)
    if o.kind == "table":
        if not o.table:
            raise ValueError("bo.objective.table: a table file is required for kind 'table'")
        return TableObjective(o.table, o.column)
    from pyronas.data.datasets import bilevel_split, load_dataset

    d = cfg.data
    ds = load_dataset(d.name, d.root, train=True, download=d.download, image_size=d.image_size)
    w_idx, a_idx = bilevel_split(len(ds), d.portion, d.split, cfg.seed)
    w_idx, a_idx = w_idx[: o.n_train], a_idx[: o.n_val]
    data = (ds.x[w_idx], ds.y[w_idx], ds.x[a_idx], ds.y[a_idx])
    return TrainObjective(space, data, C=o.C, layers=o.layers, steps=o.steps, batch_size=o.batch_size, lr=o.lr,
                          momentum=o.momentum, weight_decay=o.weight_decay, eval_batch_size=d.eval_batch_size,
                          seed=cfg.seed, device=cfg.device)
