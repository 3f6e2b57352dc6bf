"""Every random number generator a search touches: seeded together, saved as plain types, restored.

A checkpoint stores ``rng_state()`` (tensors, ints, floats and lists only, so it loads with
``torch.load(weights_only=True)``) and ``set_rng_state`` puts every generator back where it was, which is what
makes a resumed search continue bit-exactly.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pyro
import torch

__all__ = ["rng_state", "seed_everything", "set_rng_state"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's, torch's and Pyro's generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG state as tensors and plain types (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    rng = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),  # (version, tuple of ints, gauss or None)
        "numpy": [str(name), keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def set_rng_state(rng: dict[str, Any], device: torch.device) -> None:
    """Restore what ``rng_state`` saved (CUDA's only on a CUDA device)."""
    torch.set_rng_state(rng["torch"])
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)

