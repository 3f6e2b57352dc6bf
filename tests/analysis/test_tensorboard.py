"""TensorBoard logs of search, retraining and BO, read back with TensorBoard's own EventAccumulator and
compared with the run's JSON files: every numeric key, every epoch / evaluation, plus the images."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pyronas.bo.loop import run_bo
from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import run_search
from pyronas.nn.spaces import Genotype, get_space
from pyronas.train.config import load_train_config
from pyronas.train.protocol import run_train
from pyronas.train.trainer import METRICS

TINY_SEARCH = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
    "search.epochs=2", "search.steps_per_epoch=4", "optim.arch.lr=0.01", "output.tensorboard=true",
]


def _events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _scalars(acc: EventAccumulator) -> dict[str, dict[int, float]]:
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def _same(logged: float, value: float) -> bool:
    """A float32 scalar equals the float64 it was written from (NaN equals NaN)."""
    if math.isnan(value):
        return math.isnan(logged)
    return math.isclose(logged, value, rel_tol=1e-6, abs_tol=1e-12)


def _assert_rows_logged(scalars: dict, rows: list[dict], step_key: str) -> None:
    """Every numeric (non-bool) key of every row is a scalar at the row's step with the row's value."""
    for row in rows:
        step = row[step_key]
        for key, value in row.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            assert key in scalars, f"{key} not logged"
            assert _same(scalars[key][step], value), (key, step, scalars[key][step], value)


def _image_steps(acc: EventAccumulator, tag: str) -> list[int]:
    images = acc.Images(tag)
    assert all(im.width > 50 and im.height > 30 and im.encoded_image_string[:4] == b"\x89PNG" for im in images)
    return [im.step for im in images]


def test_search_logs_metrics_op_probs_and_cells(tmp_path, one_thread):
    cfg = load_config(overrides=TINY_SEARCH + ["search.callbacks=[{name: hessian, params: {every: 1}}]"])
    run_search(cfg, tmp_path, progress_bar=False, data=load_dataset("digits"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    history = json.loads((tmp_path / "history.json").read_text())
    acc = _events(tmp_path)
    scalars = _scalars(acc)
    assert "hessian_eig" in metrics[0] and len(metrics) == 2
    _assert_rows_logged(scalars, metrics, "epoch")
    space = get_space("nb201")
    for rec in history:
        # one edge naming (ArviZ's `1<-0` coords) in history.json and the TensorBoard tags, op names stored too
        assert rec["edges"] == space.edge_labels() == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
        assert rec["ops"] == list(space.ops)
        probs = rec["op_probs"]["cell"]
        for e, row in enumerate(probs):
            for o, op in enumerate(space.ops):
                assert _same(scalars[f"op_probs/cell/{rec['edges'][e]}/{op}"][rec["epoch"]], row[o])
    n_prob_tags = sum(tag.startswith("op_probs/") for tag in scalars)
    assert n_prob_tags == space.num_edges * space.num_ops
    assert _image_steps(acc, "op_probs/heatmap") == [0, 1]
    assert _image_steps(acc, "cell/cell") == [0, 1]


def test_train_logs_every_epoch_record(tmp_path, one_thread):
    sets = ["data.image_size=8", "network.C=4", "train.epochs=3", "train.cutout=0", "train.steps_per_epoch=2",
            "train.eval_every=2", "data.batch_size=16", "output.tensorboard=true", "train.val_portion=0.25"]
    cfg = load_train_config("configs/train_nb201_fmnist.yaml", sets)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g),
            torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))
    genotype = Genotype.from_nb201_string(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|"
    )
    run_train(cfg, genotype, tmp_path, data=(data, 10), progress=False)
    history = json.loads((tmp_path / METRICS).read_text())["history"]
    assert len(history) == 3 and "val_acc" in history[1] and "val_acc" not in history[0]
    assert not any("test_acc" in r for r in history)  # the test set is evaluated once, after training
    acc = _events(tmp_path)
    scalars = _scalars(acc)
    _assert_rows_logged(scalars, history, "epoch")
    assert sorted(scalars["val_acc"]) == [1, 2]  # evaluated epochs only
    assert _image_steps(acc, "cell/cell") == [0]


def test_bo_logs_every_evaluation(tmp_path):
    cfg = load_config("configs/bo_nb201_synthetic.yaml", ["bo.budget=5", "bo.n_init=3", "output.tensorboard=true"])
    run_bo(cfg, tmp_path)
    evaluations = [json.loads(line) for line in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    best = json.loads((tmp_path / "trajectory.json").read_text())["best_observed"]
    rows = [{k: v for k, v in ev.items() if k != "wall"} | {"best_observed": b}
            for ev, b in zip(evaluations, best, strict=True)]
    acc = _events(tmp_path)
    scalars = _scalars(acc)
    _assert_rows_logged(scalars, rows, "index")
    assert sorted(scalars["value"]) == list(range(5))
    # the evaluation's unix time is the scalars' wall time (float32 scalars cannot hold it)
    assert [e.wall_time for e in acc.Scalars("value")] == pytest.approx([ev["wall"] for ev in evaluations])
    assert _image_steps(acc, "cell/cell") == list(range(5))


def test_tensorboard_is_off_by_default(tmp_path, one_thread):
    cfg = load_config(overrides=[s for s in TINY_SEARCH if not s.startswith("output.")] + ["search.epochs=1"])
    run_search(cfg, tmp_path, progress_bar=False, data=load_dataset("digits"))
    assert not (tmp_path / "tensorboard").exists()
