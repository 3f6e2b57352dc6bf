"""Peak memory of one search step (DrNAS Table 1's memory check of progressive learning)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pyronas.nn.supernet import Supernet
from pyronas.nn.surgery import partial_channels_of

__all__ = ["peak_memory", "stage_memory_report"]


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
