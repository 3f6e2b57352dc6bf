"""Files of a run folder: atomic writes, append-only JSONL, and checkpoints that cannot execute code.

Every file pyronas writes whole into a run folder goes through ``atomic_write_json`` or ``save_checkpoint``
(a temp file unique to the writing process + ``os.replace``), so an interrupted run never leaves a
half-written file. Append-only files (``*.jsonl``) go through ``append_jsonl`` and are read with
``read_jsonl``, which drops a torn last line (what a kill during the append leaves) with a warning.
Checkpoints hold tensors and plain Python types only and are read with ``torch.load(weights_only=True)``:
a pickle in a shared run folder that tries to call a function is refused with ``UnsafeCheckpointError``
naming the file; an empty, truncated or otherwise unreadable one with ``RunFolderError`` naming the file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from pyronas.errors import RunFolderError, UnsafeCheckpointError

__all__ = [
    "RunFolderError",
    "UnsafeCheckpointError",
    "append_jsonl",
    "atomic_write_json",
    "atomic_write_text",
    "check_shapes",
    "load_checkpoint",
    "read_jsonl",
    "save_checkpoint",
]

log = logging.getLogger(__name__)


def _tmp(path: Path) -> Path:
    """``NAME.<pid>.tmp`` beside ``path``: two processes never write the same temp file."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


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
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 1) -> Path:
    """Write ``obj`` as JSON atomically; tensors become lists and non-finite floats strings."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default))


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically. ``obj`` must hold only tensors and plain types (loadable with
    ``weights_only=True``)."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append ``obj`` as one JSON line to ``path`` (one ``write`` of the whole line, then flushed)."""
    line = json.dumps(obj, default=_json_default) + "\n"
    with open(path, "a") as f:
        f.write(line)


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The JSON objects of a JSONL file, one a line (blank lines skipped).

    A last line that does not parse -- what a kill during ``append_jsonl`` leaves -- is dropped with a
    warning (whoever resumes the run rewrites the file from its checkpoint); a bad line before the last
    is damage no append can cause and raises ``RunFolderError`` naming the file and the line."""
    path = Path(path)
    lines = [(i, ln) for i, ln in enumerate(path.read_text(errors="replace").splitlines(), 1) if ln.strip()]
    out = []
    for k, (i, ln) in enumerate(lines):
        try:
            out.append(json.loads(ln))
        except json.JSONDecodeError as e:
            if k == len(lines) - 1:
                log.warning("%s: dropped a torn last line %d (%s)", path, i, e)
                break
            raise RunFolderError(f"{path}: line {i} is not JSON ({e}); delete the file or that line") from None
    return out


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain types only; anything that would call
    code while unpickling raises ``UnsafeCheckpointError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise RunFolderError(f"{path}: is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise RunFolderError(f"{path}: damaged checkpoint: the file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK") or head.startswith(b"\x80")):  # a zip (torch.save) or a pickle
        raise RunFolderError(f"{path}: not a checkpoint (neither a torch zip archive nor a pickle; "
                             f"it starts with {head!r})")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain types "
            f"(loading it could execute code). Details: {_first_line(e)}"
        ) from None
    except (EOFError, OSError, RuntimeError, zipfile.BadZipFile, ValueError, KeyError) as e:  # truncated, garbage
        raise RunFolderError(f"{path}: damaged checkpoint (truncated or not a torch file: {_brief(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _brief(e: BaseException) -> str:
    """The first sentence of an exception's message, prefixed by its class: one short clause."""
    return f"{type(e).__name__}: {_first_line(e).split('. ')[0][:160]}"


def check_shapes(saved: Any, current: dict[str, torch.Tensor], path: str | os.PathLike, what: str) -> None:
    """Raise ``RunFolderError`` naming ``path`` when the state dict ``saved`` (from a checkpoint) does not
    fit ``current`` (the module built from the config): not a mapping, a missing or unexpected entry,
    or the first parameter whose shape differs (both shapes)."""
    if not isinstance(saved, dict):
        raise RunFolderError(f"{path}: damaged checkpoint: {what} is a {type(saved).__name__}, not a state dict")
    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    if missing or unexpected:
        which = f"lacks {missing[0]!r}" if missing else f"has an unexpected {unexpected[0]!r}"
        raise RunFolderError(f"{path}: not a checkpoint of this config: {what} {which} "
                             f"({len(missing)} missing, {len(unexpected)} unexpected entries)")
    for k, v in current.items():
        s = saved[k]
        if not torch.is_tensor(s):
            raise RunFolderError(f"{path}: damaged checkpoint: {what} entry {k!r} is not a tensor")
        if tuple(s.shape) != tuple(v.shape):
            raise RunFolderError(f"{path}: not a checkpoint of this config: {what} parameter {k!r} has shape "
                                 f"{list(s.shape)} in the checkpoint, {list(v.shape)} in the network the "
                                 "config builds (a config of another size?)")
