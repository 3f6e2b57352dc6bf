"""The mutation-testing script's own logic: decorators moved out of mutmut's way, verdict tallies."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" / "bench" / "mutation.py")
mutation = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = mutation  # its dataclasses look their module up
_spec.loader.exec_module(mutation)

SOURCE = textwrap.dedent('''
    REGISTRY = {}
    CALLS = []


    def register(name):
        def add(fn):
            REGISTRY[name] = fn
            return fn
        return add


    def traced(fn):
        def wrapper(*args):
            CALLS.append(fn.__name__)
            return fn(*args)
        wrapper.__name__ = fn.__name__
        return wrapper


    @register("double")
    def double(x):
        """Two x."""
        return 2 * x


    class Box:
        def __init__(self, v):
            self.v = v

        @property
        def value(self):
            return self.v

        @staticmethod
        def unit():
            return 1

        @register("outer")
        @traced
        def scaled(self, k):
            return self.v * k
''')


def test_undecorate_turns_decorators_into_assignments_that_behave_the_same(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(SOURCE)
    assert mutation._undecorate(path) == 2  # double and Box.scaled; property and staticmethod keep theirs
    text = path.read_text()
    assert '@register("double")' not in text and "@traced" not in text
    assert "@property" in text and "@staticmethod" in text
    assert 'double = register("double")(double)' in text
    # the innermost decorator is applied first, as Python does
    assert text.index("scaled = traced(scaled)") < text.index('scaled = register("outer")(scaled)')

    before, after = {}, {}
    exec(SOURCE, before)  # noqa: S102 - the test's own source
    exec(text, after)  # noqa: S102
    for ns in (before, after):
        box = ns["Box"](3)
        assert ns["REGISTRY"]["double"](4) == 8 and box.scaled(2) == 6 and box.value == 3 and ns["Box"].unit() == 1
        assert ns["CALLS"] == ["scaled"]
        assert set(ns["REGISTRY"]) == {"double", "outer"}


def test_tally_counts_timeouts_as_detected_and_apart():
    verdicts = {"a": "killed", "b": "survived", "c": "timeout", "d": "no tests", "e": "killed"}
    tally = mutation._tally(verdicts)
    assert tally["counts"] == {"killed": 2, "no tests": 1, "survived": 1, "timeout": 1}
    assert tally["survival_rate"] == 1 / 4
    assert mutation._tally({"x": "no tests"})["survival_rate"] is None


def test_patterns_name_functions_and_methods_the_way_mutmut_does():
    target = mutation.Target("pyronas/optim/vadam.py", (), ("VAdam.step", "hessian_diagonal"))
    assert target.patterns() == ["pyronas.optim.vadam.xǁVAdamǁstep__mutmut_*",
                                 "pyronas.optim.vadam.x_hessian_diagonal__mutmut_*"]


def test_merged_replaces_and_adds_verdicts_keeps_the_others_and_the_survivors_diffs():
    earlier = {"target": "t", "verdicts": {"a": "survived", "b": "survived", "c": "killed"},
               "survivors": {"a": "diff a", "b": "diff b"}, **mutation._tally({"a": "survived", "b": "survived",
                                                                                "c": "killed"})}
    merged = mutation._merged(earlier, {"a": "killed", "d": "survived"}, {"d": "diff d"}, rerun={"mutants": 1})
    assert merged["verdicts"] == {"a": "killed", "b": "survived", "c": "killed", "d": "survived"}
    assert merged["survivors"] == {"b": "diff b", "d": "diff d"}
    assert merged["counts"] == {"killed": 2, "survived": 2} and merged["survival_rate"] == 0.5
    assert merged["target"] == "t" and merged["rerun"] == {"mutants": 1}
