"""``BayesOpt.propose`` against a brute-force maximisation of the acquisition over every NB201 cell.

After ``n_init`` random evaluations of the synthetic NB201 objective, the GP hyperparameters the loop fitted are
recorded and everything else is recomputed here in float64 NumPy from the closed forms: the one-hot encodings,
the standardised observations, the GP posterior (Rasmussen & Williams 2006, eqs. 2.25-2.26) under a Matern-5/2
or squared-exponential ARD kernel, the noisy incumbent, EI / PI / GP-UCB (Jones et al. 1998; Kushner 1964;
Srinivas et al. 2010), their average over hyperparameter samples (Snoek et al. 2012) and, for the second point
of a batch, their average over fantasised outcomes of the first point drawn from the loop's generator state.
The loop's picks must be argmaxes of these reference acquisitions over the unevaluated cells.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from pyronas.bo.acquisition import expected_improvement, probability_of_improvement, ucb_kappa, xi_schedule
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.targets import SyntheticObjective
from pyronas.nn.spaces import Genotype, get_space

NB201 = get_space("nb201")
JITTER = 1e-6  # the GP's diagonal jitter (pyronas.bo.gp.make_gpr)


def _onehot_rows(genotypes) -> np.ndarray:
    """One-hot ``[N, edges * ops]`` of NB201 genotypes, edges in the space's order."""
    edge = {e: n for n, e in enumerate(NB201.edges)}
    out = np.zeros((len(genotypes), NB201.num_edges, NB201.num_ops))
    for r, gt in enumerate(genotypes):
        for op, i, j in gt.cells["cell"]:
            out[r, edge[(i, j)], NB201.ops.index(op)] = 1.0
    return out.reshape(len(genotypes), -1)


def _all_cells() -> np.ndarray:
    """Every NB201 cell as a one-hot row, in the lexicographic order of the per-edge op indices."""
    idx = np.array(list(itertools.product(range(NB201.num_ops), repeat=NB201.num_edges)))
    return np.eye(NB201.num_ops)[idx].reshape(len(idx), -1)


def _kernel(A: np.ndarray, B: np.ndarray, h, kind: str) -> np.ndarray:
    ls = h.lengthscale.double().numpy()
    r2 = ((A[:, None, :] / ls - B[None, :, :] / ls) ** 2).sum(-1)
    if kind == "se":
        return float(h.variance) * np.exp(-0.5 * r2)
    r = np.sqrt(5.0 * r2)
    return float(h.variance) * (1.0 + r + 5.0 * r2 / 3.0) * np.exp(-r)


def _posterior(X, y, h, kind, Xs, noisy=False):
    """Posterior mean and variance of f at ``Xs`` given noisy ``y`` at ``X`` (constant mean m)."""
    m = float(h.mean)
    A = _kernel(X, X, h, kind) + (float(h.noise) + JITTER) * np.eye(len(X))
    Ks = _kernel(X, Xs, h, kind)
    mu = m + Ks.T @ np.linalg.solve(A, y - m)
    var = float(h.variance) - np.einsum("ij,ij->j", Ks, np.linalg.solve(A, Ks))
    return mu, np.maximum(var, 0.0) + (float(h.noise) if noisy else 0.0)


def _acquisition(kind, X, y, h, gp_kernel, Xs, xi, kappa):
    mu, var = _posterior(X, y, h, gp_kernel, Xs)
    sd = np.sqrt(var)
    if kind == "ucb":
        return mu + kappa * sd
    f_best = _posterior(X, y, h, gp_kernel, X)[0].max()  # noisy incumbent
    z = (mu - f_best - xi) / sd
    if kind == "pi":
        return stats.norm.cdf(z)
    return (mu - f_best - xi) * stats.norm.cdf(z) + sd * stats.norm.pdf(z)


def _reference(kind, X, y, hypers, cfg, Xs, pending=None, generator=None):
    """Acquisition averaged over hyperparameter samples and (with ``pending``) fantasised outcomes there."""
    t, d = len(X) + 1, X.shape[1]
    kappa = math.sqrt(cfg.ucb_nu * 2 * math.log(t ** (d / 2 + 2) * math.pi**2 / (3 * cfg.ucb_delta)))
    total = []
    for h in hypers:
        if pending is None:
            total.append(_acquisition(kind, X, y, h, cfg.kernel, Xs, cfg.xi, kappa))
            continue
        mu_p, var_p = _posterior(X, y, h, cfg.kernel, pending[None], noisy=True)
        eps = torch.randn(cfg.n_fantasies, 1, generator=generator).double().numpy()[:, 0]
        for y_p in mu_p[0] + eps * math.sqrt(var_p[0] + JITTER):
            Xf, yf = np.vstack([X, pending]), np.append(y, y_p)
            total.append(_acquisition(kind, Xf, yf, h, cfg.kernel, Xs, cfg.xi, kappa))
    return np.mean(total, 0)


def _is_argmax(a: np.ndarray, i: int) -> bool:
    """``a[i]`` is a maximum of ``a`` up to float32 round-off of the loop (relative to a's range)."""
    return a[i] >= a.max() - 1e-4 * (a.max() - a.min())


CASES = {
    "ei": {"acquisition": "ei"},
    "pi": {"acquisition": "pi", "xi": 0.05},
    "ucb-se": {"acquisition": "ucb", "ucb_nu": 0.3, "kernel": "se"},
    "ei-nuts": {"acquisition": "ei", "hypers": "nuts", "nuts_samples": 2, "nuts_warmup": 4, "nuts_thin": 1,
                "nuts_max_tree_depth": 2},
}


@pytest.mark.parametrize("case", list(CASES))
def test_propose_is_the_brute_force_argmax_and_second_pick_uses_fantasies(case, one_thread):
    cfg = BOConfig(budget=20, n_init=6, batch_size=2, n_fantasies=4, map_steps=30, **CASES[case])
    bo = BayesOpt(NB201, SyntheticObjective(NB201, seed=3), cfg, seed=1)
    while len(bo.evaluations) < cfg.n_init:
        bo.step()
    fitted = {}
    fit = bo.fit

    def recording_fit():
        out = fit()
        fitted["hypers"] = out[3]
        return out

    bo.fit = recording_fit
    seed_state = bo._iteration_seed()  # propose() seeds its generator with this
    picks = bo.propose()
    hypers = fitted["hypers"]
    assert len(picks) == 2 and len(hypers) == (2 if cfg.hypers == "nuts" else 1)

    X = _onehot_rows([Genotype.from_dict(ev.genotype) for ev in bo.evaluations])
    v = np.array([ev.value for ev in bo.evaluations])
    y = (v - v.mean()) / v.std(ddof=1)
    cells = _all_cells()
    evaluated = (cells[:, None, :] == X[None]).all(-1).any(1)
    assert evaluated.sum() == cfg.n_init
    free = np.flatnonzero(~evaluated)
    Xs = cells[free]
    row = {tuple(r): n for n, r in enumerate(Xs.astype(int).tolist())}
    first, second = (row[tuple(r)] for r in _onehot_rows(picks).astype(int).tolist())

    kind = cfg.acquisition
    a1 = _reference(kind, X, y, hypers, cfg, Xs)
    assert _is_argmax(a1, first), (a1[first], a1.max(), a1.min())
    assert not _is_argmax(-a1, first)  # not a flat acquisition

    g = torch.Generator().manual_seed(seed_state)
    a2 = _reference(kind, X, y, hypers, cfg, Xs, pending=Xs[first], generator=g)
    a2[first] = -np.inf
    finite = a2[np.isfinite(a2)]
    assert a2[second] >= finite.max() - 1e-4 * (finite.max() - finite.min()), (a2[second], finite.max())
    if kind == "ei":  # the fantasies matter here: EI's runner-up is not the argmax given the first pick's outcome
        a1[first] = -np.inf
        runner_up = int(np.argmax(a1))
        assert a2[runner_up] < finite.max() - 1e-4 * (finite.max() - finite.min())


def test_acquisition_defaults_and_edges():
    """PI and EI without a trade-off by default; GP-UCB's kappa_t with its defaults (delta 0.1, nu 1) from t = 1 on,
    delta outside (0, 1) and t < 1 refused; xi constant by default, Kushner's linear decrease otherwise."""
    mu, sigma = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64), torch.tensor([0.5, 1.5, 0.2], dtype=torch.float64)
    z = (mu - 0.1) / sigma
    normal = torch.distributions.Normal(0.0, 1.0)
    assert torch.allclose(probability_of_improvement(mu, sigma, 0.1), normal.cdf(z), rtol=1e-12)
    ei = (mu - 0.1) * normal.cdf(z) + sigma * normal.log_prob(z).exp()
    assert torch.allclose(expected_improvement(mu, sigma, 0.1), ei, rtol=1e-12)
    # no posterior variance: PI is the indicator of a strict improvement, EI the improvement itself
    mu0, zero = torch.tensor([0.5, 0.9, 1.7, 0.2], dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    assert probability_of_improvement(mu0, zero, 0.5).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert torch.allclose(expected_improvement(mu0, zero, 0.5), torch.tensor([0.0, 0.4, 1.2, 0.0]).double())
    d = 30

    def kappa(t, delta, nu):
        return math.sqrt(nu * 2 * math.log(t ** (d / 2 + 2) * math.pi**2 / (3 * delta)))

    assert ucb_kappa(7, d) == pytest.approx(kappa(7, 0.1, 1.0), rel=1e-12)
    assert ucb_kappa(1, d, 0.5, 0.3) == pytest.approx(kappa(1, 0.5, 0.3), rel=1e-12)
    for t, delta in [(0, 0.1), (5, 0.0), (5, 1.0), (5, 1.5), (5, -0.2)]:
        with pytest.raises(ValueError, match=r"t >= 1 and 0 < delta < 1"):
            ucb_kappa(t, d, delta)
    assert xi_schedule(0.2, 7, 10) == 0.2
    assert xi_schedule(0.2, 6, 11, "decreasing") == pytest.approx(0.2 * (1 - 5 / 11), rel=1e-12)
    assert xi_schedule(0.2, 1, 1, "decreasing") == 0.2 and xi_schedule(0.2, 2, 1, "decreasing") == 0.0
    with pytest.raises(ValueError, match="unknown xi schedule"):
        xi_schedule(0.2, 1, 10, "cosine")


def test_integrated_acquisition_averages_ei_over_hypers_and_fantasies_with_its_defaults(one_thread):
    """``integrated_acquisition`` left at its defaults (EI, 10 fantasies) with the squared-exponential kernel
    equals the NumPy reference: EI averaged over two hyperparameter samples and, for each, 10 outcomes fantasised
    at a pending cell (drawn from the same generator state); an empty pending set is no pending set."""
    from types import SimpleNamespace

    from pyronas.bo.acquisition import integrated_acquisition
    from pyronas.bo.gp import GPHypers

    rng = np.random.default_rng(0)
    cells = _all_cells()[rng.choice(NB201.num_ops**NB201.num_edges, 60, replace=False)]
    X, y, Xc, pending = cells[:8], rng.standard_normal(8), cells[8:59], cells[59]
    d = X.shape[1]
    hypers = [GPHypers(torch.tensor(m, dtype=torch.float64), torch.tensor(v, dtype=torch.float64),
                       torch.full((d,), ls, dtype=torch.float64), torch.tensor(nu, dtype=torch.float64))
              for m, v, ls, nu in [(0.1, 1.3, 1.5, 0.05), (-0.2, 0.8, 2.5, 0.2)]]
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    got = integrated_acquisition(t(X), t(y), hypers, t(Xc), kernel="se", pending=t(pending[None]),
                                 generator=torch.Generator().manual_seed(5))
    cfg = SimpleNamespace(kernel="se", n_fantasies=10, xi=0.0, ucb_nu=1.0, ucb_delta=0.1)
    ref = _reference("ei", X, y, hypers, cfg, Xc, pending=pending, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-4, atol=1e-7)

    plain = integrated_acquisition(t(X), t(y), hypers, t(Xc), kernel="se")
    np.testing.assert_allclose(plain.double().numpy(), _reference("ei", X, y, hypers, cfg, Xc), rtol=1e-4, atol=1e-7)
    empty = integrated_acquisition(t(X), t(y), hypers, t(Xc), kernel="se", pending=t(np.zeros((0, d))))
    torch.testing.assert_close(empty, plain)
