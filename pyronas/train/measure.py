"""What a retraining run measures and reports: ``TrainResult`` (written as JSON), ``evaluate`` (accuracy and
mean cross-entropy in eval mode) and ``count_flops`` (FLOPs and MACs of one image, with
``torch.utils.flop_counter``). ``pyronas.train.trainer`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["TrainResult", "count_flops", "evaluate"]


@dataclass
class TrainResult:
    """What a retraining run reports (written as JSON)."""

    genotype: dict
    test_acc: float
    test_loss: float
    params_M: float
    params_total_M: float
    macs_M: float
    flops_M: float
    wall_time_s: float
    epochs: int
    history: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    #: accuracy / loss on the validation split (``train.val_portion``) after the last epoch; NaN without one
    val_acc: float = float("nan")
    val_loss: float = float("nan")
    #: what ``test_acc`` is: evaluated once, for this final model, never used to select anything
    test_note: str = "test accuracy (reported once, not used for selection)"


def count_flops(net: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """FLOPs and MACs (both in millions) of one forward pass of a single image in eval mode.

    Counted with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matmuls): FLOPs = 2 MACs.
    """
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, *input_shape, device=device))
    net.train(was_training)
    flops = counter.get_total_flops()
    return flops / 1e6, flops / 2e6


@torch.no_grad()
def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``net`` on ``(x, y)`` in eval mode."""
    net.eval()
    device = next(net.parameters()).device
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        logits = net(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return correct / len(x), loss / len(x)
