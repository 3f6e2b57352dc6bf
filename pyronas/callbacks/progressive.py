"""Progressive architecture learning of DrNAS (Chen et al., ICLR 2021, section 2.4).

The search is split into stages. A stage runs with partial channel connections (each mixed op
sees 1/K of the channels, PC-DARTS); after it, every candidate op is *widened* to the next,
smaller K with the random mapping g of eq. 7–8, and each edge's op set is *pruned* to the ops
with the largest Dirichlet concentration β, so that peak memory stays about constant.

* ``top_ops``: which ops to keep, by the learnt β.
* ``next_stage`` / ``restructure``: one stage transition of a (supernet, model, guide) triple, and
  re-applying a recorded structure before loading a checkpoint (resume). The supernet surgery
  itself is ``pyronas.nn.surgery``; the optimizer state follows with
  ``pyronas.optim.carry.carry_optimizer_state``.
* ``memory_per_stage``: peak memory of one search step per stage (``pyronas.infer.memory``).
* ``Progressive``: the search callback (config ``search.callbacks: [{name: progressive, ...}]``).
"""

from __future__ import annotations

import logging

import torch

from pyronas.callbacks.base import Callback
from pyronas.infer.memory import stage_memory_report
from pyronas.nn.supernet import Supernet
from pyronas.nn.surgery import Lineage, partial_channels_of, prune_supernet, widen_supernet
from pyronas.optim.carry import carry_optimizer_state

log = logging.getLogger(__name__)


# --- the program's stage transition ----------------------------------------------------------------
def top_ops(op_probs: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Indices ``[edges, k]`` of the ``k`` ops with the largest Dirichlet mean β_o/Σβ (equivalently,
    largest β_o) on each edge, kept in their current order."""
    out = {}
    for kind, p in op_probs.items():
        if not 0 < k <= p.shape[-1]:
            raise ValueError(f"cannot keep {k} of {p.shape[-1]} ops")
        out[kind] = p.topk(k, dim=-1).indices.sort(dim=-1).values.cpu()
    return out


def _sync_shapes(supernet: Supernet, model, guide) -> None:
    shapes = supernet.arch_shapes()
    model.prior.arch_shapes = dict(shapes)
    guide.arch_shapes = dict(shapes)


def _prune_program(supernet: Supernet, model, guide, keep: dict[str, torch.Tensor], lineage=None) -> None:
    if not hasattr(guide, "prune_ops"):
        raise TypeError(f"{type(guide).__name__} cannot prune its op set (no prune_ops method)")
    prune_supernet(supernet, keep)
    guide.prune_ops(keep, lineage)
    _sync_shapes(supernet, model, guide)


def next_stage(
    supernet: Supernet,
    model,
    guide,
    num_ops: int | None,
    partial_channels: int,
    generator: torch.Generator | None = None,
    lineage: Lineage | None = None,
) -> dict[str, list[list[str]]]:
    """One DrNAS stage transition: prune every edge to the ``num_ops`` ops of largest β (the
    guide's parameters pruned alike), then widen to ``partial_channels`` (eq. 7–8).

    Returns the op names per edge of every cell kind after the transition.
    """
    shapes = supernet.arch_shapes()
    if num_ops is not None and any(num_ops < o for _, o in shapes.values()):
        _prune_program(supernet, model, guide, top_ops(guide.op_probs(), num_ops), lineage)
    widen_supernet(supernet, partial_channels, generator, lineage)
    return {kind: supernet.candidate_ops(kind) for kind in shapes}


def restructure(supernet: Supernet, model, guide, op_names: dict[str, list[list[str]]], partial_channels: int) -> None:
    """Re-apply a recorded stage structure to a freshly built program before loading its weights
    (resume after a stage change): prune to ``op_names`` and widen to ``partial_channels``; the
    widened values are then overwritten by the checkpoint."""
    keep = {}
    for kind, names in op_names.items():
        current = supernet.candidate_ops(kind)
        keep[kind] = torch.tensor([[cur.index(n) for n in want] for cur, want in zip(current, names, strict=True)])
    if any(keep[k].shape[-1] < len(supernet.candidate_ops(k)[0]) for k in keep):
        _prune_program(supernet, model, guide, keep)
    widen_supernet(supernet, partial_channels, torch.Generator().manual_seed(0))  # leaves the global RNG alone


def memory_per_stage(
    supernet: Supernet,
    model,
    guide,
    objective,
    x: torch.Tensor,
    y: torch.Tensor,
    n_data: int,
    partial_channels: list[int],
    num_ops: list[int | None] | None = None,
) -> list[dict[str, float]]:
    """``stage_memory_report`` of every stage of a progressive schedule (DrNAS Table 1's memory check).

    Stage 0 is the program as given (its K must be ``partial_channels[0]``); each later stage is
    reached with ``next_stage`` (pruning by the current β, widening), so the program is modified in
    place. DrNAS' claim (section 2.4, Table 1): the peaks stay about constant across stages.
    """
    num_ops = list(num_ops) if num_ops is not None else [None] * len(partial_channels)
    if partial_channels_of(supernet) != partial_channels[0]:
        raise ValueError(f"the supernet has K = {partial_channels_of(supernet)}, not {partial_channels[0]}")
    rows = []
    for s, k in enumerate(partial_channels):
        if s > 0:
            next_stage(supernet, model, guide, num_ops[s], k, torch.Generator().manual_seed(s))
        rows.append({"stage": s, **stage_memory_report(supernet, model, guide, objective, x, y, n_data)})
    return rows


# --- the search callback ------------------------------------------------------------------------
class Progressive(Callback):
    """DrNAS progressive learning as a search callback (section 2.4).

    Stage ``s`` runs ``epochs[s]`` epochs with partial channel parameter ``partial_channels[s]``
    and ``num_ops[s]`` candidate ops per edge. At the end of a stage every edge is pruned to the
    ops of largest β and every op is widened to the next K (``next_stage``); then the optimizers
    are rebuilt over the new parameters with their state carried over (``carry_optimizer_state``;
    the learning-rate schedule continues over all epochs, as in the official code). The per-stage
    peak memory of one search step is logged and stored in ``memory`` (see ``stage_memory_report``).

    Args:
        epochs: epochs per stage; their sum must equal ``search.epochs`` (paper: [25, 25]).
        partial_channels: K per stage, each dividing the previous one (paper: [6, 3]).
        num_ops: candidate ops per edge per stage, ``null`` = keep all (paper: [8, 4]).
        record_memory: measure one step's peak memory at the start of every stage.
        warmup_epochs: weight-only epochs at the start of EVERY stage (the official progressive scripts,
            ``train_search_progressive.py`` of both spaces, skip the architecture step for the first 10 epochs
            of each stage); it sets ``SearchState.update_arch``. Use it instead of ``search.warmup_epochs``,
            which counts once from the start of the search.

    Resume: ``state_dict`` keeps the stage and the structure (op names per edge, K); ``on_resume``
    re-applies it to the freshly built supernet and guide before the search loads their weights.
    Use ``search.keep: last``: a guide state from an earlier stage does not fit a pruned guide.
    """

    def __init__(
        self,
        epochs: list[int],
        partial_channels: list[int],
        num_ops: list[int | None] | None = None,
        record_memory: bool = True,
        warmup_epochs: int = 0,
    ):
        if warmup_epochs < 0 or any(warmup_epochs >= e for e in epochs):
            raise ValueError(
                f"progressive.warmup_epochs: must be in [0, epochs of the shortest stage), got {warmup_epochs}"
            )
        num_ops = list(num_ops) if num_ops is not None else [None] * len(epochs)
        if not (len(epochs) == len(partial_channels) == len(num_ops)) or not epochs:
            raise ValueError("progressive: epochs, partial_channels and num_ops need one entry per stage")
        for s in range(1, len(epochs)):
            if partial_channels[s - 1] % partial_channels[s]:
                raise ValueError(
                    f"progressive.partial_channels: {partial_channels[s - 1]} -> {partial_channels[s]} "
                    "is not an integer widening factor"
                )
        self.epochs, self.partial_channels, self.num_ops = list(epochs), list(partial_channels), num_ops
        self.ends = [sum(self.epochs[: s + 1]) for s in range(len(self.epochs))]
        self.record_memory = record_memory
        self.warmup_epochs = warmup_epochs
        self.update_arch = True
        self.stage = 0
        self.structure: dict | None = None
        self.memory: list[dict] = []

    def on_search_start(self, search) -> None:
        """Check the stages against the config (epochs, partial channels, ops per edge) and measure memory."""
        if self.ends[-1] != search.cfg.search.epochs:
            raise ValueError(
                f"progressive.epochs: the stages sum to {self.ends[-1]} epochs but search.epochs is "
                f"{search.cfg.search.epochs}"
            )
        if partial_channels_of(search.supernet) != self.partial_channels[0]:
            raise ValueError(
                f"progressive.partial_channels[0] = {self.partial_channels[0]} differs from "
                f"supernet.partial_channels = {partial_channels_of(search.supernet)}"
            )
        if search.cfg.search.keep == "best":
            raise ValueError("progressive: search.keep must be 'last' (the op sets change between stages)")
        if self.num_ops[0] is not None:
            n = max(o for _, o in search.supernet.arch_shapes().values())
            if self.num_ops[0] != n:
                raise ValueError(f"progressive.num_ops[0] = {self.num_ops[0]}, but the space has {n} ops per edge")
        self._measure(search)
        self._set_update_arch(search, search.epoch)

    def _set_update_arch(self, search, epoch: int) -> None:
        """Architecture steps in ``epoch`` only after the first ``warmup_epochs`` of the current stage."""
        start = self.ends[self.stage - 1] if self.stage > 0 else 0
        self.update_arch = search.update_arch = epoch - start >= self.warmup_epochs

    def on_epoch_end(self, search, epoch: int) -> None:
        """At a stage's last epoch: prune the ops, widen the channels, rebuild the optimizers and carry their state."""
        if self.stage + 1 < len(self.epochs) and epoch + 1 == self.ends[self.stage]:
            self.stage += 1
            s = self.stage
            lineage: Lineage = {}
            op_names = next_stage(
                search.supernet, search.model, search.guide, self.num_ops[s], self.partial_channels[s], lineage=lineage
            )
            self.structure = {"op_names": op_names, "partial_channels": self.partial_channels[s]}
            old_w, old_a = search.svi.weight_optim, search.svi.arch_optim
            search.rebuild_optimizers()
            carry_optimizer_state(old_w, search.svi.weight_optim, lineage)
            carry_optimizer_state(old_a, search.svi.arch_optim, lineage)
            log.info(
                "progressive: stage %d: %s ops per edge, partial channels K = %d",
                s, {k: len(v[0]) for k, v in op_names.items()}, self.partial_channels[s],
            )
            self._measure(search)
        self._set_update_arch(search, epoch + 1)

    def _measure(self, search) -> None:
        if not self.record_memory:
            return
        x, y = search.weight_data.x[: search.cfg.data.batch_size], search.weight_data.y[: search.cfg.data.batch_size]
        with torch.random.fork_rng(devices=[search.device] if search.device.type == "cuda" else []):
            report = stage_memory_report(
                search.supernet, search.model, search.guide, search.objective, x, y, len(search.weight_data)
            )
        report["stage"] = self.stage
        self.memory.append(report)
        log.info("progressive: stage %d peak memory %.1f MiB (%s)", self.stage, report["peak_mib"], report["method"])

    def state_dict(self) -> dict:
        """The stage, the network structure it left, the memory reports and the coming epoch's warm-up state."""
        return {"stage": self.stage, "structure": self.structure, "memory": self.memory,
                "update_arch": self.update_arch}

    def load_state_dict(self, state: dict) -> None:
        """Restore the stage, structure and memory reports."""
        self.stage, self.structure, self.memory = state["stage"], state["structure"], list(state["memory"])
        self.update_arch = state.get("update_arch", True)  # checkpoints before per-stage warm-up: no warm-up

    def on_resume(self, search) -> None:
        """Re-apply the saved structure so that the checkpoint's tensors fit, and the epoch's warm-up state."""
        search.update_arch = self.update_arch
        if self.structure is not None:
            restructure(
                search.supernet, search.model, search.guide,
                self.structure["op_names"], self.structure["partial_channels"],
            )
