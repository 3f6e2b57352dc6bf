"""The package's floors (README, "How the code is laid out"): a module-level import goes to its own floor or
below; only a function-level (lazy) import may reach up, e.g. ``load_run`` for a run folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# floor -> module prefixes (the longest matching prefix decides a module's floor)
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("pyronas", "pyronas._exports", "pyronas.errors", "pyronas.io", "pyronas.registry", "pyronas.schema",
        "pyronas.config", "pyronas.bo.config", "pyronas.distributions", "pyronas.autodiff", "pyronas.runtime",
        "pyronas.distributed", "pyronas.progress", "pyronas.rng"),
    1: ("pyronas.nn", "pyronas.data"),
    2: ("pyronas.infer", "pyronas.models", "pyronas.guides", "pyronas.optim", "pyronas.bo"),
    3: ("pyronas.select", "pyronas.train", "pyronas.analysis", "pyronas.bench"),
    4: ("pyronas.callbacks",),
    5: ("pyronas.infer.runner", "pyronas.infer.checks", "pyronas.preflight"),  # checks resolve every registry
    6: ("pyronas.cli", "pyronas.sweep", "pyronas.export", "pyronas.__main__", "pyronas.methods", "pyronas.summary"),
}
_PREFIX = {prefix: floor for floor, prefixes in FLOORS.items() for prefix in prefixes}


def floor_of(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in _PREFIX:
            return _PREFIX[".".join(parts[:i])]
    raise KeyError(module)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((ROOT / "pyronas").rglob("*.py")):
        out.append((".".join(("pyronas", *path.relative_to(ROOT / "pyronas").with_suffix("").parts)), path))
    for sub in ("models", "guides"):  # installed as pyronas.models / pyronas.guides
        for path in sorted((ROOT / sub).rglob("*.py")):
            out.append((".".join(("pyronas", *path.relative_to(ROOT).with_suffix("").parts)), path))
    return [(name.removesuffix(".__init__"), path) for name, path in out]


def module_level_imports(source: str) -> list[str]:
    """The ``pyronas`` modules imported by statements that run when the module is imported: at module level,
    not inside a function or class, and not under ``if TYPE_CHECKING:`` (annotations only)."""
    names = []
    for node in ast.parse(source).body:
        stmts = [node]
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stmts = [s for branch in node.orelse for s in ast.walk(branch)]
        elif isinstance(node, ast.If | ast.Try):  # other if / try blocks run at import
            stmts = list(ast.walk(node))
        for stmt in stmts:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                names.append(stmt.module)
            elif isinstance(stmt, ast.Import):
                names.extend(a.name for a in stmt.names)
    return [n for n in names if n == "pyronas" or n.startswith("pyronas.")]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def test_every_module_has_a_floor():
    for name, _ in _modules():
        floor_of(name)


def test_module_level_imports_go_to_the_same_floor_or_below():
    upward = [
        f"{name} (floor {floor_of(name)}) imports {target} (floor {floor_of(target)})"
        for name, path in _modules()
        for target in module_level_imports(path.read_text())
        if floor_of(target) > floor_of(name)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    ("source", "upward"),
    [
        ("from pyronas.infer.runner import Search\n", True),
        ("def f():\n    from pyronas.infer.runner import Search\n", False),
        ("if True:\n    import pyronas.cli\n", True),
        ("from pyronas.nn.spaces import get_space\n", False),
        ("if TYPE_CHECKING:\n    from pyronas.infer.runner import Search\n", False),
        ("if TYPE_CHECKING:\n    pass\nelse:\n    from pyronas.infer.runner import Search\n", True),
    ],
)
def test_the_check_sees_module_level_upward_imports(source, upward):
    """The checker itself: a module-level upward import from floor 1 is found, a lazy or type-only one is not."""
    found = any(floor_of(t) > floor_of("pyronas.nn.supernet") for t in module_level_imports(source))
    assert found is upward
