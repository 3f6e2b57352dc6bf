"""Bayesian-optimisation NAS baseline (Brochu et al. tutorial; Snoek et al. 2012).

The loop: ``n_init`` uniformly random architectures (or the zero-cost warm-up, ``pyronas.bo.design``), then
repeatedly fit the GP surrogate (``pyronas.bo.gp``) on the one-hot encodings and standardised values, maximise the
(integrated) acquisition (``pyronas.bo.acquisition``) over a discrete candidate set (``pyronas.bo.candidates``),
evaluate the chosen batch, and append every evaluation to ``evaluations.jsonl``. With ``batch_size > 1``
the batch is chosen greedily, each next point maximising EI integrated over fantasised outcomes of the
points already chosen (pending). The loop is resumable from its output directory: the evaluations file
is the state, and every iteration's randomness is seeded by ``(seed, number of evaluations)``.

Replication (``replicate = k > 1``, "verify before you trust"): after the initial design, while the leader (the
evaluated architecture with the best mean observation) has fewer than ``k`` evaluations, the loop re-evaluates
the leader instead of maximising the acquisition; the GP is conditioned on every evaluation, repeats included
(its noise term absorbs them); ``replicate_also`` verifies one more architecture (``pyronas.bo.verify``). An
architecture's observed value is the mean of its evaluations throughout (best observed, the incumbent's
``observed``, the random-acquisition result). What the kernel sees of a cell: ``pyronas.bo.encodings``.

Outputs (``pyronas.bo.runfolder``): ``evaluations.jsonl`` (index, arch, genotype, value, time, wall),
``trajectory.json`` (per evaluation: best observed value; per fitted model: the noisy incumbent = evaluated point
with the highest posterior mean), ``genotype.json`` (the final incumbent).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from pyronas.bo.acquisition import integrated_acquisition, ucb_kappa, xi_schedule
from pyronas.bo.candidates import (
    can_enumerate,
    candidate_genotypes,
    decode_op_indices,
    encode_op_indices,
    enumerate_op_indices,
    key,
    row_of,
    within,
)
from pyronas.bo.config import BOConfig
from pyronas.bo.design import random_architectures, zero_cost_design
from pyronas.bo.encodings import check_encoding, encoder
from pyronas.bo.gp import GPHypers, GPPosterior, GPPriors, Standardizer, fit_map, fit_nuts
from pyronas.bo.leader import cell_means, leader, running_leaders
from pyronas.bo.runfolder import Evaluation, append_evaluation, read_evaluations, read_incumbents, write_json
from pyronas.bo.verify import challenger, incumbent_to_verify, leader_to_verify
from pyronas.errors import ConfigError
from pyronas.nn.spaces import Genotype, SearchSpace, get_space

logger = logging.getLogger(__name__)


def gp_priors(cfg: BOConfig) -> GPPriors:
    """``bo.priors`` (e.g. ``{lengthscale: [loc, scale], noise: [loc, scale]}``) as ``GPPriors``."""
    return GPPriors(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.priors.items()})


def check_space(space: SearchSpace, cfg: BOConfig) -> None:
    """Refuse ``bo`` settings that ``space`` cannot have, before any data is read: an encoding it has no routes for
    (``pyronas.bo.encodings.check_encoding``), or ``local_radius`` on a space too large to enumerate."""
    check_encoding(space, cfg.encoding)
    if cfg.local_radius > 0 and not can_enumerate(space, cfg.exhaustive_max):
        raise ConfigError(f"bo.local_radius: needs a space whose architectures can be enumerated (at most "
                          f"bo.exhaustive_max = {cfg.exhaustive_max}); {space.name!r} has {space.size()}. "
                          "Set local_radius: 0 (its candidate pool already mutates the best)")


class BayesOpt:
    """The BO-NAS loop over ``space`` maximising ``objective(genotype) -> float``."""

    def __init__(
        self,
        space: SearchSpace,
        objective: Callable[[Genotype], float],
        cfg: BOConfig,
        seed: int = 0,
        out_dir: str | Path | None = None,
        tensorboard: bool = False,
        proxy: Callable[[Genotype], float] | None = None,
    ):
        if cfg.init_design == "zero_cost" and proxy is None:
            raise ValueError("bo.init_design: zero_cost needs proxy=, a training-free score of a genotype (run_bo "
                             "passes SynFlow on the objective's network)")
        self.space, self.objective, self.cfg, self.seed, self.proxy = space, objective, cfg, seed, proxy
        self._warm: list[Genotype] | None = None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.board = None  # TensorBoard log of each evaluation (``output.tensorboard``)
        if tensorboard and self.out_dir is not None:
            from pyronas.analysis.tensorboard import TensorBoardLog

            self.board = TensorBoardLog(self.out_dir, space)
        self.evaluations: list[Evaluation] = []
        self.incumbents: list[dict] = []
        self._hypers: GPHypers | None = None
        self._fits = 0
        check_space(space, cfg)
        self._enumerable = can_enumerate(space, cfg.exhaustive_max)
        self._all_idx = enumerate_op_indices(space) if self._enumerable else None
        self._encode = encoder(space, cfg.encoding, cfg.wl_iterations)  # one-hot rows -> the GP's inputs
        self._all_X = self._encode(encode_op_indices(space, self._all_idx)) if self._enumerable else None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._load()

    # ---------------------------------------------------------------- state
    def _load(self) -> None:
        self.evaluations = read_evaluations(self.out_dir)
        resume = getattr(self.objective, "resume", None)  # e.g. TrainObjective: how often each arch was trained
        if callable(resume):
            resume([ev.arch for ev in self.evaluations])
        self.incumbents = read_incumbents(self.out_dir, len(self.evaluations))

    def _record(self, ev: Evaluation) -> None:
        self.evaluations.append(ev)
        if self.out_dir is not None:
            append_evaluation(self.out_dir, ev)
        if self.board is not None:  # value, time, index, best so far and the cell, stamped at ev.wall
            best = max(m for m, _ in self.cell_means().values())  # best_observed()[-1], without the whole curve
            row = {k: v for k, v in asdict(ev).items() if k != "wall"} | {"best_observed": best}
            self.board.write(row, ev.index, genotype=Genotype.from_dict(ev.genotype), walltime=ev.wall)

    def record(self, ev: Evaluation) -> None:
        """Record an evaluation made outside ``step`` (asynchronous workers) and update the trajectory."""
        self._record(ev)
        if self.out_dir is not None:
            write_json(self.out_dir, "trajectory.json", self.trajectory())

    def cell_means(self) -> dict[str, tuple[float, int]]:
        """``arch -> (mean value, number of evaluations)``, in the order the architectures were first evaluated."""
        return cell_means([ev.arch for ev in self.evaluations], [ev.value for ev in self.evaluations])

    def best_observed(self) -> list[float]:
        """After each evaluation: the best mean observation of an architecture so far (the leader's mean)."""
        return [m for _, m in running_leaders([ev.arch for ev in self.evaluations],
                                              [ev.value for ev in self.evaluations])]

    def trajectory(self) -> dict:
        """The best observed value and the incumbent after each evaluation (``trajectory.json``)."""
        return {"best_observed": self.best_observed(), "incumbents": self.incumbents}

    # ---------------------------------------------------------------- model
    def _data(self) -> tuple[torch.Tensor, torch.Tensor, Standardizer]:
        X = self._encode(torch.stack([self.space.encode(Genotype.from_dict(ev.genotype)) for ev in self.evaluations]))
        y = torch.tensor([ev.value for ev in self.evaluations], dtype=torch.get_default_dtype())
        st = Standardizer.fit(y)
        return X, st(y), st

    def fit(self) -> tuple[torch.Tensor, torch.Tensor, Standardizer, list[GPHypers]]:
        """Fit the GP hyperparameters (MAP, warm-started; or NUTS samples) on all evaluations."""
        X, y, st = self._data()
        cfg, priors = self.cfg, gp_priors(self.cfg)
        if cfg.hypers == "nuts":
            torch.manual_seed(self._iteration_seed())
            hypers = fit_nuts(X, y, priors, cfg.kernel, cfg.nuts_samples, cfg.nuts_warmup, cfg.nuts_thin,
                              cfg.nuts_max_tree_depth, init=self._hypers)
            self._hypers = hypers[-1]
        elif self._hypers is not None and self._fits % cfg.refit_every != 0:
            hypers = [self._hypers]
        else:
            inits = [None] if self._hypers is None else [self._hypers] + ([None] if cfg.map_restart else [])
            fits = [fit_map(X, y, priors, cfg.kernel, init, cfg.map_steps, cfg.map_lr, cfg.map_optimizer)
                    for init in inits]
            finite = [f for f in fits if math.isfinite(f[1])]
            if not finite:  # every fit ended on a non-positive-definite kernel (or a probe outside the priors)
                retry = [] if None in inits else [fit_map(X, y, priors, cfg.kernel, None, cfg.map_steps, cfg.map_lr,
                                                          cfg.map_optimizer)]
                # else the starting point itself, unoptimised: the last MAP, or the priors' medians at the first fit
                start = fit_map(X, y, priors, cfg.kernel, self._hypers, 0, cfg.map_lr, "adam")
                finite = [f for f in retry + [start] if math.isfinite(f[1])] or [start]
            self._hypers = min(finite, key=lambda f: f[1])[0]
            hypers = [self._hypers]
        self._fits += 1
        return X, y, st, hypers

    def _iteration_seed(self) -> int:
        return self.seed * 1_000_003 + len(self.evaluations)

    def _incumbent(self, X, y, st, hypers) -> dict:
        """Noisy incumbent: the evaluated point with the highest posterior mean (averaged over hypers)."""
        mu = torch.stack([GPPosterior(X, y, h, self.cfg.kernel).predict(X)[0] for h in hypers]).mean(0)
        i = int(mu.argmax())
        ev = self.evaluations[i]
        return {"n": len(self.evaluations), "arch": ev.arch, "posterior_mean": float(st.inverse(mu[i])),
                "observed": self.cell_means()[ev.arch][0]}

    def _second_check(self, X, y, st, hypers, pending: Sequence[str] = ()) -> str | None:
        """The evaluated architecture to verify besides the leader (``bo.replicate_also``; ``pyronas.bo.verify``)."""
        cfg, means = self.cfg, self.cell_means()
        if cfg.replicate_also == "incumbent":
            return incumbent_to_verify(means, self.incumbents[-1]["arch"], cfg.replicate, pending)
        preds = [GPPosterior(X, y, h, cfg.kernel).predict(X) for h in hypers]
        mu = torch.stack([m for m, _ in preds]).mean(0)
        sigma = torch.stack([v for _, v in preds]).mean(0).sqrt()
        lead_value = float(st(torch.tensor(means[leader(means)][0])))
        return challenger([ev.arch for ev in self.evaluations], mu, sigma, means, lead_value, cfg.replicate, pending)

    def _genotype_of(self, arch: str) -> Genotype:
        return Genotype.from_dict(next(ev for ev in self.evaluations if ev.arch == arch).genotype)

    # ---------------------------------------------------------------- proposals
    def _candidates(
        self, g: torch.Generator, pending: Sequence[Genotype] = ()
    ) -> tuple[list[Genotype] | None, torch.Tensor, torch.Tensor]:
        """Candidate genotypes (None when enumerated: decode from op indices) and encodings, minus evaluated
        and pending ones."""
        if self._enumerable:
            keep = torch.ones(self._all_idx.shape[0], dtype=torch.bool)
            for genotype in [Genotype.from_dict(ev.genotype) for ev in self.evaluations] + list(pending):
                keep[row_of(self.space, genotype)] = False
            if self.cfg.local_radius > 0:  # only near the best: the incumbent-mutating optimiser of BANANAS
                top = self._all_idx[[row_of(self.space, Genotype.from_dict(self.evaluations[i].genotype))
                                     for i in self._top_indices()]]
                near = keep & within(self._all_idx, top, self.cfg.local_radius)
                keep = near if bool(near.any()) else keep
            return None, self._all_idx[keep], self._all_X[keep]
        seen = {ev.arch for ev in self.evaluations} | {key(p) for p in pending}
        parents = [Genotype.from_dict(self.evaluations[i].genotype) for i in self._top_indices()]
        cands = [c for c in candidate_genotypes(self.space, parents, self.cfg.n_random, self.cfg.n_mutations, g)
                 if key(c) not in seen]
        return cands, torch.empty(0), self._encode(torch.stack([self.space.encode(c) for c in cands]))

    def _top_indices(self) -> list[int]:
        """First evaluation of each of the ``mutate_top`` architectures with the best mean observation."""
        means, first = self.cell_means(), {}
        for i, ev in enumerate(self.evaluations):
            first.setdefault(ev.arch, i)
        order = sorted(means, key=lambda a: -means[a][0])
        return [first[a] for a in order[: self.cfg.mutate_top]]

    def propose(self, pending: Sequence[Genotype] = ()) -> list[Genotype]:
        """The next batch of architectures to evaluate; ``pending`` are architectures being evaluated
        elsewhere (asynchronous BO, ``pyronas.sweep.run_bo_async``): never proposed again, and their outcomes
        fantasised like the batch's own earlier picks. With ``replicate > 1`` the batch is the leader alone while
        it (with its pending copies) has fewer than ``replicate`` evaluations; then, with ``replicate_also``, the
        architecture ``_second_check`` names."""
        cfg = self.cfg
        g = torch.Generator().manual_seed(self._iteration_seed())
        n_left = cfg.budget - len(self.evaluations) - len(pending)
        q = min(cfg.batch_size, n_left)
        pending_archs = [key(p) for p in pending]
        if len(self.evaluations) >= max(cfg.n_init, cfg.replicate_after) and cfg.replicate > 1:
            lead = leader_to_verify(self.cell_means(), cfg.replicate, pending_archs)
            if lead is not None:  # verify before trusting: one more evaluation of the leader
                return [self._genotype_of(lead)]
        if len(self.evaluations) < cfg.n_init or cfg.acquisition == "random":
            q = min(q, cfg.n_init - len(self.evaluations)) if cfg.acquisition != "random" else q
            return self._initial(q, g, pending_archs)
        X, y, st, hypers = self.fit()
        self.incumbents.append(self._incumbent(X, y, st, hypers))
        if cfg.replicate_also != "none" and cfg.replicate > 1 and len(self.evaluations) >= cfg.replicate_after:
            target = self._second_check(X, y, st, hypers, pending_archs)
            if target is not None:
                return [self._genotype_of(target)]
        cands, idx, Xc = self._candidates(g, pending)
        X_out = self._encode(torch.stack([self.space.encode(p) for p in pending])) if pending else None
        if Xc.shape[0] == 0:
            raise ValueError(f"bo.budget: every candidate architecture of {self.space.name!r} is already evaluated")
        q = min(q, Xc.shape[0])
        t = len(self.evaluations) + 1
        xi = xi_schedule(cfg.xi, t, cfg.budget, cfg.xi_schedule)
        kappa = ucb_kappa(t, Xc.shape[1], cfg.ucb_delta, cfg.ucb_nu) if cfg.acquisition == "ucb" else 0.0
        chosen: list[int] = []
        for _ in range(q):
            parts = [p for p in (X_out, Xc[chosen] if chosen else None) if p is not None]
            a = integrated_acquisition(X, y, hypers, Xc, cfg.acquisition, kernel=cfg.kernel, xi=xi, kappa=kappa,
                                       pending=torch.cat(parts) if parts else None, n_fantasies=cfg.n_fantasies,
                                       generator=g, shortlist=cfg.ts_shortlist)
            if chosen:
                a[chosen] = -float("inf")
            chosen.append(int(a.argmax()))
        if cands is None:
            return [decode_op_indices(self.space, idx[c]) for c in chosen]
        return [cands[c] for c in chosen]

    def zero_cost_design(self) -> list[Genotype]:
        """``bo.init_design: zero_cost``'s ``n_init`` architectures (``pyronas.bo.design``), best first. The pool is
        drawn under the run's seed alone, so a resumed run rebuilds the same design."""
        if self._warm is None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 - 1)  # not an iteration seed (those are >= 0)
            self._warm = zero_cost_design(self.space, self.proxy, self.cfg.n_init, self.cfg.init_pool, g)
        return self._warm

    def _initial(self, q: int, g: torch.Generator, pending: Sequence[str]) -> list[Genotype]:
        """``q`` new architectures, none evaluated or ``pending`` (keys): the zero-cost design's next ones, else
        (``init_design: random``, ``acquisition: random``, or asynchronous workers holding the rest of the design)
        uniformly random ones."""
        seen = {ev.arch for ev in self.evaluations} | set(pending)
        if self.cfg.init_design == "zero_cost" and self.cfg.acquisition != "random":
            picks = [c for c in self.zero_cost_design() if key(c) not in seen][:q]
            if picks:
                return picks
        return random_architectures(self.space, q, g, seen)

    # ---------------------------------------------------------------- loop
    def step(self) -> list[Evaluation]:
        """Propose a batch, evaluate it, record the evaluations."""
        new = []
        for genotype in self.propose():
            t0 = time.perf_counter()
            value = float(self.objective(genotype))
            ev = Evaluation(len(self.evaluations), key(genotype), genotype.to_dict(), value,
                            time.perf_counter() - t0, time.time())
            self._record(ev)
            new.append(ev)
            logger.info("eval %d: %.4f %s", ev.index, value, ev.arch)
        if self.out_dir is not None:
            write_json(self.out_dir, "trajectory.json", self.trajectory())
        return new

    def run(self) -> Genotype:
        """Run until ``budget`` evaluations exist; return (and save) the final noisy incumbent."""
        while len(self.evaluations) < self.cfg.budget:
            self.step()
        return self.finish()

    def finish(self) -> Genotype:
        """The architecture to return (best observed, or the GP's incumbent among those evaluated); writes
        trajectory.json and genotype.json."""
        means = self.cell_means()
        if self.cfg.acquisition == "random" or len(self.evaluations) < 2:
            lead = leader(means)
            best = next(ev for ev in self.evaluations if ev.arch == lead)
        else:
            X, y, st, hypers = self.fit()
            inc = self._incumbent(X, y, st, hypers)
            if not self.incumbents or self.incumbents[-1]["n"] != inc["n"]:
                self.incumbents.append(inc)
            best = next(ev for ev in self.evaluations if ev.arch == inc["arch"])
        genotype = Genotype.from_dict(best.genotype)
        if self.board is not None:
            self.board.close()
        if self.out_dir is not None:
            write_json(self.out_dir, "trajectory.json", self.trajectory())
            write_json(self.out_dir, "genotype.json", {**genotype.to_dict(), "value": means[best.arch][0]})
        return genotype


def run_bo(cfg, out_dir: str | Path, resume: bool = False) -> Genotype:
    """``pyronas bo``: run (or, with ``resume``, continue) BO-NAS of ``cfg`` in ``out_dir``."""
    out = Path(out_dir)
    if not resume and (out / "evaluations.jsonl").exists():
        raise ValueError(f"{out} already holds evaluations; continue it with --resume {out}")
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        cfg.save(out / "config.yaml")
    check_space(get_space(cfg.space), cfg.bo)  # before build_objective reads any data
    from pyronas.bo.targets import build_objective

    objective = build_objective(cfg)
    proxy = objective.synflow if cfg.bo.init_design == "zero_cost" else None  # a train objective (BOConfig checks)
    bo = BayesOpt(get_space(cfg.space), objective, cfg.bo, seed=cfg.seed, out_dir=out,
                  tensorboard=cfg.output.tensorboard, proxy=proxy)
    return bo.run()
