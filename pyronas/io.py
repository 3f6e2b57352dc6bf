"""Files of a run folder: atomic writes, and checkpoints that cannot execute code when loaded.

Every file pyronas writes into a run folder goes through ``atomic_write_json`` or ``save_checkpoint``
(temp file + ``os.replace``), so an interrupted run never leaves a half-written file. Checkpoints hold
tensors and plain Python types only and are read with ``torch.load(weights_only=True)``: a pickle in a
shared run folder that tries to call a function is refused with ``UnsafeCheckpointError`` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from pyronas.errors import UnsafeCheckpointError

__all__ = ["UnsafeCheckpointError", "atomic_write_json", "atomic_write_text", "load_checkpoint", "save_checkpoint"]


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if torch.is_tensor(o):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 1) -> Path:
    """Write ``obj`` as JSON atomically; tensors become lists and non-finite floats strings."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default))


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically. ``obj`` must hold only tensors and plain types (loadable with
    ``weights_only=True``)."""
    path = Path(path)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain types only; anything that would call
    code while unpickling raises ``UnsafeCheckpointError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain types "
            f"(loading it could execute code). Details: {str(e).splitlines()[0]}"
        ) from None
