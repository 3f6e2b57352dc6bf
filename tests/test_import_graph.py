"""The package's import graph has no cycle: no module imports a module that imports it back.

Every ``import`` / ``from ... import`` statement of ``pyronas/``, ``models/`` and ``guides/`` counts, at module
level or inside a function (only ``if TYPE_CHECKING:`` blocks, which never run, are left out); a name
re-exported lazily by a package (``lazy_exports``) or by ``pyronas.registry``'s table of registries counts
as an import of the module that defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pyronas": "pyronas", "models": "pyronas.models", "guides": "pyronas.guides"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, name in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [name, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _lazy_names(module: str, tree: ast.Module) -> dict[str, str]:
    """Names a module hands out from another module on attribute access: the ``lazy_exports(__name__,
    {name: submodule})`` table of a package, and module-level ``{name: "pyronas.x"}`` tables."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            table = node.args[1]
            out.update({k.value: f"{module}.{v.value}" for k, v in zip(table.keys, table.values, strict=True)})
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            pairs = list(zip(node.value.keys, node.value.values, strict=True))
            if pairs and all(isinstance(v, ast.Constant) and v.value in MODULES for _, v in pairs):
                out.update({k.value: v.value for k, v in pairs})
    return out


TREES = {m: ast.parse(p.read_text()) for m, p in MODULES.items()}
LAZY = {m: _lazy_names(m, t) for m, t in TREES.items()}


def _type_checking_only(tree: ast.Module) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports, anywhere in its body."""
    tree = TREES[module]
    skip = _type_checking_only(tree)
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = []
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in MODULES else LAZY.get(base, {}).get(alias.name, base))
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != module}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_function_level_and_lazy_imports():
    """The walker is not blind: a function-level import, a relative one and a lazily re-exported name count."""
    # `from pyronas.infer import run_search`, in a function of the sub-commands
    assert "pyronas.infer.runner" in imports_of("pyronas.cli.commands")
    assert "pyronas.infer.objectives" in imports_of("pyronas.infer.build")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = {m: imports_of(m) for m in MODULES}
    assert len(graph) > 50
    assert cycles(graph) == []


def test_the_config_schema_imports_no_registry():
    """``pyronas.config`` is a plain typed schema: the registries are resolved in ``pyronas.infer.checks``."""
    registries = {"pyronas.callbacks.base", "pyronas.optim.factory", "pyronas.select.rules", "pyronas.infer.objectives",
                  "pyronas.registry", "pyronas.nn.spaces", "pyronas.infer.build"}
    assert not imports_of("pyronas.config") & registries
    assert {"pyronas.callbacks.base", "pyronas.optim.factory", "pyronas.select.rules"} <= imports_of(
        "pyronas.infer.checks")
