"""Generate docs/config_reference.md from the config schema: every key, never written by hand.

    python scripts/gen_config_reference.py            # rewrite docs/config_reference.md
    python scripts/gen_config_reference.py --check    # exit 1 when the committed file is out of date

Each row is read from the dataclasses of ``pyronas.config`` (the search config and its ``bo`` section) and
``pyronas.train.config`` (the retraining config):

* **type** and the **allowed** values of a ``Literal`` from the field's annotation;
* **default** from a default instance (so the defaults of a nested section's factory are the ones shown);
* **range** from the validation itself: each numeric key is set to probe values through ``load_config`` /
  ``load_train_config``, and the ``ConfigError`` message naming that key is the range (``must be in (0, 1]``);
* **names** a key accepts from the registry it is looked up in (built-in names; plug-ins add more);
* the **description** from the ``#:`` comment above the field (what Sphinx' autodoc shows too);
* **set by** from the packaged configs (``configs/*.yaml``) that set the key, grouped by method.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import operator
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "config_reference.md"
CONFIG_DIR = ROOT / "configs"
# file-name prefix of a packaged config -> the method it configures (longest prefix first)
METHODS = ("balenas_tf", "balenas", "darts", "drnas", "vinnas", "vimnas", "combo", "demo", "bo", "random", "train")
# key (with [i] / <prefix> for list items and dict entries) -> (module, registry name) of the names it accepts
REGISTRIES = {
    "space": ("pyronas.nn.spaces", "SPACES"),
    "model.name": ("pyronas.registry", "PRIORS"),
    "model.alpha.name": ("pyronas.registry", "PRIORS"),
    "model.weights.name": ("pyronas.registry", "PRIORS"),
    "guide.name": ("pyronas.registry", "GUIDES"),
    "guide.alpha.name": ("pyronas.registry", "GUIDES"),
    "guide.weights.name": ("pyronas.registry", "GUIDES"),
    "objective.terms[i].name": ("pyronas.infer.objectives", "TERMS"),
    "optim.weights.name": ("pyronas.optim.factory", "OPTIMIZERS"),
    "optim.arch.name": ("pyronas.optim.factory", "OPTIMIZERS"),
    "search.callbacks[i].name": ("pyronas.callbacks.base", "CALLBACKS"),
    "select.rule": ("pyronas.select.rules", "SELECTORS"),
    "bo.kernel": ("pyronas.bo.gp", "KERNELS"),
}
PROBES: dict[type, tuple[Any, ...]] = {int: (-1, 0, 10**12), float: (-1.0, 0.0, 1.0, 1.5, 1e12)}


@dataclasses.dataclass
class Row:
    """One key of a config schema."""

    key: str
    type: str
    default: str
    allowed: str
    description: str
    set_by: str = ""
    section: bool = False


def descriptions(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines above each field of dataclass ``cls`` (and of its dataclass bases)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        lines, _ = inspect.getsourcelines(klass)
        comment: list[str] = []
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith("#:"):
                comment.append(stripped[2:].strip())
                continue
            at_body_level = line.startswith("    ") and not line.startswith("     ")
            match = re.match(r"(\w+)\s*:", stripped) if at_body_level else None
            if match and comment:
                out[match.group(1)] = " ".join(comment)
            comment = []
    return out


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return functools.reduce(operator.or_, rest), True
    return hint, False


def type_name(hint: Any) -> str:
    """A short, YAML-flavoured name of a type hint: ``int | null``, ``"last" | "best"``, ``list[float]``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if dataclasses.is_dataclass(hint):
        return "section"
    return "any" if hint is Any else getattr(hint, "__name__", str(hint))


def yaml_value(value: Any) -> str:
    """A default as it would be written in YAML (flow style)."""
    if dataclasses.is_dataclass(value):
        return "(section)"
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def walk(cls: type, instance: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any, str]]:
    """``(key, type hint, default, description)`` of every key of dataclass ``cls``, sections first, depth first.

    A nested dataclass is a section (its keys follow); a ``list[Dataclass]`` gives ``key[i].field`` and a
    ``dict[str, Dataclass]`` gives ``key.<prefix>.field``; an optional section shows its class defaults."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = descriptions(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        hint = hints[f.name]
        default = getattr(instance, f.name)
        yield key, hint, default, docs.get(f.name, "")
        inner, _ = _strip_optional(hint)
        origin, args = typing.get_origin(inner), typing.get_args(inner)
        if dataclasses.is_dataclass(inner):
            yield from walk(inner, default if default is not None else inner(), key + ".")
        elif origin is list and args and dataclasses.is_dataclass(args[0]):
            yield from walk(args[0], args[0](), key + "[i].")
        elif origin is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
            yield from walk(args[1], args[1](), key + ".<prefix>.")


def _nest(key: str, value: Any) -> dict[str, Any]:
    """``key`` (with ``[i]`` / ``<prefix>`` parts) set to ``value`` as nested YAML data."""
    head, _, rest = key.partition(".")
    if head.endswith("[i]"):
        item = {"name": "probe"} | _nest(rest, value)
        return {head[:-3]: [item]}
    if head == "<prefix>":
        return {"probe/": _nest(rest, value)}
    return {head: _nest(rest, value) if rest else value}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def probed_range(key: str, hint: Any, load: Callable[..., Any], base: dict[str, Any]) -> str:
    """The validation message of the first probe value that fails for ``key`` (``must be > 0``), or ''."""
    inner, _ = _strip_optional(hint)
    if inner not in PROBES:
        return ""
    head = key.replace("[i]", "[0]").replace("<prefix>", "probe/")
    for value in PROBES[inner]:
        try:
            load(**_merge(base, _nest(key, value)))
        except Exception as err:  # ConfigError, or the ValueError of a section's __post_init__
            message = str(err).removeprefix("error: ")
            if message.startswith(head + ":"):
                message = message[len(head) + 1 :]
            elif re.search(rf"(^|[ ,]){re.escape(head)}\b", message) and " must " in message:
                message = "must " + message.split(" must ", 1)[1]
            else:
                continue
            return re.sub(r",? got .*$", "", message.strip())
    return ""


def registered_names(key: str) -> str:
    """The built-in names a registry-backed key accepts."""
    if key not in REGISTRIES:
        return ""
    module, name = REGISTRIES[key]
    registry = getattr(__import__(module, fromlist=[name]), name)
    return "names: " + ", ".join(f"`{n}`" for n in sorted(registry.names()))


def _flatten(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            dict_of_sections = prefix.endswith("kl_scales.")
            key = f"{prefix}<prefix>" if dict_of_sections else f"{prefix}{k}"
            if not dict_of_sections:  # an entry of a mapping of sections is no key of its own
                yield key
            if not prefix.endswith(("params.", "priors.")) and not key.endswith(("params", "priors")):
                yield from _flatten(v, key + ".")
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        base = prefix.rstrip(".")
        for item in data:
            yield from _flatten(item, base + "[i].")


def method_of(path: Path) -> str:
    """The method a packaged config configures, from its file name."""
    return next((m for m in METHODS if path.stem == m or path.stem.startswith(m + "_")), path.stem)


def set_by(configs: dict[str, set[str]], key: str) -> str:
    """Methods whose packaged configs set ``key`` (or a key below it)."""
    methods = sorted({m for k, ms in configs.items() if k == key or k.startswith(key + ".") for m in ms})
    return ", ".join(methods)


def packaged_keys(kind: str) -> dict[str, set[str]]:
    """Key -> methods, over the packaged configs of ``kind`` (``search`` or ``train``)."""
    out: dict[str, set[str]] = {}
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        is_train = path.stem.startswith(("train_", "random_"))
        if is_train != (kind == "train"):
            continue
        data = yaml.safe_load(path.read_text()) or {}
        for key in _flatten(data):
            out.setdefault(key, set()).add(method_of(path))
    return out


def rows(cls: type, load: Callable[..., Any], kind: str) -> list[Row]:
    """Every key of the config class ``cls`` as a ``Row``."""
    configs = packaged_keys(kind)
    base = {"data": {"name": "digits"}} if kind == "search" else {}
    out = []
    for key, hint, default, doc in walk(cls, cls()):
        inner, optional = _strip_optional(hint)
        allowed = ", ".join(p for p in (registered_names(key), probed_range(key, hint, load, base)) if p)
        out.append(Row(key, type_name(hint), yaml_value(default), allowed, doc, set_by(configs, key),
                       dataclasses.is_dataclass(inner)))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(title: str, intro: str, items: list[Row]) -> str:
    """One Markdown section with a table per top-level section of the config (plain top-level keys first)."""
    groups: dict[str, list[Row]] = {"top level": []}
    for row in items:
        top = re.split(r"[.\[]", row.key)[0]
        nested = row.section and row.key == top or row.key != top
        groups.setdefault(f"`{top}`" if nested else "top level", []).append(row)
    out = [f"## {title}", "", intro, ""]
    for name, group in groups.items():
        out += [f"### {name}", "", "| key | type | default | allowed | set by (packaged configs) | description |",
                "|---|---|---|---|---|---|"]
        for row in group:
            key = f"**`{row.key}`**" if row.section else f"`{row.key}`"
            default = "" if row.section else f"`{row.default}`"
            cells = (key, f"`{row.type}`", default, row.allowed, row.set_by, row.description)
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def generate() -> str:
    """The whole reference page (Markdown, MyST)."""
    from pyronas.config import Config, load_config
    from pyronas.train.config import TrainConfig, load_train_config

    search = rows(Config, load_config, "search")
    train = rows(TrainConfig, load_train_config, "train")
    head = [
        "# Config reference",
        "",
        "<!-- generated by `python scripts/gen_config_reference.py` from the schema; do not edit by hand -->",
        "",
        "Every key of the YAML configs, generated from the schema (`pyronas/config.py`, `pyronas/bo/config.py`,",
        "`pyronas/train/config.py`, `pyronas/train/bayesian.py`) by `python scripts/gen_config_reference.py`;",
        "`tests/test_config_reference.py` fails when a key has no description or this page is out of date.",
        "**allowed** gives a `Literal`'s values in the type, the built-in names of a registry-backed key",
        "(plug-ins named in `imports:` add more), and the range the validation enforces (the message of",
        "`Config.validate` for that key). **set by** lists the methods whose packaged configs (`configs/*.yaml`)",
        "set the key; every other method runs with the default. `key[i].field` is a field of each item of a list,",
        "`key.<prefix>.field` a field of each entry of a mapping. A key is set on the command line with",
        "`--set key=value` (YAML value).",
        "",
        "",
    ]
    search_intro = ("`pyronas search` / `sweep` / `bo` (`pyronas.config.Config`, loaded by "
                    "`pyronas.config.load_config`).")
    train_intro = ("`pyronas train` / `random` (`pyronas.train.config.TrainConfig`, loaded by "
                   "`pyronas.train.config.load_train_config`).")
    return "\n".join(head) + table("Search config", search_intro, search) + "\n" + table(
        "Retraining config", train_intro, train)


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` say whether the committed page is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/config_reference.md is out of date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run python scripts/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
