"""The ``Search`` class: a config assembled into data, supernet, Pyro model and guide, objective and
``BilevelSVI`` (``pyronas.infer.engine``), and the loop of epochs over it.

``Search(cfg, out_dir).run()`` evaluates the plug-in prediction on the architecture split after every
epoch, keeps the history and metrics, writes them to the run folder atomically (``pyronas.io``) and
checkpoints after every epoch (and on Ctrl-C) through ``CheckpointMixin``
(``pyronas.infer.runner.checkpoint``). Plug-ins -- callbacks (``pyronas.callbacks``) and selection rules
(``pyronas.select.rules``) -- see a ``SearchState`` (``pyronas.infer.state``), not the runner. The runner
knows no method by name.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import pyro
import torch
import yaml

from pyronas.callbacks.base import Callback, load_callback
from pyronas.config import Config, ConfigError
from pyronas.data.datasets import Batches, Dataset, bilevel_split, load_dataset
from pyronas.distributed import DistributedRuntime, broadcast_state, init_from_env, shard_batches
from pyronas.infer.build import build_guide, build_model, describe, make_objective
from pyronas.infer.engine import BilevelSVI, NonFiniteLossError
from pyronas.infer.first_step import warn_if_kl_dominates
from pyronas.infer.objectives import Objective
from pyronas.infer.program import ArchGuide, SupernetModel, as_arch_guide
from pyronas.infer.runner.checkpoint import CHECKPOINT, CheckpointMixin
from pyronas.infer.state import SearchState, arch_parameters, weight_parameters
from pyronas.io import atomic_write_json, atomic_write_text
from pyronas.nn.spaces import Genotype, SearchSpace, get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import lr_at, make_optimizer, set_lr
from pyronas.preflight import preflight
from pyronas.progress import Progress
from pyronas.rng import seed_everything
from pyronas.runtime import Runtime, set_threads
from pyronas.select.rules import select

__all__ = ["Search"]

log = logging.getLogger(__name__)


class Search(CheckpointMixin):
    """A configured search: data, supernet, Pyro model and guide, objective, the engine, state.

    Everything the CLI does is a few calls: ``Search(cfg, out_dir).run()`` returns the genotype.
    ``state`` is what plug-ins see; ``svi`` is the engine a step goes through.
    """

    def __init__(
        self,
        cfg: Config,
        out_dir: str | Path | None = None,
        data: Dataset | None = None,
        model: SupernetModel | None = None,
        guide: ArchGuide | None = None,
        objective: Objective | None = None,
        runtime: Runtime | None = None,
    ):
        """Build everything from ``cfg``; ``model`` (with its supernet), ``guide`` and ``objective``
        may instead be passed in, so a script can swap one piece and keep the rest. Seeds the global
        RNGs with ``cfg.seed``; leaves Pyro's param store alone (the program keeps its parameters
        in its modules)."""
        self.cfg = cfg
        # names, combinations, extras and data files, before any data is read (pyronas.preflight)
        preflight(cfg, data_given=data is not None,
                  program_given=model is not None or guide is not None or objective is not None)
        device = torch.device(cfg.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' requested but CUDA is not available on this machine")
        # under torchrun: join the process group; rank 0 alone writes the run folder (pyronas.distributed)
        self.world = init_from_env(device)
        if self.world.active and device.type == "cuda":
            device = torch.device("cuda", self.world.local_rank)
        out = Path(out_dir) if out_dir is not None and self.world.is_main else None
        seed_everything(cfg.seed + self.world.rank)  # per-rank guide noise; parameters are broadcast below
        set_threads(cfg.runtime.threads)  # torch CPU threads: a default that does not oversubscribe
        space = get_space(cfg.space)

        dc = cfg.data
        train = data if data is not None else load_dataset(dc.name, dc.root, True, dc.download, dc.image_size)
        w_idx, a_idx = bilevel_split(len(train), dc.portion, dc.split, cfg.seed)
        weight_data = train.subset(w_idx).to(device)
        arch_data = train.subset(a_idx).to(device)
        self.weight_batches = shard_batches(Batches(weight_data, dc.batch_size, cfg.seed, dc.augment), self.world)
        self.arch_batches = shard_batches(Batches(arch_data, dc.batch_size, cfg.seed + 1, dc.augment), self.world)
        if len(self.weight_batches) == 0 or len(self.arch_batches) == 0:
            raise ConfigError(f"data.batch_size: {dc.batch_size} is larger than a split ({len(w_idx)}/{len(a_idx)})")

        if model is None:
            sc = cfg.supernet
            supernet = Supernet(
                space, sc.C, sc.layers, train.shape[0], train.num_classes,
                sc.layout, sc.partial_channels, sc.track_running_stats,
            )
            model = build_model(cfg.model, supernet)
        if self.world.active and cfg.supernet.sync_batchnorm:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(device)
        if guide is None:
            guide = build_guide(cfg.guide, model, cfg.model)
        guide = as_arch_guide(guide, model).to(device)
        if cfg.search.order == 2 and not guide.supports_second_order:
            raise ConfigError(
                f"search.order: 2 is not supported by {describe(cfg.guide, 'guide')} "
                "(its samples are not twice differentiable); use order: 1"
            )
        objective = objective if objective is not None else make_objective(cfg)
        if runtime is None:  # the config's runtime: section (all off on CPU by default)
            runtime = Runtime.from_config(cfg.runtime, device)
        model.supernet = runtime.prepare_model(model.supernet)
        self.callbacks: list[Callback] = [
            load_callback(c.name, c.params, f"search.callbacks[{i}]") for i, c in enumerate(cfg.search.callbacks)
        ]
        if cfg.benchmark.name is not None:  # per-epoch benchmark accuracy of the derived genotype
            self.callbacks.append(load_callback("benchmark", vars(cfg.benchmark), "benchmark"))
        if cfg.output.tensorboard:  # after the configured callbacks, so it logs what they add
            from pyronas.callbacks.tensorboard import TensorBoard

            self.callbacks.append(TensorBoard())
        oc = cfg.optim
        if self.world.active:
            broadcast_state([model, guide], self.world)
            runtime = DistributedRuntime(runtime or Runtime(), self.world)
        try:
            self.svi = BilevelSVI(
                model, guide, objective,
                make_optimizer(weight_parameters(model, guide), oc.weights, "optim.weights"),
                make_optimizer(arch_parameters(guide), oc.arch, "optim.arch"),
                weight_size=len(weight_data), arch_size=len(arch_data),
                order=cfg.search.order, arch_first=cfg.search.arch_first,
                weight_clip=oc.weights.grad_clip, arch_clip=oc.arch.grad_clip, runtime=runtime,
            )
        except ValueError as e:
            if cfg.search.order == 2 and "order 2" in str(e):
                raise ConfigError(f"optim.weights.name: {e} (search.order: 2)") from None
            raise
        self.state = SearchState(cfg, space, model, guide, self.svi, weight_data, arch_data, device, out)
        self.step_history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self._accum = {"loss": 0.0, "correct": 0, "seen": 0}
        for cb in self.callbacks:
            cb.on_search_start(self.state)

    # --- views of the state (read-only conveniences for scripts and tests) -------------------
    out_dir = property(lambda self: self.state.out_dir)
    device = property(lambda self: self.state.device)
    space = property(lambda self: self.state.space)
    model = property(lambda self: self.state.model)
    supernet = property(lambda self: self.state.supernet)
    guide = property(lambda self: self.state.guide)
    weight_data = property(lambda self: self.state.weight_data)
    arch_data = property(lambda self: self.state.arch_data)
    epoch = property(lambda self: self.state.epoch)
    step_in_epoch = property(lambda self: self.state.step)
    global_step = property(lambda self: self.state.global_step)
    history = property(lambda self: self.state.history)
    metrics = property(lambda self: self.state.metrics)
    opt_w = property(lambda self: self.svi.weight_optim)
    opt_a = property(lambda self: self.svi.arch_optim)

    @property
    def objective(self) -> Objective:
        """The engine's objective."""
        return self.svi.objective

    @objective.setter
    def objective(self, objective: Objective) -> None:
        self.svi.objective = objective

    @property
    def steps_per_epoch(self) -> int:
        """Bilevel steps per epoch: one pass over the smaller split, capped by ``search.steps_per_epoch``."""
        n = min(len(self.weight_batches), len(self.arch_batches))  # one batch of each split per step
        return min(n, self.cfg.search.steps_per_epoch) if self.cfg.search.steps_per_epoch else n

    def op_probs(self) -> dict[str, torch.Tensor]:
        """Expected mixing weights per edge over the full op set (``SearchState.op_probs``)."""
        return self.state.op_probs()

    def evaluate(self, data: Dataset, max_batches: int | None = None) -> dict[str, float]:
        """Loss and accuracy on ``data`` with the posterior means (at most ``max_batches`` batches)."""
        return self.state.evaluate(data, max_batches)

    # --- the loop ----------------------------------------------------------------------------
    def run(self, progress_bar: bool = True) -> Genotype:
        """Run (or continue) the search to ``search.epochs`` and return the selected genotype.

        Runs inside a scope of Pyro's param store: whatever the caller keeps there is untouched."""
        with pyro.get_param_store().scope():
            return self._run(progress_bar)

    def _run(self, progress_bar: bool) -> Genotype:
        sc, st = self.cfg.search, self.state
        if st.out_dir is not None:
            st.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(st.out_dir / "config.yaml", yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        bar = Progress(sc.epochs * self.steps_per_epoch, st.epoch * self.steps_per_epoch + st.step,
                       desc=self.cfg.name, enabled=progress_bar and self.world.is_main,
                       interval=sc.progress_seconds)
        try:
            while st.epoch < sc.epochs:
                self._run_epoch(bar)
        except KeyboardInterrupt:
            log.warning("interrupted at epoch %d step %d; writing checkpoint", st.epoch, st.step)
            self.save_checkpoint()
            raise
        finally:
            bar.close()
        if sc.keep == "best" and self.best is not None and self.best["guide"] is not None:
            log.info("keeping the architecture of epoch %d (lowest arch-split error)", self.best["epoch"])
            st.guide.load_state_dict(self.best["guide"])
        genotype = select(st, self.cfg.select.rule, self.cfg.select.params)
        for cb in self.callbacks:
            cb.on_search_end(st)
        if st.out_dir is not None:
            atomic_write_json(st.out_dir / "genotype.json", genotype.to_dict(), indent=2)
        log.info("genotype: %s", genotype)
        return genotype

    def _run_epoch(self, bar: Progress) -> None:
        sc, st = self.cfg.search, self.state
        e, steps = st.epoch, self.steps_per_epoch
        set_lr(self.svi.weight_optim, lr_at(self.cfg.optim.weights, e, sc.epochs))
        set_lr(self.svi.arch_optim, lr_at(self.cfg.optim.arch, e, sc.epochs))
        search_arch = e >= sc.warmup_epochs and st.update_arch  # a callback may hold it (per-stage warm-up)
        t0 = time.perf_counter()
        arch_iter = self.arch_batches.epoch(e)
        for step, (xw, yw) in enumerate(self.weight_batches.epoch(e)):
            if step >= steps:
                break
            xa, ya = next(arch_iter)
            if step < st.step:  # resuming inside an epoch
                continue
            if st.global_step == 0:  # the first step of a run: warn if a KL / N term swamps the likelihood
                warn_if_kl_dominates(st.model, st.guide, self.objective, (xw, yw), len(st.weight_data))
            try:
                r = self.svi.step((xw, yw), (xa, ya), progress=e + step / steps, update_arch=search_arch)
            except NonFiniteLossError as err:
                ckpt = st.out_dir / CHECKPOINT if st.out_dir else None
                raise NonFiniteLossError(
                    f"{err} at epoch {e}, step {step}; stopping. "
                    f"Last good checkpoint kept: {ckpt if ckpt and ckpt.exists() else 'none'}"
                ) from err
            loss = r.weight_loss  # a float
            self._accum["loss"] += loss * len(yw)
            if r.logits is not None:
                self._accum["correct"] += int((r.logits.argmax(-1) == yw).sum())
            self._accum["seen"] += len(yw)
            st.step = step + 1
            st.global_step += 1
            if sc.record_every_steps and e == 0 and st.global_step % sc.record_every_steps == 0:
                self.step_history.append({"step": st.global_step, **_record(st.op_probs(), st.space)})
            for cb in self.callbacks:
                cb.on_step_end(st, st.global_step)
            bar.update(1, epoch=e, loss=f"{loss:.3f}")
        self._end_epoch(time.perf_counter() - t0)

    def _end_epoch(self, seconds: float) -> None:
        st, a = self.state, self._accum
        e = st.epoch
        val = st.evaluate(st.arch_data, self.cfg.search.eval_batches)
        probs = st.op_probs()  # once per epoch: the history row and its genotype share it
        rec = _record(probs, st.space)
        genotype = st.space.derive(probs)  # the "mean" selection rule
        row = {
            "epoch": e,
            "train_loss": a["loss"] / max(a["seen"], 1),
            "train_acc": a["correct"] / max(a["seen"], 1),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "onehot": rec["onehot"],
            "lr_weights": self.svi.weight_optim.param_groups[0]["lr"],
            "seconds": seconds,
        }
        st.metrics.append(row)
        st.history.append({"epoch": e, **rec, "genotype": genotype.to_dict()})
        if self.best is None or val["acc"] > self.best["val_acc"]:
            # the guide's state is copied only when it will be used
            state = copy.deepcopy(st.guide.state_dict()) if self.cfg.search.keep == "best" else None
            self.best = {"epoch": e, "val_acc": val["acc"], "guide": state}
        log.info(
            "epoch %d: train loss %.4f acc %.3f | arch-split loss %.4f acc %.3f | one-hot %.3f | %s (%.1fs)",
            e, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["onehot"], genotype, seconds,
        )
        st.row = row
        try:
            for cb in self.callbacks:
                cb.on_epoch_end(st, e)
        finally:
            st.row = None
        st.epoch, st.step = e + 1, 0
        self._accum = {"loss": 0.0, "correct": 0, "seen": 0}
        self.write_outputs()
        self.save_checkpoint()


def _record(probs: dict[str, torch.Tensor], space: SearchSpace) -> dict[str, Any]:
    """Op probabilities per edge (``op_probs[kind][edge][op]``, named by ``edges`` -- ``"1<-0"``, the
    labels of ArviZ, TensorBoard and the plots -- and ``ops``) and one-hotness (mean over edges of the
    largest op probability)."""
    return {
        "op_probs": {k: v.tolist() for k, v in probs.items()},
        "edges": space.edge_labels(),
        "ops": list(space.ops),
        "onehot": float(torch.stack([v.max(-1).values.mean() for v in probs.values()]).mean()),
    }

