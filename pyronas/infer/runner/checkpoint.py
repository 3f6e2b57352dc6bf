"""A search's checkpoint: what ``checkpoint.pt`` holds, how a ``Search`` writes and restores it, and the
checks of a loaded one (a search checkpoint, its tensors on the search's device).

``CheckpointMixin`` is the part of ``pyronas.infer.runner.search.Search`` that turns its state into tensors
and plain types (``state_dict``) and back (``load_state_dict``); ``pyronas.io`` writes and reads the file
atomically and safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pyronas.config import ConfigError
from pyronas.distributed import all_gather_objects
from pyronas.errors import RunFolderError
from pyronas.io import atomic_write_json, check_shapes, save_checkpoint
from pyronas.rng import rng_state, set_rng_state

if TYPE_CHECKING:
    from pyronas.infer.runner.search import Search

__all__ = ["CHECKPOINT", "CheckpointMixin"]

CHECKPOINT = "checkpoint.pt"


class CheckpointMixin:
    """The run-folder outputs and checkpoint of a ``Search`` (its ``cfg``, ``state``, ``svi``, ``callbacks``,
    ``world``, ``step_history``, ``best`` and running sums): written after every epoch, restored by
    ``load_run``."""

    def write_outputs(self) -> None:
        """Write history.json, metrics.json (and steps.json) to the run folder."""
        out = self.state.out_dir
        if out is None:
            return
        atomic_write_json(out / "history.json", self.state.history)
        atomic_write_json(out / "metrics.json", self.state.metrics)
        if self.step_history:
            atomic_write_json(out / "steps.json", self.step_history)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors and plain types only."""
        st = self.state
        return {
            "config": self.cfg.to_dict(),
            "epoch": st.epoch,
            "step_in_epoch": st.step,
            "global_step": st.global_step,
            "accum": dict(self._accum),
            "model": st.model.state_dict(),
            "guide": st.guide.state_dict(),
            "opt_w": self.svi.weight_optim.state_dict(),
            "opt_a": self.svi.arch_optim.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": st.history,
            "step_history": self.step_history,
            "metrics": st.metrics,
            "best": self.best,
            "runtime": self.svi.runtime.state_dict(),
            "rng": rng_state(st.device),
            "rng_ranks": all_gather_objects(rng_state(st.device), self.world) if self.world.active else [],
        }

    def load_state_dict(self, state: dict[str, Any], source: str | Path = "checkpoint") -> None:
        """Continue from ``state`` (``state_dict()``); a model or guide tensor that does not fit the
        network the config builds (after the callbacks' ``on_resume``, e.g. a progressive pruning) is a
        ``RunFolderError`` naming ``source``, the parameter and both shapes."""
        st = self.state
        for cb, s in zip(self.callbacks, state["callbacks"], strict=False):
            cb.load_state_dict(s)
            cb.on_resume(st)
        check_shapes(state["model"], st.model.state_dict(), source, "model")
        check_shapes(state["guide"], st.guide.state_dict(), source, "guide")
        st.model.load_state_dict(state["model"])
        st.guide.load_state_dict(state["guide"])
        st.rebuild_optimizers()
        self.svi.weight_optim.load_state_dict(state["opt_w"])
        self.svi.arch_optim.load_state_dict(state["opt_a"])
        st.epoch, st.step, st.global_step = state["epoch"], state["step_in_epoch"], state["global_step"]
        self._accum = dict(state["accum"])
        st.history, self.step_history = state["history"], state["step_history"]
        st.metrics, self.best = state["metrics"], state["best"]
        self.svi.runtime.load_state_dict(state.get("runtime", {}))
        ranks = state.get("rng_ranks") or []
        if self.world.active and len(ranks) != self.world.size:
            raise ConfigError(f"--resume: the checkpoint was written by {len(ranks) or 1} process(es), "
                              f"this run has {self.world.size}; resume with the same --nproc_per_node")
        set_rng_state(ranks[self.world.rank] if self.world.active else state["rng"], st.device)

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (``pyronas.io.save_checkpoint``). In a distributed run every
        rank calls it (their RNG states are gathered into it) and rank 0 writes it."""
        if not self.cfg.output.checkpoint or (self.state.out_dir is None and not self.world.active):
            return
        state = self.state_dict()
        if self.state.out_dir is not None:
            save_checkpoint(state, self.state.out_dir / CHECKPOINT)


_STATE_KEYS = ("epoch", "step_in_epoch", "global_step", "accum", "model", "guide", "opt_w", "opt_a",
               "callbacks", "history", "step_history", "metrics", "best", "rng")


def _check_checkpoint(state: Any, search: Search, ckpt: Path) -> None:
    """The checkpoint is a search checkpoint (its tensors are checked in ``Search.load_state_dict``)."""
    if not isinstance(state, dict):
        raise RunFolderError(f"{ckpt}: not a search checkpoint (a {type(state).__name__}, not a mapping)")
    missing = [k for k in _STATE_KEYS if k not in state]
    if missing:
        what = "a retraining checkpoint (pyronas train)" if "net" in state else "a damaged search checkpoint"
        raise RunFolderError(f"{ckpt}: not a search checkpoint: no {', '.join(missing[:3])}"
                             f"{', ...' if len(missing) > 3 else ''} (is it {what}?)")


def _to_device(state: Any, device: torch.device) -> Any:
    """Tensors of a loaded checkpoint moved to ``device`` (RNG states stay where they were saved)."""
    if device.type == "cpu":
        return state
    return {k: v if k in ("rng", "rng_ranks") else _move(v, device) for k, v in state.items()}


def _move(obj: Any, device: torch.device) -> Any:
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_move(v, device) for v in obj]
    return obj
