"""``summary_table`` element by element against independent references.

References: a NumPy/SciPy implementation of the rank-normalised split R-hat of Vehtari et al. (2021), eqs. (3)-(4)
with the rank normalisation of their eq. (14) and the folded-draws R-hat of Section 4.2 (``max`` of bulk and
folded), the narrowest-interval HDI (Chen & Shao 1999), NumPy means / standard deviations, and ArviZ's own
``az.summary`` / ``az.ess`` / ``az.rhat`` called on plain per-element arrays (a different code path from
the Dataset one ``summary_table`` takes). The draws are seeded AR(1) logits pushed through a softmax: skewed,
autocorrelated, with the two chains disagreeing on some edges, so that rank-normalised and plain R-hat differ.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import arviz as az
import numpy as np
import pytest
import torch
from scipy import stats

from pyronas.analysis.diagnostics import HDI_PROB, _full, summary_table
from pyronas.nn.spaces import get_space

CELLS, EDGES, OPS = ["normal", "reduce"], ["e0", "e1", "e2"], ["skip", "conv", "pool", "none"]


def _draws(chains: int, draws: int, seed: int) -> np.ndarray:
    """op_probs ``[chain, draw, cell, edge, op]``: softmax of AR(1) logits (phi 0.7), chain-specific shifts."""
    rng = np.random.default_rng(seed)
    shape = (chains, len(CELLS), len(EDGES), len(OPS))
    logits = np.empty((chains, draws, *shape[1:]))
    z = rng.normal(size=shape)
    shift = rng.normal(scale=0.6, size=shape) * (rng.random(shape[1:]) < 0.5)  # some elements disagree
    for t in range(draws):
        z = 0.7 * z + np.sqrt(1 - 0.7**2) * rng.normal(size=shape)
        logits[:, t] = 1.5 * z + shift
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _idata(x: np.ndarray) -> az.InferenceData:
    return az.from_dict(
        posterior={"op_probs": x},
        coords={"cell": CELLS, "edge": EDGES, "op": OPS},
        dims={"op_probs": ["cell", "edge", "op"]},
    )


def _split_rhat(x: np.ndarray) -> float:
    """Plain split R-hat of ``[chains, draws]`` (Vehtari et al. 2021, eqs. 3-4 on half-chains)."""
    n = x.shape[1] // 2
    halves = np.concatenate([x[:, :n], x[:, -n:]])  # odd lengths drop the middle draw
    between = n * halves.mean(1).var(ddof=1)
    within = halves.var(1, ddof=1).mean()
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def _rank_normal(x: np.ndarray) -> np.ndarray:
    """``Phi^-1((r - 3/8) / (S + 1/4))`` of the pooled ranks ``r`` (Vehtari et al. 2021, eq. 14)."""
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def _rank_rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat: max of the bulk and the folded (|x - median|) versions."""
    bulk = _split_rhat(_rank_normal(x))
    folded = _split_rhat(_rank_normal(np.abs(x - np.median(x))))
    return max(bulk, folded)


def _hdi(x: np.ndarray, prob: float) -> tuple[float, float]:
    """Narrowest interval holding ``floor(prob n)`` + 1 of the sorted draws."""
    s = np.sort(x.ravel())
    k = int(np.floor(prob * s.size))
    i = int(np.argmin(s[k:] - s[: s.size - k]))
    return float(s[i]), float(s[i + k])


def _rows(table):
    for row in table.itertuples(index=False):
        idx = (CELLS.index(row.cell), EDGES.index(row.edge), OPS.index(row.op))
        yield row, idx


def test_summary_table_matches_references_element_by_element():
    x = _draws(chains=2, draws=300, seed=0)
    table = summary_table(_idata(x))
    ref = az.summary(_idata(x), var_names=["op_probs"], hdi_prob=HDI_PROB, round_to="none")
    assert len(table) == len(CELLS) * len(EDGES) * len(OPS)
    rhats = []
    for row, idx in _rows(table):
        e = x[(slice(None), slice(None), *idx)]  # [chain, draw]
        label = f"op_probs[{row.cell}, {row.edge}, {row.op}]"
        assert row.mean == pytest.approx(e.mean(), rel=1e-6)
        assert row.sd == pytest.approx(e.std(ddof=1), rel=1e-6)
        lo, hi = _hdi(e, HDI_PROB)
        assert (row[5], row[6]) == pytest.approx((lo, hi), rel=1e-6)
        assert row.chain_spread == pytest.approx(np.ptp(e.mean(1)), rel=1e-6)
        assert row.r_hat == pytest.approx(_rank_rhat(e), rel=1e-6)
        assert row.r_hat == pytest.approx(az.rhat(e, method="rank"), rel=1e-9)
        assert row.ess_bulk == pytest.approx(az.ess(e, method="bulk"), rel=1e-9)
        assert row.ess_tail == pytest.approx(az.ess(e, method="tail"), rel=1e-9)
        for col in ("mean", "sd", "ess_bulk", "ess_tail", "r_hat"):
            assert getattr(row, col) == pytest.approx(ref.loc[label, col], rel=1e-6), (label, col)
        rhats.append(row.r_hat)
    # the data exercise the check: some elements reproducible, some not, and ranks matter
    assert min(rhats) < 1.01 < max(rhats)
    plain = [_split_rhat(x[(slice(None), slice(None), *idx)]) for _, idx in _rows(table)]
    assert np.max(np.abs(np.array(plain) - np.array(rhats))) > 1e-3


def test_single_run_r_hat_is_the_rank_r_hat_of_its_two_halves():
    x = _draws(chains=1, draws=400, seed=1)
    x[0, 200:] = _draws(chains=1, draws=200, seed=2)[0]  # the second half drifts to another posterior
    table = summary_table(_idata(x))
    rhats = []
    for row, idx in _rows(table):
        e = x[(0, slice(None), *idx)]
        halves = np.stack([e[:200], e[200:]])
        assert row.r_hat == pytest.approx(_rank_rhat(halves), rel=1e-6)
        assert row.r_hat == pytest.approx(az.rhat(halves, method="rank"), rel=1e-9)
        assert row.ess_bulk == pytest.approx(az.ess(e[None], method="bulk"), rel=1e-9)  # ESS of the run itself
        rhats.append(row.r_hat)
    assert max(rhats) > 1.05  # the drift is seen


def test_point_mass_elements_get_closed_form_r_hat_and_no_ess():
    x = _draws(chains=2, draws=50, seed=3)
    x[:, :, 0, 0] = 0.25  # both chains at the same point mass: R-hat 1
    x[0, :, 0, 1], x[1, :, 0, 1] = 0.2, 0.3  # point masses that differ: R-hat +inf
    table = summary_table(_idata(x)).set_index(["cell", "edge"])
    same, differ = table.loc[("normal", "e0")], table.loc[("normal", "e1")]
    assert (same["r_hat"] == 1.0).all() and (differ["r_hat"] == np.inf).all()
    assert same["ess_bulk"].isna().all() and differ["ess_tail"].isna().all()
    assert np.isfinite(table.loc[("reduce", "e0"), "r_hat"]).all()


def test_single_run_of_eight_draws_is_already_split():
    """The smallest run that is split in halves (8 draws: two halves of 4, ArviZ's minimum chain length)."""
    x = _draws(chains=1, draws=8, seed=4)
    table = summary_table(_idata(x))
    for row, idx in _rows(table):
        e = x[(0, slice(None), *idx)]
        assert row.r_hat == pytest.approx(az.rhat(np.stack([e[:4], e[4:]]), method="rank"), rel=1e-9)


def test_pruned_candidates_scatter_back_to_the_full_op_set():
    """``_full``: per edge, the value of the k-th kept candidate lands in the column of its op name in the
    space; absent ops get ``fill``; a full-width array is returned as is; a pruned width without a
    supernet is refused naming the kind and both widths."""
    space = get_space("nb201")
    kept = [["skip_connect", "nor_conv_3x3"], ["none", "avg_pool_3x3"], ["nor_conv_1x1", "skip_connect"],
            ["nor_conv_3x3", "nor_conv_1x1"], ["avg_pool_3x3", "none"], ["skip_connect", "avg_pool_3x3"]]
    supernet = SimpleNamespace(candidate_ops=lambda kind: {"cell": kept}[kind])
    values = torch.rand(3, 6, 2)
    out = _full(values, space, "cell", supernet, float("nan"))
    assert out.shape == (3, 6, space.num_ops)
    for e, names in enumerate(kept):
        for o, op in enumerate(space.ops):
            col = out[:, e, o]
            if op in names:
                assert torch.equal(col, values[:, e, names.index(op)])
            else:
                assert all(math.isnan(v) for v in col.tolist())
    assert _full(values, space, "cell", supernet, 0.0)[0, 0, space.ops.index("none")] == 0.0
    full = torch.rand(3, 6, space.num_ops)
    assert _full(full, space, "cell", None, 0.0) is full
    with pytest.raises(ValueError, match="cell: 2 ops per edge but the space has 5; pass supernet"):
        _full(values, space, "cell", None, 0.0)


def test_hdi_at_another_probability_and_float_ess_columns():
    x = _draws(chains=2, draws=200, seed=5)
    x[:, :, 0, 0] = 0.25  # a point mass among them: its ESS is NaN, the column stays float
    table = summary_table(_idata(x), hdi_prob=0.5)
    assert {"hdi_25%", "hdi_75%"} <= set(table.columns)
    for row, idx in _rows(table):
        e = x[(slice(None), slice(None), *idx)]
        assert (row[5], row[6]) == pytest.approx(_hdi(e, 0.5), rel=1e-6)
    assert table["ess_bulk"].dtype == np.float64 and table["ess_tail"].dtype == np.float64


@pytest.mark.parametrize("chains", [1, 2])
def test_sd_of_a_single_draw_per_chain(chains):
    """One draw in all: sd 0 (not NaN); one draw on each of two chains: the sample sd of the two."""
    x = _draws(chains=chains, draws=1, seed=6)
    table = summary_table(_idata(x))
    for row, idx in _rows(table):
        e = x[(slice(None), slice(None), *idx)]
        assert row.sd == pytest.approx(0.0 if e.size == 1 else e.std(ddof=1), abs=1e-12)
