"""Many runs at once on a local Ray instance (num_cpus=2): seed sweeps, failures per job, asynchronous BO."""

import json
import sys

import pytest
import yaml

from pyronas.config import ConfigError
from pyronas.sweep import Job, parse_seeds, require_ray, run_bo_async, run_jobs

ray = pytest.importorskip("ray")
# the workers cannot import this test module: ship its functions by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

TINY = {
    "space": "nb201", "supernet": {"C": 4, "layers": 1},
    "data": {"name": "digits", "batch_size": 32, "portion": 0.5},
    "search": {"epochs": 1, "steps_per_epoch": 3},
}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    assert parse_seeds("5") == [5]
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds("a-b")


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pyronas\[ray\]"):
        require_ray()


def _square(x):
    return x * x


def _fail(x):
    raise ValueError(f"bad {x}")


def test_a_failed_job_is_reported_and_the_others_kept(local_ray):
    jobs = [Job("a", _square, {"x": 3}), Job("b", _fail, {"x": 1}), Job("c", _square, {"x": 4})]
    results = run_jobs(jobs, progress=False)
    assert [r.name for r in results] == ["a", "b", "c"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].value == 9 and results[2].value == 16
    assert "ValueError: bad 1" in results[1].error


def test_async_bo_keeps_workers_busy_without_repeats(local_ray):
    from pyronas.bo.config import BOConfig
    from pyronas.bo.loop import BayesOpt
    from pyronas.bo.targets import SyntheticObjective
    from pyronas.nn.spaces import get_space

    space = get_space("nb201")
    cfg = BOConfig(budget=8, n_init=3, map_steps=30)
    bo = BayesOpt(space, SyntheticObjective(space, seed=0), cfg, seed=0)
    best = run_bo_async(bo, workers=2)
    arches = [ev.arch for ev in bo.evaluations]
    assert len(arches) == 8 and len(set(arches)) == 8
    assert str(best) in {ev.arch for ev in bo.evaluations} or best is not None


def test_propose_never_repeats_a_pending_architecture():
    from pyronas.bo.candidates import key
    from pyronas.bo.config import BOConfig
    from pyronas.bo.loop import BayesOpt
    from pyronas.bo.targets import SyntheticObjective
    from pyronas.nn.spaces import get_space

    space = get_space("nb201")
    bo = BayesOpt(space, SyntheticObjective(space, seed=0), BOConfig(budget=10, n_init=3, map_steps=30), seed=0)
    for _ in range(4):
        bo.step()
    first = bo.propose()[0]
    second = bo.propose(pending=[first])[0]
    assert key(second) != key(first)


def test_cli_sweep(local_ray, tmp_path, capsys):
    from pyronas.cli import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    assert main(["sweep", "--config", str(cfg), "--seeds", "0-1", "--out", str(tmp_path / "sw")]) == 0
    out = capsys.readouterr().out
    assert "seed0:" in out and "seed1:" in out and "2/2 ok" in out
    for seed in (0, 1):
        run = tmp_path / "sw" / f"seed{seed}"
        assert f"seed{seed}: {json.loads((run / 'genotype.json').read_text())['string']}" in out
        assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == seed
