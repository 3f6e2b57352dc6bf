"""What one iteration of ``BilevelSVI`` (``pyronas.infer.engine``) shares and returns: ``SharedDraw``, the one
guide sample both levels' losses see (VIM-NAS Alg. 1, line 3), and ``StepResult``, the iteration's losses (as
``Loss`` floats), logits and latent draws.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from pyro.poutine.messenger import Messenger

__all__ = ["Loss", "SharedDraw", "StepResult"]


class SharedDraw(Messenger):
    """Draw every latent site that has no value yet from a fixed seed (the k-th draw of a loss call
    from ``seed + k``), under a forked RNG so the rest of the program's randomness is untouched.

    Entered around both losses of one iteration, it makes them see the same guide sample: VIM-NAS
    draws one A per iteration and uses it for the weight and the architecture update (Alg. 1, line 3).
    Sites whose value is already set (the model's sites replayed from the guide, observed sites,
    the data plate's subsample) are left alone.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self.count = 0

    def _process_message(self, msg) -> None:
        if msg["type"] != "sample" or msg["is_observed"] or msg["value"] is not None:
            return
        devices = [msg["fn"].mean.device] if _on_cuda(msg["fn"]) else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed + self.count)
            msg["value"] = msg["fn"](*msg["args"], **msg["kwargs"])  # rsample where reparameterised
        self.count += 1


def _on_cuda(fn) -> bool:
    try:
        return fn.mean.is_cuda
    except (NotImplementedError, AttributeError):
        return False


class Loss(float):
    """A loss as a plain Python ``float`` (``print``, ``f"{loss:.3f}"``, arithmetic, JSON). ``.item()``, the
    spelling of the tensors ``StepResult`` used to hold, still works but is deprecated."""

    def item(self) -> float:
        """Deprecated: the value is a float already."""
        warnings.warn(
            "StepResult losses are Python floats: use result.weight_loss / result.arch_loss directly "
            "(result.tensors() gives the loss tensors); .item() will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return float(self)


@dataclass
class StepResult:
    """What one ``BilevelSVI.step`` returns.

    Attributes:
        weight_loss: L on the weight batch (at the weights before their update), a float.
        arch_loss: L on the architecture batch, a float, or None when the architecture was not updated.
        logits: the likelihood's logits of the weight batch (for training accuracy), or None.
        samples: the latent values each level's loss drew, ``{"weights": {site: [values]}, "arch": ...}``.

    The floats are read from the detached loss tensors when first asked for (one device synchronisation
    each); ``tensors()`` gives the tensors themselves.
    """

    weight_loss_tensor: torch.Tensor = field(default_factory=lambda: torch.tensor(float("nan")), repr=False)
    arch_loss_tensor: torch.Tensor | None = field(default=None, repr=False)
    logits: torch.Tensor | None = field(default=None, repr=False)
    samples: dict[str, dict[str, list[torch.Tensor]]] = field(default_factory=dict, repr=False)

    @property
    def weight_loss(self) -> Loss:
        """L on the weight batch, as a float."""
        return Loss(self.weight_loss_tensor.item())

    @property
    def arch_loss(self) -> Loss | None:
        """L on the architecture batch, as a float (None when the architecture was not updated)."""
        return None if self.arch_loss_tensor is None else Loss(self.arch_loss_tensor.item())

    def tensors(self) -> dict[str, torch.Tensor | None]:
        """The detached loss tensors, ``{"weight_loss": ..., "arch_loss": ... or None}`` (on the run's device)."""
        return {"weight_loss": self.weight_loss_tensor, "arch_loss": self.arch_loss_tensor}

    def __repr__(self) -> str:
        arch = "None" if self.arch_loss_tensor is None else f"{self.arch_loss:.4f}"
        return f"StepResult(weight_loss={self.weight_loss:.4f}, arch_loss={arch})"
