"""The bilevel search loop (hand-written SVI): knows no method by name.

Per iteration (DARTS first order, Liu et al. 2019, Alg. 1):
  1. weight step on a batch of the weight split:  w ← w − η_w ∇_w L(w, q)
  2. architecture step on a batch of the architecture split (after ``warmup_epochs``):
     φ ← φ − η_α ∇_φ L(w, q_φ), with the unrolled 2nd-order gradient of DARTS eq. 7-8 if
     ``search.order: 2``.
``L`` is ``Objective.loss`` (per-datum negative ELBO + extra terms); each level takes
``torch.autograd.grad`` of the loss w.r.t. its own parameters only, so no stale gradient leaks
from one level into the other.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
import torch.nn.functional as F
from pyro import poutine
from tqdm.auto import tqdm

from pyronas.callbacks.base import Callback, load_callback
from pyronas.config import Config, ConfigError, load_config
from pyronas.data.datasets import Batches, Dataset, bilevel_split, load_dataset
from pyronas.infer.objectives import TERMS as _TERMS
from pyronas.infer.objectives import Objective, Schedule, TermSpec
from pyronas.infer.program import ArchGuide, SupernetModel, as_arch_guide, build_guide, build_model, describe
from pyronas.nn.spaces import Genotype, get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import lr_at, make_optimizer, set_lr
from pyronas.select.rules import select

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/Inf; the last good checkpoint is kept."""


def make_objective(cfg: Config) -> Objective:
    """The ELBO named in ``objective.elbo`` plus the configured extra terms and KL weights."""
    oc = cfg.objective
    elbo_cls = pyro.infer.TraceMeanField_ELBO if oc.elbo == "meanfield" else pyro.infer.Trace_ELBO
    terms = []
    for i, t in enumerate(oc.terms):
        if t.name not in _TERMS:
            raise ConfigError(f"objective.terms[{i}].name: unknown term {t.name!r} (known: {', '.join(_TERMS)})")
        terms.append(TermSpec(t.name, Schedule(t.weight, t.start_epoch, t.end_epoch)))
    kl = {prefix: Schedule(s.weight, s.start_epoch, s.end_epoch) for prefix, s in oc.kl_scales.items()}
    return Objective(elbo_cls(num_particles=oc.num_particles), terms, kl)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


def _site_mean(fn: Any, value: torch.Tensor) -> torch.Tensor:
    try:
        return fn.mean
    except (NotImplementedError, AttributeError):
        return value


class Search:
    """A configured search: data, supernet, Pyro model and guide, objective, optimizers, state.

    Everything the CLI does is a few calls: ``Search(cfg, out_dir).run()`` returns the genotype.
    """

    def __init__(
        self,
        cfg: Config,
        out_dir: str | Path | None = None,
        data: Dataset | None = None,
        model: SupernetModel | None = None,
        guide: ArchGuide | None = None,
        objective: Objective | None = None,
    ):
        """Build everything from ``cfg``; ``model`` (with its supernet), ``guide`` and ``objective``
        may instead be passed in, so a script can swap one piece and keep the rest."""
        self.cfg = cfg
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' requested but CUDA is not available on this machine")
        pyro.clear_param_store()
        seed_everything(cfg.seed)
        self.space = get_space(cfg.space)

        dc = cfg.data
        train = data if data is not None else load_dataset(dc.name, dc.root, True, dc.download, dc.image_size)
        w_idx, a_idx = bilevel_split(len(train), dc.portion, dc.split, cfg.seed)
        self.weight_data = train.subset(w_idx).to(self.device)
        self.arch_data = train.subset(a_idx).to(self.device)
        self.weight_batches = Batches(self.weight_data, dc.batch_size, cfg.seed, dc.augment)
        self.arch_batches = Batches(self.arch_data, dc.batch_size, cfg.seed + 1, dc.augment)
        if len(self.weight_batches) == 0 or len(self.arch_batches) == 0:
            raise ConfigError(f"data.batch_size: {dc.batch_size} is larger than a split ({len(w_idx)}/{len(a_idx)})")

        if model is None:
            sc = cfg.supernet
            supernet = Supernet(
                self.space, sc.C, sc.layers, train.shape[0], train.num_classes,
                sc.layout, sc.partial_channels, sc.track_running_stats,
            )
            model = build_model(cfg.model, supernet)
        self.model = model.to(self.device)
        self.supernet = self.model.supernet
        if guide is None:
            guide = build_guide(cfg.guide, self.model, cfg.model)
        self.guide: ArchGuide = as_arch_guide(guide, self.model).to(self.device)
        if cfg.search.order == 2 and not self.guide.supports_second_order:
            raise ConfigError(
                f"search.order: 2 is not supported by {describe(cfg.guide, 'guide')} "
                "(its samples are not twice differentiable); use order: 1"
            )
        self.objective = objective if objective is not None else make_objective(cfg)
        self.callbacks: list[Callback] = [
            load_callback(c.name, c.params, f"search.callbacks[{i}]") for i, c in enumerate(cfg.search.callbacks)
        ]
        self.rebuild_optimizers()
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.step_history: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self._accum = {"loss": 0.0, "correct": 0, "seen": 0}
        for cb in self.callbacks:
            cb.on_search_start(self)

    # --- parameters and optimizers -----------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        n = min(len(self.weight_batches), len(self.arch_batches))  # one batch of each split per step
        return min(n, self.cfg.search.steps_per_epoch) if self.cfg.search.steps_per_epoch else n

    def weight_parameters(self) -> list[torch.nn.Parameter]:
        """Network weights: the supernet's, the prior's, and the guide's q(w) parameters."""
        arch = {id(p) for p in self.guide.arch_parameters()}
        params = list(self.model.parameters()) + list(self.guide.weight_parameters())
        seen: set[int] = set()
        out = []
        for p in params:
            if id(p) not in arch and id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                out.append(p)
        return out

    def arch_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.guide.arch_parameters() if p.requires_grad]

    def rebuild_optimizers(self) -> None:
        """(Re)create both optimizers over the current parameters (after structure changes)."""
        oc = self.cfg.optim
        self.w_params, self.a_params = self.weight_parameters(), self.arch_parameters()
        self.opt_w = make_optimizer(self.w_params, oc.weights, "optim.weights")
        self.opt_a = make_optimizer(self.a_params, oc.arch, "optim.arch")
        self.guide.bind_optimizer(self.opt_a)

    # --- one step of each level --------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor, n_data: int, progress: float):
        try:
            return self.objective.loss(self.model, self.guide, x, y, n_data, progress)
        except ValueError as e:  # Pyro's validation rejects NaN/Inf parameters of a distribution
            if "invalid values" not in str(e):
                raise
            self._check(torch.tensor(float("nan")), "the")
            raise

    def _check(self, loss: torch.Tensor, where: str) -> None:
        if not torch.isfinite(loss):
            ckpt = self.out_dir / CHECKPOINT if self.out_dir else None
            raise NonFiniteLossError(
                f"{where} loss became {loss.item()} at epoch {self.epoch}, step {self.step_in_epoch}; "
                f"stopping. Last good checkpoint kept: {ckpt if ckpt and ckpt.exists() else 'none'}"
            )

    @staticmethod
    def _apply(grads, params, opt: torch.optim.Optimizer, clip: float | None) -> None:
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip)
        opt.step()

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, progress: float) -> tuple[torch.Tensor, Any]:
        loss, rec = self.loss(x, y, len(self.weight_data), progress)
        self._check(loss, "weight-split")
        grads = torch.autograd.grad(loss, self.w_params, allow_unused=True)
        self._apply(grads, self.w_params, self.opt_w, self.cfg.optim.weights.grad_clip)
        return loss.detach(), rec

    def arch_step(self, xa, ya, progress: float, xw=None, yw=None) -> torch.Tensor:
        if self.cfg.search.order == 2:
            loss, grads = self._unrolled_grads(xw, yw, xa, ya, progress)
        else:
            loss, _ = self.loss(xa, ya, len(self.arch_data), progress)
            self._check(loss, "architecture-split")
            grads = torch.autograd.grad(loss, self.a_params, allow_unused=True)
        self._apply(grads, self.a_params, self.opt_a, self.cfg.optim.arch.grad_clip)
        return loss.detach()

    def _unrolled_grads(self, xw, yw, xa, ya, progress):
        """DARTS 2nd-order gradient (Liu et al. 2019, eq. 7-8):
        ∇_α L_val(w', α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w'} L_val(w', α),  w' = w − ξ ∇_w L_train(w, α),
        the Hessian-vector product by central finite differences with ε = 0.01 / ‖∇_{w'} L_val‖.
        The guide's noise is shared between the train-loss evaluations (forked RNG)."""
        n_w, n_a = len(self.weight_data), len(self.arch_data)
        wc = self.cfg.optim.weights
        xi = self.opt_w.param_groups[0]["lr"]
        seed = int(torch.randint(0, 2**31 - 1, (1,)))

        def train_grads(params):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                loss, _ = self.loss(xw, yw, n_w, progress)
            return torch.autograd.grad(loss, params, allow_unused=True)

        w = self.w_params
        backup = [p.detach().clone() for p in w]
        g_w = train_grads(w)
        with torch.no_grad():
            for p, g in zip(w, g_w, strict=True):
                if g is None:
                    continue
                buf = self.opt_w.state.get(p, {}).get("momentum_buffer")
                step = g + wc.weight_decay * p
                if buf is not None:
                    step = step + wc.momentum * buf
                p.sub_(xi * step)
        loss, _ = self.loss(xa, ya, n_a, progress)
        self._check(loss, "architecture-split")
        grads = torch.autograd.grad(loss, self.a_params + w, allow_unused=True)
        d_alpha, d_w = list(grads[: len(self.a_params)]), grads[len(self.a_params) :]
        norm = torch.sqrt(sum((g**2).sum() for g in d_w if g is not None))
        eps = 0.01 / (norm + 1e-12)

        def shift(sign: float):
            with torch.no_grad():
                for p, b, g in zip(w, backup, d_w, strict=True):
                    p.copy_(b if g is None else b + sign * eps * g)

        shift(+1.0)
        g_pos = train_grads(self.a_params)
        shift(-1.0)
        g_neg = train_grads(self.a_params)
        with torch.no_grad():
            for p, b in zip(w, backup, strict=True):
                p.copy_(b)
        for i, (gp, gn) in enumerate(zip(g_pos, g_neg, strict=True)):
            if gp is not None and d_alpha[i] is not None:
                d_alpha[i] = d_alpha[i] - xi * (gp - gn) / (2 * eps)
        return loss.detach(), d_alpha

    # --- summaries ---------------------------------------------------------------------------
    def op_probs(self) -> dict[str, torch.Tensor]:
        """Expected mixing weights per edge over the full op set, ``{kind: [edges, ops]}``."""
        probs = self.guide.op_probs()
        return {k: self.supernet.to_full(k, v.detach()).cpu() for k, v in probs.items()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits with every latent site at its posterior mean (plug-in prediction)."""
        n = len(self.arch_data)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            tr = poutine.trace(self.guide).get_trace(x, None, n)
            data = {
                name: _site_mean(s["fn"], s["value"])
                for name, s in tr.nodes.items()
                if s["type"] == "sample" and not s["is_observed"] and name != "data"
            }
            return poutine.condition(self.model, data=data)(x, None, n)

    @torch.no_grad()
    def evaluate(self, data: Dataset, max_batches: int | None = None) -> dict[str, float]:
        """Loss and accuracy of the plug-in prediction on ``data``."""
        self.model.eval()
        bs = self.cfg.data.eval_batch_size
        loss, correct, seen = 0.0, 0, 0
        for b in range(0, len(data), bs):
            if max_batches is not None and b // bs >= max_batches:
                break
            x, y = data.x[b : b + bs], data.y[b : b + bs]
            logits = self.predict(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(-1) == y).sum().item()
            seen += len(y)
        self.model.train()
        return {"loss": loss / max(seen, 1), "acc": correct / max(seen, 1)}

    def _record(self, probs: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
        """Op probabilities per edge and one-hotness (mean over edges of the largest op probability)."""
        probs = self.op_probs() if probs is None else probs
        return {
            "op_probs": {k: v.tolist() for k, v in probs.items()},
            "onehot": float(torch.stack([v.max(-1).values.mean() for v in probs.values()]).mean()),
        }

    # --- the loop ----------------------------------------------------------------------------
    def run(self, progress_bar: bool = True) -> Genotype:
        """Run (or continue) the search to ``search.epochs`` and return the selected genotype."""
        sc = self.cfg.search
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.cfg.save(self.out_dir / "config.yaml")
        total = sc.epochs * self.steps_per_epoch
        bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch + self.step_in_epoch,
                   disable=not progress_bar, desc=self.cfg.name, unit="step", dynamic_ncols=True)
        try:
            while self.epoch < sc.epochs:
                self._run_epoch(bar)
        except KeyboardInterrupt:
            log.warning("interrupted at epoch %d step %d; writing checkpoint", self.epoch, self.step_in_epoch)
            self.save_checkpoint()
            raise
        finally:
            bar.close()
        if sc.keep == "best" and self.best is not None and self.best["guide"] is not None:
            log.info("keeping the architecture of epoch %d (lowest arch-split error)", self.best["epoch"])
            self.guide.load_state_dict(self.best["guide"])
        genotype = select(self, self.cfg.select.rule, self.cfg.select.params)
        for cb in self.callbacks:
            cb.on_search_end(self)
        if self.out_dir is not None:
            genotype.save(self.out_dir / "genotype.json")
        log.info("genotype: %s", genotype)
        return genotype

    def _run_epoch(self, bar) -> None:
        sc, e = self.cfg.search, self.epoch
        set_lr(self.opt_w, lr_at(self.cfg.optim.weights, e, sc.epochs))
        set_lr(self.opt_a, lr_at(self.cfg.optim.arch, e, sc.epochs))
        search_arch = e >= sc.warmup_epochs
        t0 = time.perf_counter()
        arch_iter = self.arch_batches.epoch(e)
        for step, (xw, yw) in enumerate(self.weight_batches.epoch(e)):
            if step >= self.steps_per_epoch:
                break
            xa, ya = next(arch_iter)
            if step < self.step_in_epoch:  # resuming inside an epoch
                continue
            progress = e + step / self.steps_per_epoch
            loss, rec = self.weight_step(xw, yw, progress)
            if search_arch:
                self.arch_step(xa, ya, progress, xw, yw)
            self._accum["loss"] += loss.item() * len(yw)
            if rec.logits is not None:
                self._accum["correct"] += int((rec.logits.argmax(-1) == yw).sum())
            self._accum["seen"] += len(yw)
            self.step_in_epoch = step + 1
            self.global_step += 1
            if sc.record_every_steps and e == 0 and self.global_step % sc.record_every_steps == 0:
                self.step_history.append({"step": self.global_step, **self._record()})
            for cb in self.callbacks:
                cb.on_step_end(self, self.global_step)
            bar.update(1)
            bar.set_postfix(epoch=e, loss=f"{loss.item():.3f}")
        self._end_epoch(time.perf_counter() - t0)

    def _end_epoch(self, seconds: float) -> None:
        e, a = self.epoch, self._accum
        val = self.evaluate(self.arch_data, self.cfg.search.eval_batches)
        probs = self.op_probs()  # once per epoch: the history row and its genotype share it
        rec = self._record(probs)
        genotype = self.space.derive(probs)  # the "mean" selection rule
        row = {
            "epoch": e,
            "train_loss": a["loss"] / max(a["seen"], 1),
            "train_acc": a["correct"] / max(a["seen"], 1),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "onehot": rec["onehot"],
            "lr_weights": self.opt_w.param_groups[0]["lr"],
            "seconds": seconds,
        }
        sc = self.cfg.search
        if sc.hessian_every and (e % sc.hessian_every == 0 or e == sc.epochs - 1):
            from pyronas.analysis.hessian import arch_hessian_eig

            row["hessian_eig"] = arch_hessian_eig(self)
            log.info("epoch %d: dominant Hessian eigenvalue of the arch-split loss %.4g", e, row["hessian_eig"])
        self.metrics.append(row)
        self.history.append({"epoch": e, **rec, "genotype": genotype.to_dict()})
        if self.best is None or val["acc"] > self.best["val_acc"]:
            # the guide's state is copied only when it will be used
            state = copy.deepcopy(self.guide.state_dict()) if self.cfg.search.keep == "best" else None
            self.best = {"epoch": e, "val_acc": val["acc"], "guide": state}
        log.info(
            "epoch %d: train loss %.4f acc %.3f | arch-split loss %.4f acc %.3f | one-hot %.3f | %s (%.1fs)",
            e, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["onehot"], genotype, seconds,
        )
        self.epoch += 1
        self.step_in_epoch = 0
        self._accum = {"loss": 0.0, "correct": 0, "seen": 0}
        for cb in self.callbacks:
            cb.on_epoch_end(self, e)
        self.write_outputs()
        self.save_checkpoint()

    # --- outputs and checkpoints -------------------------------------------------------------
    def write_outputs(self) -> None:
        if self.out_dir is None:
            return
        _atomic_json(self.out_dir / "history.json", self.history)
        _atomic_json(self.out_dir / "metrics.json", self.metrics)
        if self.step_history:
            _atomic_json(self.out_dir / "steps.json", self.step_history)

    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.cfg.to_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "accum": dict(self._accum),
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "opt_w": self.opt_w.state_dict(),
            "opt_a": self.opt_a.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": self.history,
            "step_history": self.step_history,
            "metrics": self.metrics,
            "best": self.best,
            "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for cb, s in zip(self.callbacks, state["callbacks"], strict=False):
            cb.load_state_dict(s)
            cb.on_resume(self)
        self.model.load_state_dict(state["model"])
        self.guide.load_state_dict(state["guide"])
        self.rebuild_optimizers()
        self.opt_w.load_state_dict(state["opt_w"])
        self.opt_a.load_state_dict(state["opt_a"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self._accum = state["global_step"], dict(state["accum"])
        self.history, self.step_history = state["history"], state["step_history"]
        self.metrics, self.best = state["metrics"], state["best"]
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (temp file + rename)."""
        if self.out_dir is None or not self.cfg.output.checkpoint:
            return
        path = self.out_dir / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_json_default)
    os.replace(tmp, path)


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if torch.is_tensor(o):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None, data: Dataset | None = None) -> Search:
    """Rebuild a run's ``Search`` (config, supernet, model, guide, history) from its folder and
    checkpoint, e.g. for diagnostics or to continue it."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    ckpt = Path(checkpoint) if checkpoint else run_dir / CHECKPOINT
    for p in (cfg_path, ckpt):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist: is {run_dir} a pyronas run folder?")
    search = Search(load_config(cfg_path), run_dir, data=data)
    search.load_state_dict(torch.load(ckpt, map_location=search.device, weights_only=False))
    return search


def run_search(
    cfg: Config, out_dir: str | Path | None = None, resume: bool = False, progress_bar: bool = True,
    data: Dataset | None = None,
) -> Genotype:
    """Run a search from a config (the CLI's ``pyronas search``), logging into ``out_dir/search.log``."""
    out = Path(out_dir or cfg.output.dir or Path("runs") / cfg.name)
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "search.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("pyronas")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        if resume:
            search = load_run(out, data=data)
            log.info("resuming %s at epoch %d step %d", out, search.epoch, search.step_in_epoch)
        else:
            search = Search(cfg, out, data=data)
        pyro.enable_validation(False)
        return search.run(progress_bar)
    finally:
        root.removeHandler(handler)
        handler.close()
