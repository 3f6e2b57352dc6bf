"""Typed loading of YAML into dataclasses: the machinery under every pyronas config.

``from_dict`` checks every key of a mapping against the dataclass fields and its type annotation
(``optim.arch.lr: expected a number, got 'fast'``); ``load_into`` reads a YAML file, applies
``--set key.sub=value`` overrides, merges onto the dataclass defaults (a partial section keeps its own
defaults), imports the config's plug-in ``imports:`` and calls the dataclass's ``validate()``. Errors
are ``ConfigError`` naming the key or the path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from pyronas.errors import ConfigError

__all__ = ["from_dict", "load_into", "parse_overrides"]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert it (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: expected {tp}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (arg,) = typing.get_args(tp)
        return [_coerce(v, arg, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, arg = typing.get_args(tp)
        return {str(k): _coerce(v, arg, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    where = prefix or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"{full}: unknown key (allowed: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(value, hints[key], full)
    return cls(**kwargs)


def _set_path(d: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"{dotted}: {k} is not a section")
    d[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """Parse ``key.sub=value`` strings (values parsed as YAML: numbers, booleans, lists)."""
    out = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        out.append((key.strip(), yaml.safe_load(raw)))
    return out


def load_into(cls: type, path: str | Path | None = None, overrides: list[str] | None = None, **data: Any) -> Any:
    """Load config dataclass ``cls`` from YAML (and/or keyword sections), apply ``--set`` overrides,
    merge onto ``cls()``'s defaults (a partial section keeps its own defaults) and validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {p}: expected a mapping of sections (name:, space:, ...), "
                              f"got a {type(raw).__name__}")
    raw.update(data)
    for key, value in parse_overrides(overrides or []):
        _set_path(raw, key, value)
    merged = _deep_merge(dataclasses.asdict(cls()), raw, "")
    cfg = from_dict(cls, merged)
    if getattr(cfg, "imports", None):
        from pyronas.registry import import_modules

        import_modules(cfg.imports, "imports")
    return cfg.validate()


def _deep_merge(base: dict[str, Any], new: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(new, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {new!r}")
    out = dict(base)
    for k, v in new.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        is_section = isinstance(out.get(k), dict) and not key.endswith(("params", "kl_scales"))
        out[k] = _deep_merge(out[k], v, key) if is_section and v is not None else v
    return out
