"""Data-parallel search and retraining with ``torch.distributed`` (launched by ``torchrun``).

One search runs on ``K`` processes. Every rank holds the whole supernet and guide; the batches of both
splits are sharded (``shard_batches``): global batch ``b`` of an epoch is the same permutation slice a
single process with batch ``K·B`` would take, and rank ``r`` reads its ``r``-th block of ``B`` examples,
so the ranks read disjoint, deterministic shards. After each level's ``autograd.grad`` the gradients are
averaged across ranks (``DistributedRuntime.grad``: one flat all-reduce per level), so every rank applies
the same update and the parameters stay identical after every step (broadcast once from rank 0 at the
start, ``broadcast_state``). The average of the ranks' per-datum losses is the loss of the global batch,
so with batch statistics switched off (or ``SyncBatchNorm`` on CUDA) a K-rank run with batch ``B`` equals a
one-process run with batch ``K·B``.

Stochastic guides draw per-rank noise: each rank seeds its generator with ``seed + rank``, so the K ranks
average K independent Monte-Carlo draws (a K-particle estimate of the ELBO gradient), not K copies of one.

Only rank 0 writes outputs, logs, progress and checkpoints; a checkpoint holds every rank's RNG state so
``--resume`` continues a distributed run exactly. ``nccl`` on CUDA, ``gloo`` on CPU. Without ``torchrun``
(``WORLD_SIZE`` unset or 1) nothing here is active and a run is the plain single-process one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pyronas.runtime import Runtime

__all__ = [
    "DistributedRuntime",
    "World",
    "all_gather_objects",
    "average_gradients",
    "barrier",
    "broadcast_state",
    "init_from_env",
    "shard_batches",
]


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``rank`` of ``size`` (``size == 1``: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes outputs, logs and checkpoints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when more than one process takes part."""
        return self.size > 1


def init_from_env(device: torch.device | str = "cpu") -> World:
    """Join the process group ``torchrun`` describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
    (``nccl`` for CUDA, ``gloo`` otherwise); a single process returns ``World()`` untouched."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(rank, size, local)


def current_world() -> World:
    """The ``World`` of an already initialised process group (``World()`` if none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(world: World) -> None:
    """Wait for every rank (a no-op on one process)."""
    if world.active:
        dist.barrier()


def broadcast_state(modules: Sequence[torch.nn.Module], world: World, src: int = 0) -> None:
    """Copy every parameter and buffer of ``modules`` from rank ``src`` to all ranks."""
    if not world.active:
        return
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src)


def all_gather_objects(obj: object, world: World) -> list[object]:
    """Every rank's ``obj`` (picklable, plain types), in rank order."""
    if not world.active:
        return [obj]
    out: list[object] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def _average(tensors: list[torch.Tensor], world: World) -> None:
    """Replace each tensor by its mean over the ranks (one flat all-reduce)."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


@torch.no_grad()
def average_gradients(params, world: World) -> None:
    """``p.grad ← (1/K) Σ_r p.grad_r`` for every parameter with a gradient (after ``loss.backward()``)."""
    if world.active:
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            _average(grads, world)


class DistributedRuntime(Runtime):
    """Wraps a ``Runtime``: its gradients averaged across the ranks of ``world`` (one flat all-reduce).

    ``grad`` returns ``(1/K) Σ_r ∇ L_r`` for every parameter used on the ranks; a parameter unused on
    every rank stays ``None`` (the ranks run the same program, so they agree on which are unused).
    """

    def __init__(self, inner: Runtime, world: World):
        self.inner, self.world = inner, world

    def autocast(self):
        """The wrapped runtime's autocast context."""
        return self.inner.autocast()

    def grad(self, loss, params, level, retain_graph=False):
        """The wrapped runtime's gradients of ``loss``, averaged over the ranks (None where a parameter got none)."""
        grads = self.inner.grad(loss, params, level, retain_graph=retain_graph)
        if not self.world.active:
            return grads
        used = [g.clone() for g in grads if g is not None]
        if used:
            _average(used, self.world)
        it = iter(used)
        return [None if g is None else next(it) for g in grads]

    def step(self, optimizer, level):
        """The wrapped runtime's optimizer step for ``level``."""
        self.inner.step(optimizer, level)

    def prepare_model(self, module):
        """The wrapped runtime's model preparation (memory format, compilation)."""
        return self.inner.prepare_model(module)

    def prepare_batch(self, x):
        """The wrapped runtime's batch preparation."""
        return self.inner.prepare_batch(x)

    def state_dict(self):
        """The wrapped runtime's state (its loss scalers)."""
        return self.inner.state_dict()

    def load_state_dict(self, state):
        """Restore the wrapped runtime's state."""
        self.inner.load_state_dict(state)


class ShardedBatches:
    """Rank ``world.rank``'s shard of ``batches``: the global batch of ``world.size · B`` examples that one
    process would read is cut into ``world.size`` consecutive blocks of ``B``; this rank reads its block.

    ``batches`` is a ``pyronas.data.Batches`` (or anything with ``data``, ``batch_size``, ``seed``,
    ``augment``, ``drop_last`` and its permutation rule); the permutation of epoch ``e`` is the same on
    every rank, so the shards are disjoint and deterministic.
    """

    def __init__(self, batches, world: World):
        self.inner, self.world = batches, world
        self.batch_size = batches.batch_size

    def __len__(self) -> int:
        return len(self.inner.data) // (self.batch_size * self.world.size)

    def epoch(self, e: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's block of every global batch of epoch ``e``."""
        for x, y in self.inner.epoch(e, global_batch=self.batch_size * self.world.size):
            lo = self.world.rank * self.batch_size
            yield x[lo : lo + self.batch_size], y[lo : lo + self.batch_size]


def shard_batches(batches, world: World):
    """``batches`` itself on one process, its rank's ``ShardedBatches`` in a distributed run."""
    return ShardedBatches(batches, world) if world.active else batches
