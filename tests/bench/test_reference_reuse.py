"""A found cell already measured with the reference protocol is not retrained: its stored values are what a
retraining returns (the protocol is deterministic on the CPU given the seed); the comparison report re-ranks
rows against the finished reference set."""

import pytest

from pyronas.bench import compare_v2, reference
from tests.bench.test_bench_search import needs_fmnist

CELL = "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
OTHER = "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"


def _tiny_reference():
    cfg = reference.load_protocol(overrides=["data.portion=0.005", "train.epochs=1", "train.eval_every=1"])
    run = reference.train_cell(CELL, 0, cfg, 500)
    ref = {"protocol": cfg.to_dict(), "protocol_hash": reference.protocol_hash(cfg, 500), "test_subset": 500,
           "seeds": [0], "cells": [{"string": CELL, "test_acc": [run["test_acc"]], "params_M": run["params_M"]}]}
    return cfg, ref


@needs_fmnist
def test_stored_values_equal_a_retraining_and_are_reused(one_thread):
    cfg, ref = _tiny_reference()
    again = reference.train_cell(CELL, 0, cfg, 500)["test_acc"]
    assert again == ref["cells"][0]["test_acc"][0]  # deterministic: reuse is exact, not an approximation
    stored = reference.evaluate_against_reference(CELL, ref)
    assert stored["source"] == "reference" and stored["wall_s"] == 0.0
    assert stored["test_acc"] == [again] and stored["percentile"] == 50.0
    known = reference.evaluate_against_reference(OTHER, ref, known={OTHER: [0.25]})
    assert known["source"] == "known" and known["test_acc_mean"] == 0.25
    trained = reference.evaluate_against_reference(OTHER, ref)
    assert trained["source"] == "trained" and trained["wall_s"] > 0
    assert trained["test_acc"] == [reference.train_cell(OTHER, 0, cfg, 500)["test_acc"]]


def test_rerank_uses_the_final_reference_and_refuses_another_protocol():
    ref = {"protocol_hash": "h", "seeds": [0], "cells": [{"string": str(i), "test_acc": [a]}
                                                          for i, a in enumerate((0.70, 0.72, 0.74, 0.76))]}
    rows = [{"method": "darts", "seed": 1, "fmnist_test_acc": 0.75, "fmnist_percentile": 99.0,
             "reference_protocol_hash": "h"}]
    assert compare_v2.rerank(rows, ref)[0]["fmnist_percentile"] == 75.0
    with pytest.raises(ValueError, match="protocol"):
        compare_v2.rerank([dict(rows[0], reference_protocol_hash="other")], ref)


@needs_fmnist
def test_known_values_of_fewer_seeds_are_kept_and_the_rest_trained(one_thread):
    cfg, ref = _tiny_reference()
    ref = dict(ref, seeds=[0, 1], cells=[dict(c, test_acc=2 * c["test_acc"]) for c in ref["cells"]])
    first = reference.train_cell(OTHER, 0, cfg, 500)["test_acc"]
    extended = reference.evaluate_against_reference(OTHER, ref, known={OTHER: [first]})
    assert extended["source"] == "known+trained" and extended["wall_s"] > 0
    assert extended["test_acc"] == [first, reference.train_cell(OTHER, 1, cfg, 500)["test_acc"]]
    assert extended["test_acc_mean"] == pytest.approx(sum(extended["test_acc"]) / 2)


def test_rerank_refuses_rows_with_fewer_training_seeds_than_the_reference():
    ref = {"protocol_hash": "h", "seeds": [0, 1], "cells": [{"string": "a", "test_acc": [0.7, 0.72]}]}
    row = {"method": "darts", "seed": 1, "fmnist_test_acc": 0.75, "fmnist_test_acc_seeds": [0.75],
           "reference_protocol_hash": "h"}
    with pytest.raises(ValueError, match="--extend-seeds"):
        compare_v2.rerank([row], ref)
    assert compare_v2.rerank([dict(row, fmnist_test_acc_seeds=[0.75, 0.75])], ref)[0]["fmnist_percentile"] == 100.0
