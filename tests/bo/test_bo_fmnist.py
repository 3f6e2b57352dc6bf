"""A short real BO-NAS run on Fashion-MNIST (tiny training per architecture), end to end, resumed."""

import json

import pytest

from pyronas.bo.loop import run_bo
from pyronas.cli import main
from pyronas.config import load_config

pytestmark = pytest.mark.requires("fashion_mnist")


def test_bo_fashion_mnist_end_to_end(tmp_path):
    cfg = load_config(
        name="bo-test",
        space="nb201",
        data={"name": "fashion_mnist", "image_size": 12, "portion": 0.1},
        bo={"budget": 3, "n_init": 2, "map_steps": 50,
            "objective": {"kind": "train", "C": 4, "layers": 1, "steps": 25, "n_train": 1000, "n_val": 300}},
    )
    out = tmp_path / "run"
    genotype = run_bo(cfg, out)
    evals = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert len(evals) == 3 and all(0.0 <= e["value"] <= 1.0 and e["time"] > 0 for e in evals)
    assert max(e["value"] for e in evals) > 0.25  # 10 classes: chance is 0.1
    assert json.loads((out / "genotype.json").read_text())["string"] == str(genotype)
    # resume through the CLI with a larger budget: the old evaluations are kept, one more is added
    assert main(["--quiet", "bo", "--resume", str(out), "--set", "bo.budget=4"]) == 0
    again = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert again[:3] == evals and len(again) == 4
