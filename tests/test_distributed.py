"""Data-parallel search on CPU: 2 processes, gloo, a tiny supernet on sklearn digits."""

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from pyronas.callbacks.base import Callback
from pyronas.config import load_config
from pyronas.data.datasets import Batches, load_dataset
from pyronas.distributed import World, shard_batches

TINY = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.portion=0.5", "data.batch_size=16",
    "search.epochs=2", "search.steps_per_epoch=4", "optim.arch.lr=0.01",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flat_params(state) -> list[float]:
    return torch.cat([p.detach().reshape(-1) for p in list(state.model.parameters()) + list(state.guide.parameters())
                      ]).tolist()


class _Record(Callback):
    """Every parameter after every step, and an optional interruption."""

    def __init__(self, interrupt_at: int | None = None):
        self.rows: list[list[float]] = []
        self.interrupt_at = interrupt_at

    def on_step_end(self, state, step):
        self.rows.append(_flat_params(state))
        if step == self.interrupt_at:
            raise KeyboardInterrupt


def _no_batch_statistics():
    """BatchNorm as the identity: per-example computation, so a K-rank batch B equals one batch K·B."""
    torch.nn.modules.batchnorm._BatchNorm.forward = lambda self, x: x


def _rank_main(rank: int, world: int, port: int, job: dict) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from pyronas.infer.runner import Search, run_search

    if job.get("no_bn_stats"):
        _no_batch_statistics()
    cfg = load_config(overrides=job["overrides"])
    data = load_dataset("digits")
    try:
        if job.get("resume"):
            genotype = run_search(cfg, job["out"], resume=True, progress_bar=False, data=data)
            rows: list = []
        else:
            search = Search(cfg, job["out"], data=data)
            rec = _Record(job.get("interrupt_at"))
            search.callbacks.append(rec)
            try:
                genotype = search.run(progress_bar=False)
            except KeyboardInterrupt:
                genotype = None
            rows = rec.rows
        Path(job["result"].format(rank=rank)).write_text(json.dumps({"rows": rows, "genotype": str(genotype)}))
    finally:
        dist.destroy_process_group()


def _spawn(job: dict, world: int = 2) -> list[dict]:
    mp.spawn(_rank_main, args=(world, _free_port(), job), nprocs=world, join=True)
    return [json.loads(Path(job["result"].format(rank=r)).read_text()) for r in range(world)]


def test_shards_are_disjoint_and_make_the_global_batch():
    data = load_dataset("digits").subset(torch.arange(200))
    one = Batches(data, 20, seed=3)
    shards = [shard_batches(Batches(data, 10, seed=3), World(r, 2)) for r in range(2)]
    assert len(shards[0]) == len(one) == 10
    for (x, y), (x0, y0), (x1, y1) in zip(one.epoch(1), shards[0].epoch(1), shards[1].epoch(1), strict=True):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)


def test_parameters_equal_on_both_ranks_after_every_step(tmp_path):
    """A stochastic guide (DrNAS' Dirichlet): per-rank noise, but averaged gradients keep the ranks identical."""
    job = {"overrides": TINY + ["model.name=dirichlet", "guide.name=dirichlet"], "out": str(tmp_path / "run"),
           "result": str(tmp_path / "rank{rank}.json")}
    r0, r1 = _spawn(job)
    assert len(r0["rows"]) == len(r1["rows"]) == 8
    for a, b in zip(r0["rows"], r1["rows"], strict=True):
        assert a == b  # bit-identical
    assert r0["rows"][0] != r0["rows"][-1]  # and they did move
    assert (tmp_path / "run" / "genotype.json").exists() and r0["genotype"] == r1["genotype"]


def test_two_ranks_with_batch_b_equal_one_process_with_batch_2b(tmp_path):
    """DARTS (deterministic guide), no batch statistics: the 2-rank run is the 1-process run with twice the batch."""
    b = 16
    job = {"overrides": TINY + [f"data.batch_size={b}"], "out": str(tmp_path / "two"),
           "result": str(tmp_path / "two{rank}.json"), "no_bn_stats": True}
    r0, _ = _spawn(job)

    from pyronas.infer.runner import Search

    saved = torch.nn.modules.batchnorm._BatchNorm.forward
    try:
        _no_batch_statistics()
        search = Search(load_config(overrides=TINY + [f"data.batch_size={2 * b}"]), tmp_path / "one",
                        data=load_dataset("digits"))
        rec = _Record()
        search.callbacks.append(rec)
        search.run(progress_bar=False)
    finally:
        torch.nn.modules.batchnorm._BatchNorm.forward = saved
    assert len(rec.rows) == len(r0["rows"])
    for one, two in zip(rec.rows, r0["rows"], strict=True):
        torch.testing.assert_close(torch.tensor(two), torch.tensor(one), rtol=1e-5, atol=1e-5)


def test_interrupted_two_rank_run_resumes_to_the_same_genotype(tmp_path):
    over = TINY + ["model.name=dirichlet", "guide.name=dirichlet", "search.epochs=3"]
    full = _spawn({"overrides": over, "out": str(tmp_path / "full"), "result": str(tmp_path / "full{rank}.json")})
    cut = {"overrides": over, "out": str(tmp_path / "cut"), "result": str(tmp_path / "cut{rank}.json"),
           "interrupt_at": 6}  # mid-epoch
    assert all(r["genotype"] == "None" for r in _spawn(cut))
    resumed = _spawn({**cut, "resume": True, "interrupt_at": None})
    assert resumed[0]["genotype"] == full[0]["genotype"] == resumed[1]["genotype"]
    history = json.loads((tmp_path / "cut" / "history.json").read_text())
    full_history = json.loads((tmp_path / "full" / "history.json").read_text())
    assert history == full_history


@pytest.mark.parametrize("world", [1])
def test_single_process_is_untouched(world, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    from pyronas.distributed import init_from_env

    assert init_from_env() == World()


def _train_rank(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from pyronas.nn.spaces import Genotype
    from pyronas.train.config import NetworkSection, TrainSection
    from pyronas.train.trainer import Trainer

    g = torch.Generator().manual_seed(0)
    data = (torch.randn(128, 1, 12, 12, generator=g), torch.randint(0, 10, (128,), generator=g),
            torch.randn(32, 1, 12, 12, generator=g), torch.randint(0, 10, (32,), generator=g))
    genotype = Genotype.from_nb201_string(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")
    trainer = Trainer(genotype, NetworkSection(C=4, layers=1, auxiliary=False),
                      TrainSection(epochs=2, lr=0.05, progress=False), data, 10, batch_size=16,
                      out_dir=Path(out) / "run", seed=3)
    trainer.run()
    flat = torch.cat([p.detach().reshape(-1) for p in trainer.net.parameters()])
    torch.save(flat, Path(out) / f"params{rank}.pt")
    dist.destroy_process_group()


def test_two_rank_retraining_keeps_ranks_identical_and_rank0_writes(tmp_path):
    mp.spawn(_train_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    p0, p1 = torch.load(tmp_path / "params0.pt"), torch.load(tmp_path / "params1.pt")
    assert torch.equal(p0, p1)
    assert (tmp_path / "run" / "train_metrics.json").exists()
