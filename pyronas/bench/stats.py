"""Statistics that rank NAS methods over search seeds (issue #26): bootstrap intervals of a mean, paired tests
of two methods run on the same seeds, the training-seed noise ratio of a reference protocol, and the seed-list
rule (a results file is complete for exactly the listed seeds, or it is reported incomplete). NumPy only.

- Bootstrap (Efron & Tibshirani 1993): the percentile interval ``[q_{a/2}, q_{1-a/2}]`` of the resampled means,
  and the bias-corrected and accelerated (BCa) interval, whose quantile levels are
  ``Phi(z0 + (z0 + z_a) / (1 - a_acc (z0 + z_a)))`` with ``z0 = Phi^-1(#{theta* < theta} / B)`` and the
  jackknife acceleration ``a_acc = sum (m - m_i)^3 / (6 (sum (m - m_i)^2)^(3/2))`` (their eq. 14.14-14.15).
- Wilcoxon signed-rank test (Wilcoxon 1945) of paired differences ``d_i = x_i - y_i``: zeros are dropped,
  ``|d|`` ranked (ties get mid-ranks), ``W+ = sum of the ranks of positive d``; two-sided p-value from the exact
  null distribution of ``W+`` (every sign pattern equally likely) for ``n <= EXACT_MAX``, else the normal
  approximation with the tie-corrected variance ``n(n+1)(2n+1)/24 - sum(t^3 - t)/48``.
- Paired permutation (sign-flip) test of the mean difference: exact over all ``2^n`` sign patterns for
  ``n <= EXACT_MAX``, else Monte Carlo with ``p = (1 + #{|T*| >= |T|}) / (1 + B)``.
- Holm's step-down correction for a family of m tests (Holm 1979): with the p-values sorted,
  ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where ``p_adj <= a`` controls the
  family-wise error rate at ``a``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

EXACT_MAX = 16  # up to 2^16 = 65,536 sign patterns: exact tests


def _norm_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _norm_ppf(p: float) -> float:
    """Inverse standard normal CDF (bisection on ``_norm_cdf``; |error| < 1e-12)."""
    if not 0.0 < p < 1.0:
        return -math.inf if p <= 0.0 else math.inf
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _norm_cdf(mid) < p else (lo, mid)
    return 0.5 * (lo + hi)


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, n_boot: int = 10_000, method: str = "bca", seed: int = 0,
    statistic: Callable[[np.ndarray], np.ndarray] = lambda a: a.mean(axis=-1),
) -> tuple[float, float]:
    """Bootstrap ``level`` interval of ``statistic`` (default the mean) of ``values``: ``percentile`` or ``bca``.

    ``statistic`` maps ``[..., n]`` to ``[...]`` (vectorised over resamples). One value gives ``(v, v)``.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D sample")
    if method not in ("percentile", "bca"):
        raise ValueError(f"unknown bootstrap method {method!r}; known: percentile, bca")
    theta = float(statistic(x))
    if len(x) == 1 or np.all(x == x[0]):
        return theta, theta
    rng = np.random.default_rng(seed)
    boot = statistic(x[rng.integers(len(x), size=(n_boot, len(x)))])
    alpha = (1.0 - level) / 2.0
    if method == "percentile":
        q = (alpha, 1.0 - alpha)
    else:
        z0 = _norm_ppf(float(np.mean(boot < theta)) + 0.5 * float(np.mean(boot == theta)))
        jack = statistic(np.stack([np.delete(x, i) for i in range(len(x))]))
        d = jack.mean() - jack
        denom = 6.0 * float((d**2).sum()) ** 1.5
        acc = float((d**3).sum()) / denom if denom > 0 else 0.0
        q = tuple(_norm_cdf(z0 + (z0 + z) / (1.0 - acc * (z0 + z))) for z in (_norm_ppf(alpha), _norm_ppf(1 - alpha)))
    lo, hi = np.quantile(boot, q)
    return float(lo), float(hi)


def _paired_differences(x: Sequence[float], y: Sequence[float] | None) -> np.ndarray:
    d = np.asarray(x, dtype=float) - (0.0 if y is None else np.asarray(y, dtype=float))
    if y is not None and len(x) != len(y):
        raise ValueError(f"paired samples differ in length: {len(x)} and {len(y)}")
    return d


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``a`` with ties given their mid-rank."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(1, len(a) + 1)
    for v in np.unique(a):
        tie = a == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def wilcoxon_signed_rank(x: Sequence[float], y: Sequence[float] | None = None) -> dict:
    """Two-sided Wilcoxon signed-rank test of ``x - y`` (or of ``x`` against 0): ``W+``, ``n`` (non-zero
    differences), the p-value and ``method`` (``exact`` for ``n <= EXACT_MAX``, else ``normal``)."""
    d = _paired_differences(x, y)
    d = d[np.abs(d) > 1e-12]
    n = len(d)
    if n == 0:
        return {"statistic": 0.0, "n": 0, "p": 1.0, "method": "exact"}
    r = _ranks(np.abs(d))
    w_plus = float(r[d > 0].sum())
    mean = n * (n + 1) / 4.0
    if n <= EXACT_MAX:
        # exact null of W+: each rank enters with a + sign w.p. 1/2; ties make half-integer ranks, so count in halves
        twice = np.rint(2 * r).astype(int)
        counts = np.zeros(int(twice.sum()) + 1)
        counts[0] = 1.0
        for t in twice:
            counts[t:] = counts[t:] + counts[: len(counts) - t].copy()
        counts /= 2.0**n
        dev = abs(2 * w_plus - 2 * mean)
        support = np.arange(len(counts)) - 2 * mean
        p = float(counts[np.abs(support) >= dev - 1e-9].sum())
        return {"statistic": w_plus, "n": n, "p": min(1.0, p), "method": "exact"}
    _, t = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((t**3 - t).sum()) / 48.0
    z = (w_plus - mean) / math.sqrt(var)
    return {"statistic": w_plus, "n": n, "p": min(1.0, 2.0 * _norm_cdf(-abs(z))), "method": "normal"}


def paired_permutation_test(
    x: Sequence[float], y: Sequence[float] | None = None, n_perm: int = 100_000, seed: int = 0
) -> dict:
    """Two-sided sign-flip permutation test of the mean of ``x - y``: under H0 each difference's sign is a fair
    coin. Exact over all ``2^n`` patterns for ``n <= EXACT_MAX``, else ``n_perm`` Monte Carlo flips."""
    d = _paired_differences(x, y)
    n = len(d)
    if n == 0:
        raise ValueError("paired_permutation_test needs at least one pair")
    t_obs = abs(d.mean())
    if n <= EXACT_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        t = np.abs(signs @ d) / n
        return {"statistic": float(d.mean()), "n": n, "p": float(np.mean(t >= t_obs - 1e-12)), "method": "exact"}
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(n_perm, n))
    hits = int(np.sum(np.abs(signs @ d) / n >= t_obs - 1e-12))
    return {"statistic": float(d.mean()), "n": n, "p": (1 + hits) / (1 + n_perm), "method": "monte-carlo"}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (see the module docstring), in the order given."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out.tolist()


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the mid-ranks of ``x`` and ``y``."""
    if len(x) != len(y) or len(x) < 3:
        raise ValueError("spearman needs two samples of the same length >= 3")
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    return float(np.corrcoef(rx, ry)[0, 1])


def noise_ratio(accuracies: Iterable[Sequence[float]], exclude_below: float | None = None) -> dict:
    """Resolution of a retraining protocol from per-cell, per-training-seed accuracies (``k`` seeds each).

    ``seed_sd``: pooled within-cell standard deviation (one training run's noise); ``mean_abs_diff``: mean
    ``|a_i - a_j|`` over the seed pairs of every cell; ``cell_sd``: standard deviation across cells of the
    seed means; ``ratio = seed_sd / cell_sd`` and ``ratio_mean = seed_sd / sqrt(k) / cell_sd`` (the noise of
    the k-seed mean a reference set stores). Cells whose mean is below ``exclude_below`` (e.g. chance-level
    cells without a path from input to output) are left out of all of them.
    """
    a = np.asarray([list(v) for v in accuracies], dtype=float)
    if a.ndim != 2 or a.shape[1] < 2 or a.shape[0] < 2:
        raise ValueError("noise_ratio needs >= 2 cells with the same number (>= 2) of training seeds each")
    if exclude_below is not None:
        a = a[a.mean(1) >= exclude_below]
    k = a.shape[1]
    seed_sd = math.sqrt(float(((a - a.mean(1, keepdims=True)) ** 2).sum()) / (a.shape[0] * (k - 1)))
    pairs = [abs(a[:, i] - a[:, j]) for i, j in itertools.combinations(range(k), 2)]
    cell_sd = float(a.mean(1).std(ddof=1))
    return {"cells": a.shape[0], "seeds": k, "seed_sd": seed_sd, "mean_abs_diff": float(np.mean(pairs)),
            "cell_sd": cell_sd, "ratio": seed_sd / cell_sd, "ratio_mean": seed_sd / math.sqrt(k) / cell_sd}


class IncompleteResults(ValueError):
    """A results file lacks listed (method, seed) runs, or holds seeds that are not on the list."""


def check_seed_list(rows: Iterable[dict], methods: Sequence[str], seeds: Sequence[int], budget: str | None = None
                    ) -> dict[str, list[int]]:
    """The seed-list rule: ``seeds`` were fixed before any run, so a row whose seed is not listed is an error
    (``IncompleteResults``: a dropped or replaced seed), and the missing listed seeds of every method are
    returned (``{method: [seed, ...]}``, empty lists when complete) for the caller to report, never to skip."""
    rows = [r for r in rows if budget is None or r.get("budget") == budget]
    listed = set(seeds)
    extra = sorted({(r["method"], r["seed"]) for r in rows if r["method"] in methods and r["seed"] not in listed})
    if extra:
        raise IncompleteResults(f"rows with seeds outside the fixed list {list(seeds)}: {extra}")
    have = {(r["method"], r["seed"]) for r in rows}
    return {m: [s for s in seeds if (m, s) not in have] for m in methods}
