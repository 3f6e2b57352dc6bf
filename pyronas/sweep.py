"""Many independent runs at once on Ray: seed sweeps, retrainings, comparisons, asynchronous BO.

``run_jobs(jobs)`` sends each ``Job`` (a module-level function and its keyword arguments) to a Ray task
that writes its own run folder, collects results as they finish (a progress line per job), and reports a
failed job as a ``JobResult`` with its error without losing the others. The same call runs on a laptop
(``address=None``: a local Ray with ``num_cpus``) and on a cluster (``address="ray://host:10001"`` or
``"auto"``). Ray is the optional extra ``pyronas[ray]``.

``sweep(config, seeds)`` is ``pyronas sweep``: one search per seed (the chains ``pyronas diagnose``
compares), each in ``OUT/seed<k>``. ``run_bo_async`` keeps ``workers`` BO evaluations in flight and
proposes a new architecture as soon as one finishes, the in-flight ones as pending points (their
outcomes fantasised, ``pyronas.bo.acquisition.integrated_acquisition``).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyronas.config import ConfigError

log = logging.getLogger(__name__)

__all__ = ["Job", "JobResult", "parse_seeds", "require_ray", "run_bo_async", "run_jobs", "search_job", "sweep"]


def require_ray():
    """``import ray``, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'pyronas[ray]' (or pip install 'ray[default]')") from None
    return ray


def parse_seeds(text: str) -> list[int]:
    """``"0-7"`` → 0..7, ``"0,3,5"`` → [0, 3, 5], ``"2"`` → [2] (ranges and lists may mix: ``"0-2,7"``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise ConfigError(f"--seeds: {text!r} is not a list of seeds like 0-7 or 0,3,5") from None
    if not seeds:
        raise ConfigError("--seeds: no seed given")
    return seeds


@dataclass
class Job:
    """One independent run: ``fn(**kwargs)`` in a Ray task, named ``name`` in reports."""

    name: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobResult:
    """The outcome of one job of a sweep: its name, whether it succeeded, its value or error, and its seconds."""

    name: str
    ok: bool
    value: Any = None
    error: str | None = None
    seconds: float = 0.0


def _call(fn: Callable[..., Any], kwargs: dict[str, Any], threads: int) -> tuple[bool, Any, str | None, float]:
    """Run one job inside a worker: torch limited to the task's CPUs; any exception becomes a failure record."""
    import torch

    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    try:
        return True, fn(**kwargs), None, time.perf_counter() - t0
    except BaseException as e:  # a job's failure must not take the sweep down
        return False, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}", time.perf_counter() - t0


def _init(address: str | None, num_cpus: int | None):
    ray = require_ray()
    if not ray.is_initialized():
        kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False, "include_dashboard": False}
        if address:
            kw["address"] = address
        else:
            kw["num_cpus"] = num_cpus
        ray.init(**kw)
    return ray


def run_jobs(
    jobs: Sequence[Job],
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_job: int = 1,
    progress: bool = True,
) -> list[JobResult]:
    """Run ``jobs`` as Ray tasks (``cpus_per_job`` CPUs each) and return their results in job order."""
    ray = _init(address, num_cpus)
    remote = ray.remote(num_cpus=cpus_per_job)(_call)
    refs = {remote.remote(j.fn, j.kwargs, cpus_per_job): i for i, j in enumerate(jobs)}
    results: list[JobResult | None] = [None] * len(jobs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = refs[done[0]]
        try:
            ok, value, error, seconds = ray.get(done[0])
        except Exception as e:  # the worker itself died (out of memory, killed node)
            ok, value, error, seconds = False, None, f"{type(e).__name__}: {e}", 0.0
        results[i] = JobResult(jobs[i].name, ok, value, error, seconds)
        n_done = sum(r is not None for r in results)
        if progress:
            status = "ok" if ok else "FAILED: " + (error or "").splitlines()[0]
            log.info("[%d/%d] %s %s (%.1f s)", n_done, len(jobs), jobs[i].name, status, seconds)
    return [r for r in results if r is not None]


def search_job(config: str, overrides: list[str], out_dir: str) -> str:
    """One ``pyronas search`` in ``out_dir`` (no progress bar); returns the genotype's string form."""
    from pyronas.config import load_config
    from pyronas.infer import run_search

    return str(run_search(load_config(config, overrides), out_dir, progress_bar=False))


def sweep(
    config: str,
    seeds: Sequence[int],
    out_root: str | Path,
    overrides: Sequence[str] = (),
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_job: int = 1,
) -> list[JobResult]:
    """One search per seed of ``config``, each in ``out_root/seed<k>`` (``pyronas sweep``)."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    jobs = [
        Job(f"seed{s}", search_job, {"config": str(config), "overrides": [*overrides, f"seed={s}"],
                                     "out_dir": str(out_root / f"seed{s}")})
        for s in seeds
    ]
    return run_jobs(jobs, address, num_cpus, cpus_per_job)


def run_bo_async(bo, workers: int, address: str | None = None, num_cpus: int | None = None, cpus_per_job: int = 1):
    """Asynchronous BO: keep ``workers`` evaluations of ``bo.objective`` in flight as Ray tasks; when one
    finishes, record it and propose the next architecture with the still-running ones as pending points.

    ``bo`` is a ``pyronas.bo.BayesOpt``; its objective must be picklable. Returns ``bo.finish()``.
    """
    from pyronas.bo.candidates import key
    from pyronas.bo.runfolder import Evaluation

    ray = _init(address, num_cpus)
    remote = ray.remote(num_cpus=cpus_per_job)(_call)
    in_flight: dict[Any, tuple[Any, float]] = {}

    def launch() -> None:
        pending = [g for g, _ in in_flight.values()]
        left = bo.cfg.budget - len(bo.evaluations) - len(pending)
        if left <= 0:
            return
        for g in bo.propose(pending=pending)[:1]:
            ref = remote.remote(bo.objective, {"genotype": g}, cpus_per_job)
            in_flight[ref] = (g, time.time())

    for _ in range(workers):
        launch()
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        g, _started = in_flight.pop(done[0])
        ok, value, error, seconds = ray.get(done[0])
        if not ok:
            raise RuntimeError(f"BO evaluation of {key(g)} failed: {error}")
        ev = Evaluation(len(bo.evaluations), key(g), g.to_dict(), float(value), seconds, time.time())
        bo.record(ev)
        log.info("eval %d: %.4f %s", ev.index, ev.value, ev.arch)
        launch()
    return bo.finish()
