"""Progressive architecture learning of DrNAS (Chen et al., ICLR 2021, section 2.4).

The search is split into stages. A stage runs with partial channel connections (each mixed op
sees 1/K of the channels, PC-DARTS); after it, every candidate op is *widened* to the next,
smaller K with the random mapping g of eq. 7–8, and each edge's op set is *pruned* to the ops
with the largest Dirichlet concentration β, so that peak memory stays about constant.

* ``random_mapping`` / ``widen_conv`` / ``widen_bn`` / ``widen_mixed_op`` / ``widen_supernet``: eq. 7–8.
* ``top_ops`` / ``prune_mixed_op`` / ``prune_supernet``: op pruning by the learnt β.
* ``next_stage`` / ``restructure``: one stage transition of a (supernet, model, guide) triple, and
  re-applying a recorded structure before loading a checkpoint (resume).
* ``peak_memory`` / ``stage_memory_report``: peak memory of one search step, per stage.
* ``Progressive``: the search callback (config ``search.callbacks: [{name: progressive, ...}]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn as nn

from pyronas.callbacks.base import Callback
from pyronas.nn.ops import FactorizedReduce, Zero
from pyronas.nn.supernet import MixedOp, SearchCell, Supernet

log = logging.getLogger(__name__)

# new parameter -> (the old parameter it came from, map of an old per-parameter tensor to the new shape)
Lineage = dict[nn.Parameter, tuple[nn.Parameter, Callable[[torch.Tensor], torch.Tensor]]]


# --- widening (eq. 7-8) -------------------------------------------------------------------------
def random_mapping(n: int, q: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """g: {0..q-1} -> {0..n-1}, g(j) = j for j < n, a uniform random sample for j >= n (eq. 7, 0-based)."""
    if q < n:
        raise ValueError(f"cannot widen {n} channels to {q}")
    extra = torch.randint(0, n, (q - n,), generator=generator)
    return torch.cat([torch.arange(n), extra])


def widen_conv(
    conv: nn.Conv2d, g_in: torch.Tensor, g_out: torch.Tensor, lineage: Lineage | None = None
) -> nn.Conv2d:
    """U_{o,i,h,w} = W_{g_out(o), g_in(i), h, w} (eq. 8), no division by the replication factor.

    A depthwise conv (``groups == in_channels``) has one filter per channel: U_o = W_{g_out(o)}
    with ``g_in`` and ``g_out`` the same mapping. ``lineage`` (optional) records how each new
    parameter derives from the old one, for ``carry_optimizer_state``.
    """
    W = conv.weight.detach()
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels
    if conv.groups > 1 and not depthwise:
        raise ValueError("only dense and depthwise convolutions can be widened")
    if depthwise and not torch.equal(g_in, g_out):
        raise ValueError("a depthwise conv is widened with one mapping for inputs and outputs")
    new_in, new_out = len(g_in), len(g_out)
    new = nn.utils.skip_init(  # no init: every value is copied, and the global RNG stays untouched
        nn.Conv2d, new_in, new_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
        groups=new_in if depthwise else 1, bias=conv.bias is not None,
        device=W.device, dtype=W.dtype,
    )
    g_out_d, g_in_d = g_out.to(W.device), g_in.to(W.device)

    def expand(t: torch.Tensor) -> torch.Tensor:
        return t[g_out_d] if depthwise else t[g_out_d][:, g_in_d]

    U = expand(W)
    if lineage is not None:
        lineage[new.weight] = (conv.weight, expand)
        if conv.bias is not None:
            lineage[new.bias] = (conv.bias, lambda t: t[g_out_d])
    with torch.no_grad():
        new.weight.copy_(U)
        if conv.bias is not None:
            new.bias.copy_(conv.bias[g_out_d])
    new.train(conv.training)
    return new


def widen_bn(bn: nn.BatchNorm2d, g: torch.Tensor, lineage: Lineage | None = None) -> nn.BatchNorm2d:
    """BatchNorm of the widened channels: affine parameters and running statistics copied through g."""
    ref = bn.weight if bn.affine else bn.running_mean
    device = ref.device if ref is not None else None
    new = nn.BatchNorm2d(
        len(g), bn.eps, bn.momentum, bn.affine, bn.track_running_stats, device=device,
    )
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            old = getattr(bn, name)
            if old is not None:
                getattr(new, name).copy_(old[g.to(old.device)])
                if lineage is not None and isinstance(old, nn.Parameter):
                    lineage[getattr(new, name)] = (old, lambda t, g=g: t[g.to(t.device)])
        if bn.track_running_stats:
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.train(bn.training)
    return new


def _widen_child(parent: nn.Module, name: str, child: nn.Module, g: torch.Tensor, generator, lineage) -> None:
    """Widen ``parent.<name>`` whose channel count is ``n`` to ``len(g)`` with mapping ``g``."""
    if isinstance(child, nn.Conv2d):
        setattr(parent, name, widen_conv(child, g, g, lineage))
    elif isinstance(child, nn.BatchNorm2d):
        setattr(parent, name, widen_bn(child, g, lineage))
    elif isinstance(child, FactorizedReduce):
        # two stride-2 1x1 convs, each to half the channels, concatenated before the BN
        n, q = child.conv_1.out_channels, len(g) // 2
        half = random_mapping(n, q, generator)
        child.conv_1 = widen_conv(child.conv_1, g, half, lineage)
        child.conv_2 = widen_conv(child.conv_2, g, half, lineage)
        child.bn = widen_bn(child.bn, torch.cat([half, half + n]), lineage)
    elif isinstance(child, Zero):
        child.C_out = len(g)
    else:
        for sub_name, sub in child.named_children():
            _widen_child(child, sub_name, sub, g, generator, lineage)


def widen_mixed_op(
    mixed: MixedOp, partial_channels: int, generator: torch.Generator | None = None, lineage: Lineage | None = None
) -> None:
    """Widen every op of ``mixed`` from ``C / K`` to ``C / partial_channels`` channels (eq. 7–8).

    One mapping g per op (a "layer" of eq. 8); it is used for the input and output channels of
    every conv inside that op, so the copied channels line up along the op's conv chain.
    """
    if mixed.k % partial_channels:
        raise ValueError(f"partial channels {mixed.k} -> {partial_channels}: not an integer widening factor")
    n, q = mixed.C // mixed.k, mixed.C // partial_channels
    if q == n:
        return
    for i, op in enumerate(mixed.ops):
        _widen_child(mixed.ops, str(i), op, random_mapping(n, q, generator), generator, lineage)
    mixed.k = partial_channels


def search_cells(supernet: Supernet) -> list[SearchCell]:
    return [c for c in supernet.cells if isinstance(c, SearchCell)]


def widen_supernet(
    supernet: Supernet, partial_channels: int, generator: torch.Generator | None = None, lineage: Lineage | None = None
) -> None:
    """Widen every mixed op of ``supernet`` to partial channel parameter ``partial_channels``."""
    for cell in search_cells(supernet):
        for mixed in cell.edges:
            widen_mixed_op(mixed, partial_channels, generator, lineage)


def partial_channels_of(supernet: Supernet) -> int:
    """The current K of the supernet's mixed ops (all equal)."""
    ks = {m.k for cell in search_cells(supernet) for m in cell.edges}
    if len(ks) != 1:
        raise ValueError(f"mixed ops disagree on partial channels: {sorted(ks)}")
    return ks.pop()


# --- pruning by β -------------------------------------------------------------------------------
def top_ops(op_probs: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Indices ``[edges, k]`` of the ``k`` ops with the largest Dirichlet mean β_o/Σβ (equivalently,
    largest β_o) on each edge, kept in their current order."""
    out = {}
    for kind, p in op_probs.items():
        if not 0 < k <= p.shape[-1]:
            raise ValueError(f"cannot keep {k} of {p.shape[-1]} ops")
        out[kind] = p.topk(k, dim=-1).indices.sort(dim=-1).values.cpu()
    return out


def prune_mixed_op(mixed: MixedOp, keep: list[int]) -> None:
    """Keep only ops ``keep`` (indices into the current ``op_names``) of one edge."""
    mixed.op_names = [mixed.op_names[i] for i in keep]
    mixed.ops = nn.ModuleList(mixed.ops[i] for i in keep)


def prune_supernet(supernet: Supernet, keep: dict[str, torch.Tensor]) -> None:
    """Prune edge ``e`` of every cell of kind ``kind`` to ops ``keep[kind][e]``."""
    for cell in search_cells(supernet):
        if cell.kind in keep:
            for e, mixed in enumerate(cell.edges):
                prune_mixed_op(mixed, [int(i) for i in keep[cell.kind][e]])


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


def carry_optimizer_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer, lineage: Lineage) -> None:
    """Move the per-parameter state (SGD momentum, Adam moments) of ``old`` into ``new`` after a
    stage change: a widened or pruned parameter gets its old state mapped the same way as its values
    (the official DrNAS code widens the momentum buffers with the same g); an unchanged parameter
    keeps its state; state that is not parameter-shaped (Adam's step count) is copied."""
    for group in new.param_groups:
        for p in group["params"]:
            src, fn = lineage.get(p, (p, None))
            state = old.state.get(src)
            if not state:
                continue
            new.state[p] = {k: _carry(v, src, fn) for k, v in state.items()}


def _carry(v, src: torch.Tensor, fn) -> object:
    if not torch.is_tensor(v):
        return v
    if fn is not None and v.shape == src.shape:
        return fn(v).clone()
    return v.clone()


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


# --- peak memory --------------------------------------------------------------------------------
def peak_memory(step: Callable[[], None], device: torch.device | str = "cpu") -> dict[str, float]:
    """Peak memory of one call of ``step`` (e.g. loss + backward of a search step), in MiB.

    * CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` — the allocator's
      true peak (``peak_mib``).
    * CPU: torch's CPU allocator has no peak counter and ``tracemalloc`` does not see tensor
      storage (it tracks Python's allocator only); ``ru_maxrss`` is a process-lifetime maximum, so
      its deltas stay 0 once an earlier stage was larger. We therefore report what dominates
      training memory: the bytes of the distinct tensors autograd saves for backward during
      ``step`` (``torch.autograd.graph.saved_tensors_hooks``) plus parameters and gradients
      (``peak_mib`` = activations + 2 · parameters). Deterministic, so comparable across stages.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return {"peak_mib": torch.cuda.max_memory_allocated(device) / 2**20, "method": "cuda_max_memory_allocated"}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if isinstance(t, torch.Tensor) and t.layout == torch.strided:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return {"activations_mib": sum(seen.values()) / 2**20, "method": "saved_tensors_bytes"}


def stage_memory_report(
    supernet: Supernet, model, guide, objective, x: torch.Tensor, y: torch.Tensor, n_data: int
) -> dict[str, float]:
    """Peak memory (MiB) of one loss + backward of the current stage's program on batch (x, y).

    See ``peak_memory`` for what is measured on CUDA and on CPU. Also reports the stage's K and
    the number of candidate ops per edge.
    """
    def step() -> None:
        loss, _ = objective.loss(model, guide, x, y, n_data)
        loss.backward()

    model.zero_grad(set_to_none=True)
    guide.zero_grad(set_to_none=True)
    report = peak_memory(step, x.device)
    if "activations_mib" in report:
        params = sum(p.numel() * p.element_size() for p in supernet.parameters()) / 2**20
        report["params_mib"] = params
        report["peak_mib"] = report["activations_mib"] + 2 * params
    model.zero_grad(set_to_none=True)
    guide.zero_grad(set_to_none=True)
    report["partial_channels"] = partial_channels_of(supernet)
    report["num_ops"] = max(o for _, o in supernet.arch_shapes().values())
    return report


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
    ):
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
        self.stage = 0
        self.structure: dict | None = None
        self.memory: list[dict] = []

    def on_search_start(self, search) -> None:
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

    def on_epoch_end(self, search, epoch: int) -> None:
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
        return {"stage": self.stage, "structure": self.structure, "memory": self.memory}

    def load_state_dict(self, state: dict) -> None:
        self.stage, self.structure, self.memory = state["stage"], state["structure"], list(state["memory"])

    def on_resume(self, search) -> None:
        if self.structure is not None:
            restructure(
                search.supernet, search.model, search.guide,
                self.structure["op_names"], self.structure["partial_channels"],
            )
