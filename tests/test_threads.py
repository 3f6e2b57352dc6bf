"""``runtime.threads``: $OMP_NUM_THREADS when set, else half the CPUs (1 to 4); a search applies the config's count."""

from __future__ import annotations

import os

import pytest
import torch

from pyronas.config import load_config
from pyronas.errors import ConfigError
from pyronas.runtime import default_threads, set_threads


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (3, 1), (6, 3), (8, 4), (64, 4)])
def test_default_is_half_the_cpus_between_1_and_4(monkeypatch, cpus, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert default_threads() == expected


@pytest.mark.parametrize(("env", "expected"), [("3", 3), ("1", 1), ("0", 2), ("x", 2)])
def test_omp_num_threads_is_respected_when_valid(monkeypatch, env, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)))  # invalid -> 4 // 2
    assert default_threads() == expected


def test_set_threads_sets_torch_and_refuses_zero(keep_threads):
    assert set_threads(2) == 2 and torch.get_num_threads() == 2
    assert set_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(ConfigError, match=r"^runtime.threads: must be >= 1"):
        set_threads(0)
    with pytest.raises(ConfigError, match=r"^runtime.threads: must be >= 1, or null"):
        load_config(overrides=["runtime.threads=0"])


@pytest.mark.requires("sklearn")
def test_a_search_applies_the_configs_thread_count(keep_threads):
    from pyronas.data.datasets import load_dataset
    from pyronas.infer import Search

    torch.set_num_threads(1)
    cfg = load_config(overrides=["space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits",
                                 "data.batch_size=32", "runtime.threads=2"])
    Search(cfg, None, data=load_dataset("digits").subset(torch.arange(128)))
    assert torch.get_num_threads() == 2
