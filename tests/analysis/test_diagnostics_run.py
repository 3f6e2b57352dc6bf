"""Diagnostics, figures and Hessian tracking on short real searches (sklearn digits, NB201 cell)."""

from __future__ import annotations

import math

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from pyronas.analysis import plots as plots
from pyronas.analysis.diagnostics import diagnose, load_search, read_netcdf
from pyronas.analysis.hessian import arch_hessian_eig
from pyronas.cli import main
from pyronas.config import load_config
from pyronas.infer import Search


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert min(img.shape[:2]) > 50 and img[..., :3].std() > 0.01  # a real, non-blank picture


def _tiny_search(out_dir, seed: int) -> Search:
    cfg = load_config(
        None,
        name=f"tiny{seed}",
        seed=seed,
        space="nb201",
        supernet={"C": 4, "layers": 1},
        data={"name": "digits", "portion": 0.5, "batch_size": 32, "eval_batch_size": 64},
        optim={"arch": {"lr": 0.05}},
        search={
            "epochs": 2,
            "steps_per_epoch": 3,
            "eval_batches": 1,
            "callbacks": [{"name": "hessian", "params": {"every": 1}}],
        },
    )
    search = Search(cfg, out_dir)
    search.run(progress_bar=False)
    return search


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return [root / "seed0", root / "seed1"], [_tiny_search(root / f"seed{s}", s) for s in (0, 1)]


@pytest.mark.requires("sklearn")
def test_hessian_tracked_per_epoch_and_reproducible_from_the_checkpoint(runs):
    (run0, _), (search0, _) = runs
    eigs = [m.get("hessian_eig") for m in search0.metrics]
    assert len(eigs) == 2 and all(isinstance(v, float) and math.isfinite(v) for v in eigs)
    assert plots.hessian_curve(plots.load_metrics(run0))[1].tolist() == eigs
    again = arch_hessian_eig(load_search(run0).state)  # same state, same fixed batch, same start vector
    assert again == pytest.approx(eigs[-1], rel=1e-4)


@pytest.mark.requires("sklearn")
def test_every_plot_from_a_real_run(runs, tmp_path):
    (run0, _), _ = runs
    search = load_search(run0)
    files = plots.plot_run(run0, search.space, tmp_path, guide=search.guide)
    assert set(files) == {"anytime_cell", "op_probs", "cell_cell", "skip_connect", "hessian"}
    for path in files.values():
        assert_png(path)


@pytest.mark.requires("sklearn")
def test_runs_as_chains(runs, tmp_path):
    (run0, run1), (search0, _) = runs
    same = diagnose([run0, run0], num_samples=50, out_dir=tmp_path)
    assert same.verdict.startswith("REPRODUCIBLE") and same.unstable.empty
    # point-mass guide: every draw is softmax(alpha) of the trained guide
    probs = search0.op_probs()["cell"].numpy()
    means = same.table.pivot(index="edge", columns="op", values="mean").loc[search0.space.edge_labels()]
    np.testing.assert_allclose(means[list(search0.space.ops)].to_numpy(), probs, rtol=1e-5)
    back = read_netcdf(tmp_path / "posterior.nc")
    assert back.posterior["alpha"].shape == (2, 50, 1, 6, 5)
    differ = diagnose([run0, run1], num_samples=50)  # different seeds -> different point estimates
    assert differ.verdict.startswith("NOT REPRODUCIBLE") and len(differ.unstable) == 6


@pytest.mark.requires("sklearn")
def test_diagnose_a_checkpoint_file(runs):
    (run0, _), (search0, _) = runs
    d = diagnose([run0 / "checkpoint.pt"], num_samples=20)
    assert d.idata.posterior["op_probs"].shape == (1, 20, 1, 6, 5)
    torch.testing.assert_close(
        torch.as_tensor(d.idata.posterior["op_probs"].values[0, 0, 0]), search0.op_probs()["cell"], rtol=1e-5, atol=0
    )


@pytest.mark.requires("sklearn")
def test_cli_diagnose(runs, tmp_path, capsys):
    (run0, run1), _ = runs
    assert main(["--quiet", "diagnose", str(run0), str(run1), "--samples", "30", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "verdict: NOT REPRODUCIBLE" in out and "edges with R-hat > 1.01" in out
    assert (tmp_path / "posterior.nc").stat().st_size > 0 and (tmp_path / "summary.csv").stat().st_size > 0
    for i, run in enumerate((run0, run1)):
        figs = list((tmp_path / f"run{i}_{run.name}").glob("*.png"))
        assert len(figs) == 5
        for f in figs:
            assert_png(f)
