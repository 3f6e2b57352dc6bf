"""The exponentiated Hamming kernel of one-hot cells and the exhaustive acquisition over all NAS-Bench-201 cells."""

import math

import numpy as np
import pyro
import pyro.contrib.gp as gp
import pytest
import torch

from pyronas.bo.candidates import encode_op_indices, enumerate_op_indices, row_of
from pyronas.bo.gp import GPHypers, fit_map
from pyronas.bo.kernels import KERNELS, lengthscale_dim
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.targets import SyntheticObjective
from pyronas.errors import ConfigError
from pyronas.nn.spaces import Genotype, get_space

NB201 = get_space("nb201")


def _cells(n, seed):
    idx = torch.randint(5, (n, 6), generator=torch.Generator().manual_seed(seed))
    return idx, encode_op_indices(NB201, idx)


@pyro.settings.context(module_local_params=True)  # two kernels' parameters apart from Pyro's param store
def test_hamming_kernel_equals_brute_force_and_tied_se():
    ia, A = _cells(7, 0)
    ib, B = _cells(4, 1)
    ls = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.8, 3.0])
    k = KERNELS["hamming"](input_dim=30, variance=torch.tensor(1.7), lengthscale=ls.clone())
    brute = torch.tensor([[1.7 * math.exp(-sum(float(a[e] != b[e]) / float(ls[e]) ** 2 for e in range(6)))
                           for b in ib] for a in ia])
    assert torch.allclose(k(A, B), brute, atol=1e-6)
    assert torch.allclose(k(A).diagonal(), torch.full((7,), 1.7))
    assert torch.allclose(k(A, diag=True), torch.full((7,), 1.7))
    se = gp.kernels.RBF(input_dim=30, variance=torch.tensor(1.7), lengthscale=ls.repeat_interleave(5))
    assert torch.allclose(k(A, B), se(A, B), atol=1e-6)  # SE of the one-hot vectors, length scales tied per edge
    assert lengthscale_dim("hamming", A) == 6 and lengthscale_dim("matern52", A) == 30
    with pytest.raises(ValueError, match="are not 4 one-hot edges"):
        KERNELS["hamming"](input_dim=30, lengthscale=torch.ones(4))(A)


@pyro.settings.context(module_local_params=True)
def test_hamming_additive_kernel_equals_its_definition_and_is_positive_definite():
    """K_HA = theta_0 / 2 [prod_e k_e + mean_e k_e], k_e = exp(-[a_e != b_e] / theta_e^2), by brute force."""
    ia, A = _cells(7, 0)
    ib, B = _cells(4, 1)
    ls = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.8, 3.0])
    k = KERNELS["hamming_additive"](input_dim=30, variance=torch.tensor(1.7), lengthscale=ls.clone())

    def k_e(a, b, e):
        return math.exp(-float(a[e] != b[e]) / float(ls[e]) ** 2)

    brute = torch.tensor([[1.7 / 2 * (math.prod(k_e(a, b, e) for e in range(6)) + sum(k_e(a, b, e) for e in range(6))
                                      / 6) for b in ib] for a in ia])
    assert torch.allclose(k(A, B), brute, atol=1e-6)
    assert torch.allclose(k(A, diag=True), torch.full((7,), 1.7)) and torch.allclose(k(A).diagonal(), k(A, diag=True))
    assert torch.linalg.eigvalsh(k(A).double()).min() > 0
    assert lengthscale_dim("hamming_additive", A) == 6
    with pytest.raises(ConfigError, match="bo.kernel: hamming_additive counts edges .* needs encoding: onehot"):
        BOConfig(kernel="hamming_additive", encoding="paths")


def test_map_fit_has_one_lengthscale_per_edge_and_finds_the_relevant_edge():
    idx, X = _cells(40, 2)
    noise = 0.01 * torch.randn(40, generator=torch.Generator().manual_seed(0))
    y = (idx[:, 2] == 3).to(torch.get_default_dtype()) + noise
    y = (y - y.mean()) / y.std()
    h, loss = fit_map(X, y, kernel="hamming", steps=50, optimizer="lbfgs")
    assert h.lengthscale.shape == (6,) and math.isfinite(loss)
    assert int(h.lengthscale.argmin()) == 2  # ARD: only edge 2 matters


def _gp_ei_reference(X, y, h: GPHypers, Xc):
    """NumPy GP posterior (Hamming kernel by its definition) and closed-form EI at the noisy incumbent."""
    X, y, Xc = (t.double().numpy() for t in (X, y, Xc))
    w = np.repeat(h.lengthscale.double().numpy() ** -2, 5)
    var, m, noise = float(h.variance), float(h.mean), float(h.noise)

    def k(a, b):  # mismatching edges weighted: sum_e w_e - a diag(w) b (one-hot)
        return var * np.exp(-(w.sum() / 5 - (a * w) @ b.T))

    K = k(X, X) + (noise + 1e-6) * np.eye(len(X))
    Ks = k(X, Xc)
    alpha = np.linalg.solve(K, y - m)
    mu = m + Ks.T @ alpha
    sd = np.sqrt(np.clip(var - np.einsum("ij,ij->j", Ks, np.linalg.solve(K, Ks)), 0, None))
    f_best = (m + k(X, X).T @ alpha).max()
    from math import erf

    z = (mu - f_best) / sd
    cdf = 0.5 * (1 + np.vectorize(erf)(z / math.sqrt(2)))
    return (mu - f_best) * cdf + sd * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


def test_exhaustive_ei_proposes_the_argmax_over_all_unevaluated_cells():
    obj = SyntheticObjective(NB201, seed=0)
    bo = BayesOpt(NB201, obj, BOConfig(budget=12, n_init=8, kernel="hamming", map_steps=30, map_restart=False,
                                              refit_every=100), seed=0)
    while len(bo.evaluations) < 8:
        bo.step()
    (proposal,) = bo.propose()
    X, y, _, (h,) = bo.fit()  # refit_every=100: the MAP hyperparameters the proposal used
    all_idx = enumerate_op_indices(NB201)
    ei = _gp_ei_reference(X, y, h, encode_op_indices(NB201, all_idx))
    seen = [row_of(NB201, Genotype.from_dict(ev.genotype)) for ev in bo.evaluations]
    assert len(ei) == 15_625
    ei[seen] = -np.inf
    row = row_of(NB201, proposal)
    assert row not in seen
    assert ei[row] == pytest.approx(ei.max(), rel=1e-3, abs=1e-8)  # the exhaustive argmax (up to fp ties)


def test_map_fit_survives_a_probe_that_underflows_a_hyperparameter(monkeypatch):
    """Seen on NB201 with -log(100 - acc) targets: an L-BFGS probe drove the noise to 0.0, outside the LogNormal
    prior's support, and Pyro's validation raised ValueError; the fit keeps its point (BayesOpt then compares
    losses / falls back). Any other ValueError is a bug and propagates."""
    import pyronas.bo.gp as gpmod

    _, X = _cells(12, 3)
    y = torch.linspace(-1, 1, 12)

    def probe_failure(*a, **k):
        raise ValueError("Error while computing log_prob at site 'noise':\nExpected value argument ... to be "
                         "within the support (GreaterThan(lower_bound=0.0)) of the distribution LogNormal()")

    monkeypatch.setattr(gpmod.gp.util, "train", probe_failure)
    h, loss = fit_map(X, y, kernel="hamming", steps=5, optimizer="lbfgs")
    assert h.lengthscale.shape == (6,) and math.isfinite(loss)

    def bug(*a, **k):
        raise ValueError("shape mismatch")

    monkeypatch.setattr(gpmod.gp.util, "train", bug)
    with pytest.raises(ValueError, match="shape mismatch"):
        fit_map(X, y, kernel="hamming", steps=5, optimizer="lbfgs")
