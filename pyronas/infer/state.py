"""What plug-ins see of a running search: ``SearchState``.

Callbacks (``pyronas.callbacks``) and selection rules (``pyronas.select.rules``) are written against this state
-- the config, space, model, guide, engine, data splits and counters -- not against the runner
(``pyronas.infer.runner.Search``), which owns one and drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pyro import poutine

from pyronas.config import Config
from pyronas.data.datasets import Dataset
from pyronas.infer.engine import BilevelSVI
from pyronas.infer.objectives import Objective, SiteRecorder
from pyronas.infer.program import ArchGuide, SupernetModel
from pyronas.nn.spaces import SearchSpace
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import make_optimizer

__all__ = ["SearchState", "arch_parameters", "weight_parameters"]


def _site_mean(fn: Any, value: torch.Tensor) -> torch.Tensor:
    """The site distribution's mean, or the drawn value where the distribution has none."""
    try:
        return fn.mean
    except (NotImplementedError, AttributeError):
        return value


@dataclass(eq=False)
class SearchState:
    """What callbacks and selection rules see of a running search.

    Attributes:
        cfg: the validated config.
        space: the search space (``derive``, ``ops``, ``cell_kinds``, ``edge_labels``).
        model: the ``SupernetModel``; ``supernet`` is ``model.supernet``.
        guide: the ``ArchGuide``.
        svi: the ``BilevelSVI`` (``objective``, ``weight_optim``, ``arch_optim``, ``loss``).
        weight_data, arch_data: the two data splits (on ``device``).
        device: the torch device.
        out_dir: the run folder, or None (nothing is written).
        epoch: the current epoch (0-based; during ``on_epoch_end`` the epoch that just ended).
        step: steps done in the current epoch.
        global_step: steps done in all epochs.
        history: per-epoch op probabilities, one-hotness and genotype.
        metrics: per-epoch metrics rows (``metrics.json``).
        row: the metrics row of the epoch that is ending, during ``on_epoch_end``: a callback adds
            its numbers here (e.g. ``hessian_eig``); None otherwise.
        update_arch: whether this epoch's steps update the architecture (besides ``search.warmup_epochs``);
            a plug-in may set it for the coming epoch (DrNAS' per-stage warm-up in ``Progressive``) and
            must restore it itself on ``--resume``.

    A plug-in may read every field and call every method. It may change: ``row`` (add keys, during
    ``on_epoch_end``); ``update_arch``; the structure of ``model``/``supernet``/``guide``
    (``pyronas.nn.surgery``) followed by ``rebuild_optimizers()``; the engine's objective (``svi.objective``).
    The runner owns and checkpoints ``cfg``, the counters ``epoch``/``step``/``global_step``, ``history`` and
    ``metrics``: a plug-in leaves them alone. Anything else a plug-in changes must come back on ``--resume`` through its
    own ``state_dict``/``on_resume`` (``pyronas.callbacks.base.Callback``).
    """

    cfg: Config
    space: SearchSpace
    model: SupernetModel
    guide: ArchGuide
    svi: BilevelSVI
    weight_data: Dataset
    arch_data: Dataset
    device: torch.device
    out_dir: Path | None = None
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    row: dict[str, Any] | None = None
    update_arch: bool = True

    @property
    def supernet(self) -> Supernet:
        """The weight-sharing supernet (``model.supernet``)."""
        return self.model.supernet

    @property
    def objective(self) -> Objective:
        """The engine's objective (``svi.objective``): the per-datum negative ELBO and its terms."""
        return self.svi.objective

    def rebuild_optimizers(self) -> None:
        """(Re)create both optimizers from ``cfg.optim`` over the current parameters (after the
        network's structure changed) and hand them to the engine."""
        oc = self.cfg.optim
        opt_w = make_optimizer(weight_parameters(self.model, self.guide), oc.weights, "optim.weights")
        opt_a = make_optimizer(arch_parameters(self.guide), oc.arch, "optim.arch")
        self.svi.set_optimizers(opt_w, opt_a)

    def arch_parameters(self) -> list[torch.Tensor]:
        """The parameters the architecture optimizer updates."""
        return self.svi.arch_params

    def op_probs(self) -> dict[str, torch.Tensor]:
        """Expected mixing weights per edge over the full op set, ``{kind: [edges, ops]}`` (CPU)."""
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

    def loss(self, x: torch.Tensor, y: torch.Tensor, n_data: int, progress: float) -> tuple[torch.Tensor, SiteRecorder]:
        """The search objective on a batch (``BilevelSVI.loss``)."""
        return self.svi.loss(x, y, n_data, progress)


def weight_parameters(model: SupernetModel, guide: ArchGuide) -> list[torch.nn.Parameter]:
    """Network weights: the supernet's, the prior's, and the guide's q(w) parameters."""
    arch = {id(p) for p in guide.arch_parameters()}
    out, seen = [], set()
    for p in list(model.parameters()) + list(guide.weight_parameters()):
        if id(p) not in arch and id(p) not in seen and p.requires_grad:
            seen.add(id(p))
            out.append(p)
    return out


def arch_parameters(guide: ArchGuide) -> list[torch.nn.Parameter]:
    """The guide's architecture parameters that are trained (``requires_grad``)."""
    return [p for p in guide.arch_parameters() if p.requires_grad]

