"""Statistics of the method comparison (pyronas.bench.stats): bootstrap intervals, paired tests, the protocol's
noise ratio and the seed-list rule."""

import itertools
import math

import numpy as np
import pytest

from pyronas.bench import stats


def test_permutation_test_exact_by_hand():
    # d = (1, 2, 3): sums over the 8 sign patterns are ±6, ±4, ±2, 0, 0; |sum| >= 6 in 2 of 8
    r = stats.paired_permutation_test([2, 4, 6], [1, 2, 3])
    assert r["method"] == "exact" and r["p"] == pytest.approx(0.25) and r["statistic"] == pytest.approx(2.0)
    assert stats.paired_permutation_test([1, -1, 2, -2])["p"] == pytest.approx(1.0)


def test_permutation_test_monte_carlo_matches_exact(monkeypatch):
    rng = np.random.default_rng(0)
    d = rng.normal(0.4, 1.0, 16)
    exact = stats.paired_permutation_test(d)["p"]
    monkeypatch.setattr(stats, "EXACT_MAX", 10)  # the Monte Carlo branch on the same 16 differences
    mc = stats.paired_permutation_test(d, n_perm=40_000, seed=1)
    assert mc["method"] == "monte-carlo"
    assert mc["p"] == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 40_000) + 1e-4)


def test_wilcoxon_exact_by_brute_force_with_ties():
    d = np.array([1.0, -2.0, 2.0, 3.0, 0.0, 5.0, -1.0, 4.0])  # a zero (dropped) and two tied pairs
    nz = d[d != 0]
    ranks = stats._ranks(np.abs(nz))
    assert list(ranks) == [1.5, 3.5, 3.5, 5.0, 7.0, 1.5, 6.0]
    w = ranks[nz > 0].sum()
    mean = len(nz) * (len(nz) + 1) / 4
    null = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product((0, 1), repeat=7)]
    p = np.mean([abs(v - mean) >= abs(w - mean) - 1e-9 for v in null])
    r = stats.wilcoxon_signed_rank(d)
    assert r["n"] == 7 and r["statistic"] == pytest.approx(w) and r["p"] == pytest.approx(p)


@pytest.mark.requires("sklearn")  # scipy comes with scikit-learn
@pytest.mark.parametrize("n", [6, 12, 16, 25])
def test_wilcoxon_against_scipy(n):
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(n)
    x, y = rng.normal(0.5, 1.0, n), rng.normal(0.0, 1.0, n)
    ours = stats.wilcoxon_signed_rank(x, y)
    theirs = wilcoxon(x, y, method="exact" if n <= stats.EXACT_MAX else "approx", correction=False)
    assert ours["p"] == pytest.approx(theirs.pvalue, rel=1e-9)
    assert min(ours["statistic"], n * (n + 1) / 2 - ours["statistic"]) == pytest.approx(theirs.statistic)


def test_bootstrap_interval_covers_the_mean_about_95_percent():
    # Monte Carlo coverage of the true mean (0) by 300 intervals from n = 20 normal samples
    rng = np.random.default_rng(0)
    for method in ("percentile", "bca"):
        hits = sum(lo <= 0.0 <= hi for lo, hi in (stats.bootstrap_ci(rng.normal(0, 1, 20), n_boot=2000,
                                                                        method=method, seed=i) for i in range(300)))
        assert 0.88 <= hits / 300 <= 0.99, (method, hits)


@pytest.mark.requires("sklearn")
def test_bca_matches_scipy_on_a_skewed_sample():
    from scipy.stats import bootstrap

    v = np.random.default_rng(3).exponential(1.0, 25)
    ours = stats.bootstrap_ci(v, n_boot=40_000, method="bca", seed=0)
    theirs = bootstrap((v,), np.mean, method="BCa", n_resamples=40_000, random_state=1).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.02)
    lo_p, hi_p = stats.bootstrap_ci(v, n_boot=40_000, method="percentile", seed=0)
    assert ours[0] > lo_p and ours[1] > hi_p  # right skew moves BCa up against the percentile interval
    assert stats.bootstrap_ci([0.7]) == (0.7, 0.7)
    with pytest.raises(ValueError, match="unknown bootstrap method"):
        stats.bootstrap_ci(v, method="t")


def test_noise_ratio_on_a_known_design():
    # 4 cells at 70, 72, 74, 76 (cell sd 2.58) with seed offsets -1, 0, +1 (pooled seed sd 1)
    acc = [[c - 1, c, c + 1] for c in (70, 72, 74, 76)] + [[10, 10, 11]]
    r = stats.noise_ratio(acc, exclude_below=20)
    assert r["cells"] == 4 and r["seeds"] == 3
    assert r["seed_sd"] == pytest.approx(1.0)
    assert r["mean_abs_diff"] == pytest.approx(4 / 3)
    assert r["cell_sd"] == pytest.approx(np.std([70, 72, 74, 76], ddof=1))
    assert r["ratio_mean"] == pytest.approx(r["ratio"] / math.sqrt(3))
    assert stats.noise_ratio(acc)["cells"] == 5  # the chance-level cell counts without exclude_below


def test_seed_list_rule_reports_missing_and_refuses_replaced_seeds():
    rows = [{"method": m, "seed": s, "budget": "short"} for m in ("darts", "random") for s in (1000, 1001, 1002)]
    rows.remove({"method": "darts", "seed": 1001, "budget": "short"})
    missing = stats.check_seed_list(rows, ["darts", "random"], [1000, 1001, 1002], budget="short")
    assert missing == {"darts": [1001], "random": []}
    with pytest.raises(stats.IncompleteResults, match=r"outside the fixed list.*\('darts', 7\)"):
        stats.check_seed_list(rows + [{"method": "darts", "seed": 7, "budget": "short"}], ["darts", "random"],
                              [1000, 1001, 1002], budget="short")
    # another budget's rows neither complete nor break this one
    assert stats.check_seed_list(rows, ["darts"], [1000, 1001, 1002], budget="paper") == {
        "darts": [1000, 1001, 1002]}


@pytest.mark.requires("sklearn")
def test_spearman_against_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=30), 1)
    y = x + rng.normal(size=30)
    assert stats.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert stats.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)


def test_holm_step_down_adjustment():
    # Holm (1979): sorted p (0.01, 0.02, 0.03, 0.5) -> 4 * 0.01, max(3 * 0.02, .04), max(2 * 0.03, .06), 0.5
    assert stats.holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert stats.holm([0.4, 0.9]) == pytest.approx([0.8, 0.9])  # monotone, capped at 1
    assert stats.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    rng = np.random.default_rng(0)  # family-wise error under the global null: P(any p_adj <= .05) <= .05
    hits = np.mean([min(stats.holm(rng.uniform(size=10))) <= 0.05 for _ in range(4000)])
    assert hits <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)
