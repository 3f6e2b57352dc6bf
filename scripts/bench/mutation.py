"""Mutation testing of pyronas' core maths with mutmut 3 (a benchmark of the test suite; not run in CI).

For each target module the script copies the tracked (and untracked, not ignored) files of the repository
into a scratch folder, writes a ``[tool.mutmut]`` section that mutates only that module and selects only the
module's fast test files, runs ``mutmut run`` there (one torch thread per worker) and reads the verdicts back.
The working tree is never touched (mutmut 3 writes its ``mutants/`` copy inside the scratch folder).

    python scripts/bench/mutation.py                       # every target
    python scripts/bench/mutation.py acquisition diagnostics --out runs/mutation
    python scripts/bench/mutation.py engine --timeouts        # check the timeouts again, outside mutmut

Writes ``<out>/<target>.json`` (every mutant's verdict, survivors with their diffs) and ``<out>/report.md``
(survival rate per target, each survivor's diff). ``survived`` = the selected tests pass with the mutant;
``no tests`` = no selected test runs the mutated function; a segfault counts as killed; a ``timeout`` (the
mutant's tests run over (baseline + 10 s) x 3) detects the mutant too and is counted apart. mutmut's fork
server also reports mutants whose tests pass in seconds as timeouts, so ``--timeouts`` checks each of them in
a fresh pytest process (``MUTANT_UNDER_TEST``) with a limit of 4x the unmutated tests' time + 30 s.

Functions under a decorator are not mutated by mutmut 3 (a target's maths must not hide under one).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """A module to mutate, the mutmut mutant-name patterns to run (its maths), and the fast tests that cover it."""

    path: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ("*",)

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def patterns(self) -> list[str]:
        """mutmut names: ``module.x_function__mutmut_N``, ``module.xǁClassǁmethod__mutmut_N``."""
        if self.functions == ("*",):
            return [f"{self.module}.x*__mutmut_*"]
        return [f"{self.module}.x{'ǁ' if '.' in f else '_'}{f.replace('.', 'ǁ')}__mutmut_*" for f in self.functions]


TARGETS: dict[str, Target] = {
    "acquisition": Target(
        "pyronas/bo/acquisition.py",
        ("tests/bo/test_bo_gp.py", "tests/bo/test_bo_reference.py", "tests/bo/test_bo_loop.py"),
    ),
    "distributions": Target(
        "pyronas/distributions.py",
        ("tests/infer/test_vinnas_kl.py", "tests/test_distributions_reference.py", "tests/nn/test_bayesian.py",
         "tests/infer/test_vimnas.py"),
    ),
    "objectives": Target(
        "pyronas/infer/objectives.py",
        ("tests/infer/test_objectives_reference.py", "tests/infer/test_entropy_reference.py",
         "tests/infer/test_drnas_anchor_reference.py", "tests/infer/test_darts_pyro.py",
         "tests/infer/test_drnas_program.py", "tests/infer/test_vimnas.py", "tests/infer/test_balenas.py",
         "tests/infer/test_vinnas.py"),
    ),
    "diagnostics": Target(
        "pyronas/analysis/diagnostics.py",
        ("tests/analysis/test_diagnostics.py", "tests/analysis/test_diagnostics_reference.py"),
        ("summary_table", "_halves_if_one_chain", "_full"),
    ),
    "rules": Target(
        "pyronas/select/rules.py", ("tests/select/test_balenas_select.py", "tests/select/test_snr_reference.py")
    ),
    "mixed_op": Target(
        "pyronas/nn/supernet.py",
        ("tests/nn/test_supernet.py", "tests/nn/test_supernet_reference.py"),
        ("MixedOp.*",),
    ),
    "vadam": Target("pyronas/optim/vadam.py", ("tests/optim/test_vadam.py",)),
    "engine": Target(
        "pyronas/infer/engine.py",
        ("tests/infer/test_engine.py", "tests/infer/test_darts_pyro.py"),
        ("BilevelSVI.unrolled_gradients", "BilevelSVI.arch_gradients", "BilevelSVI._apply", "virtual_sgd_step"),
    ),
}

TIMEOUT_MULTIPLIER = 3.0  # a first run's limit: (baseline seconds + 10) x 3 of wall time
RERUN_TIMEOUT_MULTIPLIER = 12.0  # re-runs of survivors: a survivor must not "fail" by running slower
RECHECK_LIMIT = (4.0, 30.0)  # timeouts checked in a fresh process: 4 x the unmutated tests' seconds + 30 s

STATUS = {  # mutmut 3 result words -> our outcomes (a timeout detects the mutant too, counted apart)
    "killed": "killed", "timeout": "timeout", "segfault": "killed", "survived": "survived",
    "no tests": "no tests", "suspicious": "suspicious", "skipped": "skipped", "not checked": "not checked",
    "caught by type check": "killed",
}


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode().split("\0")
    if dest.exists():
        shutil.rmtree(dest)
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for sub in ("models", "guides"):  # pyronas.models / pyronas.guides (a package-dir mapping mutmut's copy lacks)
        shutil.copytree(dest / sub, dest / "pyronas" / sub)


KEEP_DECORATORS = {"property", "staticmethod", "classmethod", "contextmanager", "contextlib.contextmanager"}


def _undecorate(path: Path) -> int:
    """mutmut 3 does not mutate decorated functions; in the scratch copy, turn each decorator of a function
    into an assignment after it (``f = torch.no_grad()(f)``, ``f = register_term("x")(f)``: the same object,
    bound or registered the same way), so the maths under ``@register_*`` and ``@torch.no_grad()`` is mutated
    too. Properties, setters, static/class methods and context managers keep theirs. Returns how many
    functions were rewritten."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    edits = []  # (first decorator line, def line, end line, indent, name, decorator sources)
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.decorator_list:
            continue
        sources = [ast.get_source_segment(text, d) for d in node.decorator_list]
        if any(src.split("(")[0] in KEEP_DECORATORS or src.endswith((".setter", ".deleter")) for src in sources):
            continue
        indent = lines[node.lineno - 1][: node.col_offset]
        first = min(d.lineno for d in node.decorator_list) - 1  # the lines of "@..." (0-based)
        edits.append((first, node.lineno - 1, node.end_lineno, indent, node.name, sources))
    for first, def_line, end, indent, name, sources in sorted(edits, reverse=True):
        after = "".join(f"{indent}{name} = {src}({name})\n" for src in reversed(sources))
        lines[end:end] = [after]
        del lines[first:def_line]
    path.write_text("".join(lines))
    return len(edits)


def _mutmut_section(target: Target, timeout_multiplier: float = TIMEOUT_MULTIPLIER) -> str:
    tests = ", ".join(f'"{t}"' for t in target.tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["pyronas"]\n'
        f'only_mutate = ["*{target.path}"]\n'
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        'process_isolation = "forkserver"\n'
        # a mutant's test run is a timeout after (its tests' baseline seconds + 10) x multiplier of wall time
        # (twice that of CPU time); the 10 s cover the worker's start and pytest's collection. mutmut's defaults
        # (+1, x15) let a timed-out BO-loop mutant run 2.6 min, and stop a fast one before its tests are collected.
        f"timeout_multiplier = {timeout_multiplier}\n"
        "timeout_constant = 10.0\n"
        'also_copy = ["models", "guides", "configs", "scripts"]\n'
    )


def _write_config(work: Path, target: Target, timeout_multiplier: float = TIMEOUT_MULTIPLIER) -> None:
    pyproject = work / "pyproject.toml"
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\n\[).)*", "\n", pyproject.read_text(), flags=re.S)
    pyproject.write_text(text.rstrip() + "\n" + _mutmut_section(target, timeout_multiplier))


def _results(work: Path, env: dict, patterns: list[str]) -> dict[str, str]:
    out = subprocess.run(["mutmut", "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True)
    verdicts = {}
    for line in out.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), name) for p in patterns):
            verdicts[name] = STATUS.get(status, status)
    return verdicts


def _env(**extra: str) -> dict[str, str]:
    """The environment of a mutant's tests: one torch thread, no display; not CI (a benchmark: optional extras
    may be missing here)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", **extra}
    env.pop("CI", None)
    return env


def _diff(work: Path, mutant: str) -> str:
    """``mutmut show``: the mutant's diff, run in the scratch folder ``work`` of its run."""
    return subprocess.run(["mutmut", "show", mutant], cwd=work, env=_env(), capture_output=True,
                          text=True).stdout.strip()


def run_target(
    name: str, target: Target, scratch: Path, jobs: int, log, collect_only: bool = False,
    only: list[str] | None = None, timeout_multiplier: float = TIMEOUT_MULTIPLIER,
) -> dict:
    """Mutate ``target`` in ``scratch/name`` and read the verdicts (``collect_only``: read an earlier run's;
    ``only``: run just these mutant names, e.g. an earlier run's survivors after new tests)."""
    work = scratch / name
    env = _env()
    t0 = time.time()
    patterns = only if only is not None else target.patterns()
    exit_code = None
    if not collect_only:
        _copy_repo(work)
        _undecorate(work / target.path)
        _write_config(work, target, timeout_multiplier)
        exit_code = subprocess.run(["mutmut", "run", "--max-children", str(jobs), *patterns], cwd=work, env=env,
                                   stdout=log, stderr=subprocess.STDOUT).returncode
    elif not work.is_dir():
        raise FileNotFoundError(f"{work}: no earlier mutmut run of {name!r} to collect")
    verdicts = _results(work, env, patterns)
    survivors = {mutant: _diff(work, mutant) for mutant, status in verdicts.items() if status == "survived"}
    return {
        "target": name, "module": target.path, "tests": list(target.tests), "functions": list(target.functions),
        "exit_code": exit_code, "seconds": None if collect_only else round(time.time() - t0),
        **_tally(verdicts), "verdicts": verdicts, "survivors": survivors,
    }


def _tally(verdicts: dict[str, str]) -> dict:
    """Counts per outcome and the survival rate survived / (killed + timeout + survived)."""
    counts = {s: sum(v == s for v in verdicts.values()) for s in sorted(set(verdicts.values()))}
    tested = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("survived", 0)
    return {"counts": counts, "survival_rate": counts.get("survived", 0) / tested if tested else None}


def _merged(earlier: dict, new_verdicts: dict[str, str], new_survivors: dict[str, str], **records) -> dict:
    """An earlier result with some verdicts replaced or added (the others stand: tests were only added) and
    the survivors' diffs kept, re-tallied; ``records`` say what was run (``rerun``, ``added``, ...)."""
    verdicts = {**earlier["verdicts"], **new_verdicts}
    diffs = {**earlier["survivors"], **new_survivors}
    survivors = {m: diffs.get(m, "") for m, v in verdicts.items() if v == "survived"}
    return {**earlier, **_tally(verdicts), "verdicts": verdicts, "survivors": survivors, **records}


def _rerun(name: str, args) -> dict:
    """Run again, through mutmut, the survivors (and untested mutants) of an earlier run of ``name`` after tests
    were added, with a longer limit (``RERUN_TIMEOUT_MULTIPLIER``: a survivor must not "fail" by running
    slower), and merge their new verdicts into the earlier result."""
    earlier = json.loads((args.out / f"{name}.json").read_text())
    only = sorted(m for m, v in earlier["verdicts"].items() if v in ("survived", "no tests"))
    if not only:
        return earlier
    with open(args.out / f"{name}.survivors.log", "w") as log:
        new = run_target(name, TARGETS[name], args.scratch, args.jobs, log, only=only,
                         timeout_multiplier=RERUN_TIMEOUT_MULTIPLIER)
    before = {k: earlier[k] for k in ("counts", "survival_rate")}
    record = {"mutants": len(only), "timeout_multiplier": RERUN_TIMEOUT_MULTIPLIER, "seconds": new["seconds"],
              "verdicts": {m: new["verdicts"].get(m) for m in only}, "before": before,
              "first_run": earlier.get("rerun", {}).get("first_run", before)}  # kept over repeated re-runs
    return _merged(earlier, new["verdicts"], new["survivors"], rerun=record)


def _add_functions(name: str, args, functions: list[str]) -> dict:
    """Mutate only ``functions`` of ``name``'s module (``Target.functions`` syntax, e.g. ``VAdam.step``: ones an
    earlier run did not reach) and add their verdicts to the earlier result."""
    earlier = json.loads((args.out / f"{name}.json").read_text())
    target = TARGETS[name]
    patterns = Target(target.path, target.tests, tuple(functions)).patterns()
    with open(args.out / f"{name}.added.log", "w") as log:
        new = run_target(name, target, args.scratch, args.jobs, log, only=patterns)
    record = {"functions": functions, "seconds": new["seconds"], "counts": new["counts"]}
    return _merged(earlier, new["verdicts"], new["survivors"], added=[*earlier.get("added", []), record])


def _check_one(work: Path, target: Target, mutant: str, limit: float) -> tuple[str, float]:
    """The target's tests against one mutant in a fresh pytest process (mutmut's trampoline reads
    ``MUTANT_UNDER_TEST``): ``killed`` (a test fails or errors), ``survived`` or ``timeout`` (over ``limit`` s)."""
    env = _env(MUTANT_UNDER_TEST=mutant)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.tests]
    t0 = time.time()
    try:
        rc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=limit).returncode
    except subprocess.TimeoutExpired:
        return "timeout", round(time.time() - t0, 1)
    return ("survived" if rc == 0 else "killed"), round(time.time() - t0, 1)


def _recheck_timeouts(name: str, args, sample: int | None = None) -> dict:
    """Check again, one fresh pytest process per mutant, the mutants an earlier run of ``name`` timed out on.

    mutmut's fork server reported equivalent mutants as timeouts (SIGXCPU from its wall-clock timer) while
    their tests pass in seconds when run alone, so its timeouts are checked outside it: the limit is
    ``RECHECK_LIMIT`` applied to the unmutated tests' time in the same setting (measured first)."""
    target = TARGETS[name]
    work = args.scratch / name / "mutants"
    if not work.is_dir():
        raise FileNotFoundError(f"{work}: no earlier mutmut run of {name!r} to check")
    earlier = json.loads((args.out / f"{name}.json").read_text())
    only = sorted(m for m, v in earlier["verdicts"].items() if v == "timeout")[:sample]
    verdict, baseline = _check_one(work, target, "none", limit=600)  # no mutant: the tests' own time
    if verdict != "survived":
        raise RuntimeError(f"{name}: the unmutated tests do not pass in {work} ({verdict})")
    limit = RECHECK_LIMIT[0] * baseline + RECHECK_LIMIT[1]
    t0 = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        checked = dict(zip(only, pool.map(lambda m: _check_one(work, target, m, limit), only), strict=True))
    new = {m: v for m, (v, _) in checked.items()}
    record = {"mutants": len(only), "baseline_seconds": baseline, "limit_seconds": round(limit, 1),
              "seconds": round(time.time() - t0), "verdicts": new,
              "check_seconds": {m: t for m, (_, t) in checked.items()},
              "before": {k: earlier[k] for k in ("counts", "survival_rate")}}
    survivors = {m: _diff(work.parent, m) for m, v in new.items() if v == "survived"}
    return _merged(earlier, new, survivors, timeout_check=record)


def _report(results: list[dict]) -> str:
    lines = ["# Mutation testing (mutmut 3)", "",
             "| target | module | mutants | killed | timeout | survived | no tests | survival | minutes |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        c, rate = r["counts"], r["survival_rate"]
        survival = "n/a" if rate is None else f"{100 * rate:.1f}%"
        first = r.get("rerun", {}).get("first_run")
        if first and first["survival_rate"] is not None:
            survival += f" (first run {100 * first['survival_rate']:.1f}%)"
        minutes = "?" if r["seconds"] is None else f"{r['seconds'] / 60:.1f}"
        counts = " | ".join(str(c.get(k, 0)) for k in ("killed", "timeout", "survived", "no tests"))
        lines.append(f"| {r['target']} | {r['module']} | {sum(c.values())} | {counts} | {survival} | {minutes} |")
    for r in results:
        if r["survivors"]:
            lines += ["", f"## Survivors: {r['target']} ({r['module']})", ""]
            for mutant, diff in r["survivors"].items():
                lines += [f"### {mutant}", "", "```diff", diff, "```", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    p.add_argument("--jobs", type=int, default=1, help="mutmut worker processes")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/pyronas-mutation"))
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "mutation")
    p.add_argument("--collect", action="store_true", help="only read the verdicts of earlier (maybe unfinished) runs")
    p.add_argument("--survivors", action="store_true",
                   help="re-run only the survivors and untested mutants of <out>/<target>.json (after adding tests) "
                        "and merge the verdicts")
    p.add_argument("--timeouts", type=int, metavar="N", nargs="?", const=-1,
                   help="check the timed-out mutants of <out>/<target>.json (the first N; all without N) again, "
                        "each in a fresh pytest process with a longer limit, and merge the verdicts")
    p.add_argument("--functions", nargs="+", metavar="F",
                   help="mutate only these functions of the (one) target (e.g. VAdam.step) and add their verdicts "
                        "to <out>/<target>.json")
    args = p.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    if shutil.which("mutmut") is None:
        p.error("mutmut is not installed (pip install mutmut)")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.targets or list(TARGETS):
        if args.functions:
            result = _add_functions(name, args, args.functions)
        elif args.survivors:
            result = _rerun(name, args)
        elif args.timeouts is not None:
            result = _recheck_timeouts(name, args, sample=None if args.timeouts < 0 else args.timeouts)
        else:
            with open(args.out / f"{name}.log", "a" if args.collect else "w") as log:
                result = run_target(name, TARGETS[name], args.scratch, args.jobs, log, args.collect)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2))
        done = [json.loads((args.out / f"{t}.json").read_text()) for t in TARGETS if (args.out / f"{t}.json").exists()]
        (args.out / "report.md").write_text(_report(done))  # every target measured into this folder so far
        print(f"{name}: {result['counts']} in {result['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
