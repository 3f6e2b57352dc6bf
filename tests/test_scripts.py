"""Smoke test of the per-method scripts (scripts/search_*.py): each runs end to end on scikit-learn's
digits with the smallest settings and leaves a genotype. The scripts run side by side as subprocesses
(one torch thread each), so the file costs about one script's start-up and two search steps."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyronas.nn.spaces import Genotype, get_space

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("search_*.py"))
TINY = [
    "data.name=digits", "data.image_size=null", "data.batch_size=32", "supernet.C=4", "supernet.layers=1",
    "search.epochs=1", "search.warmup_epochs=0", "search.steps_per_epoch=2", "search.eval_batches=1",
]
EXTRA = {"search_balenas.py": ["--num-samples", "1"]}  # one draw for BaLeNAS-TF's proxy selection


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every script at once; return ``{script: (returncode, output, out_dir)}``."""
    base = tmp_path_factory.mktemp("scripts")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    procs = {}
    for script in SCRIPTS:
        out = base / script.removesuffix(".py")
        args = [sys.executable, str(ROOT / "scripts" / script), "--out", str(out), *EXTRA.get(script, [])]
        args += [a for s in TINY for a in ("--set", s)]
        procs[script] = (subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True), out)
    results = {}
    for script, (proc, out) in procs.items():
        output, _ = proc.communicate(timeout=300)
        results[script] = (proc.returncode, output, out)
    return results


def test_every_method_has_a_script():
    assert SCRIPTS == ["search_balenas.py", "search_darts.py", "search_drnas.py", "search_vimnas.py",
                       "search_vinnas.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_and_writes_a_genotype(runs, script):
    code, output, out = runs[script]
    assert code == 0, output[-3000:]
    genotype = Genotype.load(out / "genotype.json")
    space = get_space(genotype.space)
    assert set(genotype.cells) == set(space.cell_kinds)
    assert all(edges and {op for op, _, _ in edges} <= set(space.ops) for edges in genotype.cells.values())
