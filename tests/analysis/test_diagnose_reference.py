"""``pyronas diagnose RUN --reference nuts`` on a tiny real search (sklearn digits, NB201 cell)."""

from __future__ import annotations

import json

import pytest
import torch

from pyronas.analysis.calibration import reference_check
from pyronas.cli import main
from pyronas.config import load_config
from pyronas.infer import Search


@pytest.mark.requires("sklearn")
@pytest.mark.usefixtures("one_thread")
def test_diagnose_reference_nuts_writes_the_table_and_flags_short_chains(tmp_path, capsys):
    cfg = load_config(
        None, name="tiny_ref", seed=0, space="nb201", supernet={"C": 2, "layers": 1},
        data={"name": "digits", "portion": 0.5, "batch_size": 32, "eval_batch_size": 64},
        guide={"name": "mean_field", "params": {"log_sigma2": -6.0}},
        search={"epochs": 1, "steps_per_epoch": 2, "eval_batches": 1},
    )
    run = tmp_path / "run"
    Search(cfg, run).run(progress_bar=False)
    args = ["diagnose", str(run), "--no-plots", "--samples", "20", "--reference", "nuts", "--reference-draws", "15",
            "--reference-warmup", "10", "--reference-chains", "2", "--reference-images", "8",
            "--reference-tree-depth", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "reference" / "reference_check.json").read_text())
    cal = summary["calibration"]
    assert summary["n_data"] > summary["images"] == 8 and summary["chains"] == 2
    assert cal["guide"] == "MeanFieldAlphaGuide" and 0 <= cal["coverage_90"] <= 1 and cal["sd_ratio"] > 0
    assert cal["argmax_agreement"] in {k / 6 for k in range(7)} and cal["energy_distance"] >= 0
    # 2 chains x 20 draws cannot reach ESS 400: the verdict says the reference is not to be trusted
    assert summary["verdict"].startswith("the reference did not converge:") and "ESS" in summary["verdict"]
    assert f"reference verdict: {summary['verdict']}" in out
    chains = sorted((run / "reference" / "chains").glob("chain_*.pt"))
    assert [c.name for c in chains] == ["chain_0.pt", "chain_1.pt"]
    first = torch.load(chains[0], weights_only=True)["alpha"]["cell"]
    assert first.shape == (15, 6, 5)
    # a second call (the Python API) reads the saved chains back instead of sampling again
    stamps = [c.stat().st_mtime_ns for c in chains]
    again = reference_check(run, images=8, num_chains=2, warmup_steps=10, num_samples=15, max_tree_depth=2,
                            q_samples=30, progress=False)
    assert [c.stat().st_mtime_ns for c in chains] == stamps
    assert again.max_rhat == summary["max_rhat"] and torch.equal(again.nuts.alpha["cell"][0], first)
