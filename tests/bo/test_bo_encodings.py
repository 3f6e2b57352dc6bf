"""Path encodings of NAS-Bench-201 cells (BANANAS), their refusals, and a BO run on them."""

import pytest
import torch

from pyronas.bo.candidates import encode_op_indices, enumerate_op_indices
from pyronas.bo.config import BOConfig
from pyronas.bo.encodings import encoder, path_features, routes
from pyronas.bo.loop import BayesOpt
from pyronas.bo.targets import SyntheticObjective
from pyronas.errors import ConfigError
from pyronas.nn.spaces import NB201_OPS, get_space

NB201 = get_space("nb201")  # edges (0,1) (0,2) (1,2) (0,3) (1,3) (2,3)
NONE, SKIP, C1, C3, POOL = range(5)


def _encode(encoding, *cells):
    idx = torch.tensor(cells, dtype=torch.long)
    names, _ = path_features(NB201, drop_skip=encoding == "paths_noskip")
    X = encoder(NB201, encoding)(encode_op_indices(NB201, idx))
    return [dict(zip(names, (float(v) for v in row), strict=True)) for row in X]


def test_routes_of_the_nb201_cell():
    # 0->3 direct, 0->1->3, 0->2->3, 0->1->2->3 as edge indices
    assert routes(NB201) == [(3,), (0, 4), (1, 5), (0, 2, 5)]


def test_path_counts_in_closed_form():
    (conv,) = _encode("paths", (C3,) * 6)
    c3 = "nor_conv_3x3"
    assert len(conv) == 4 + 16 + 64  # op sequences without none, lengths 1-3
    assert conv[(c3,)] == 1 and conv[(c3, c3)] == 2 and conv[(c3, c3, c3)] == 1  # two length-2 routes
    assert sum(conv.values()) == 4
    (empty,) = _encode("paths", (NONE,) * 6)
    assert sum(empty.values()) == 0  # no route survives a none on every edge
    # a none on 0->1 removes the routes 0-1-3 and 0-1-2-3
    (cut,) = _encode("paths", (NONE, C3, C3, C3, C3, C3))
    assert sum(cut.values()) == 2 and cut[(c3,)] == 1 and cut[(c3, c3)] == 1


def test_cells_with_the_same_paths_share_an_encoding_and_skips_compose_to_the_identity():
    # conv then skip through node 1, or through node 2: the same route op sequences, different edges
    a = (C1, NONE, NONE, NONE, SKIP, NONE)
    b = (NONE, C1, NONE, NONE, NONE, SKIP)
    ea, eb = _encode("paths", a, b)
    assert ea == eb and ea[("nor_conv_1x1", "skip_connect")] == 1
    onehot = encode_op_indices(NB201, torch.tensor([a, b]))
    assert not torch.equal(onehot[0], onehot[1])  # the one-hot encoding tells them apart
    # without skips: a direct skip 0->3 and a skip-skip route 0->2->3 are both the identity path ()
    direct, twice = _encode("paths_noskip", (NONE, NONE, NONE, SKIP, NONE, NONE), (NONE, SKIP, NONE, NONE, NONE, SKIP))
    assert direct == twice and direct[()] == 1
    (skips,) = _encode("paths_noskip", (SKIP,) * 6)
    assert skips[()] == 4 and sum(skips.values()) == 4


def test_encoding_of_every_cell_is_a_count_of_at_most_four_routes():
    for encoding in ("paths", "paths_noskip"):
        X = encoder(NB201, encoding)(encode_op_indices(NB201, enumerate_op_indices(NB201)))
        assert X.shape[0] == len(NB201_OPS) ** 6 and X.min() == 0
        assert X.sum(1).max() == 4  # no none edge: all four routes


def test_nonsense_encodings_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="bo.encoding: 'paths' needs a single-input cell"):
        encoder(get_space("darts"), "paths")
    with pytest.raises(ConfigError, match="bo.encoding: unknown 'graph'"):
        BOConfig(encoding="graph")
    with pytest.raises(ConfigError, match="bo.kernel: hamming .* needs encoding: onehot"):
        BOConfig(kernel="hamming", encoding="paths")


def test_bo_on_path_encodings_finds_a_top_cell_of_a_path_additive_objective():
    """An objective linear in the path features, ``f(x) = w . phi(x)``: in 30 queries the path-encoded GP finds a
    cell in the top 1 % of all 15,625 (random search: probability 1 - 0.99^30 = 26 %)."""
    encode = encoder(NB201, "paths")
    w = torch.randn(84, generator=torch.Generator().manual_seed(0))
    f_all = encode(encode_op_indices(NB201, enumerate_op_indices(NB201))) @ w
    top1 = float(torch.quantile(f_all, 0.99))

    def objective(genotype):
        return float(encode(NB201.encode(genotype)[None]) @ w)

    bo = BayesOpt(NB201, objective, BOConfig(budget=30, n_init=10, encoding="paths", map_steps=30, map_restart=False,
                                             refit_every=5), seed=0)
    bo.run()
    assert len({ev.arch for ev in bo.evaluations}) == 30 and bo._all_X.shape == (15_625, 84)
    assert max(ev.value for ev in bo.evaluations) >= top1


def test_posterior_raises_its_jitter_when_two_cells_share_an_encoding():
    from pyronas.bo.gp import GPHypers, GPPosterior

    X = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1: one encoding, two observations
    y = torch.tensor([0.3, -0.2, 1.0])
    # amplitude 100 in float32: 100 + 1e-6 == 100, so the first jitter leaves the duplicate rows singular
    h = GPHypers(torch.tensor(0.0), torch.tensor(100.0), torch.full((2,), 0.1), torch.tensor(1e-12))
    post = GPPosterior(X, y, h, "se")
    mu, var = post.predict(X)
    assert post.jitter > GPPosterior.JITTERS[0] and torch.isfinite(mu).all() and (var >= 0).all()
    assert mu[0] == pytest.approx(0.05, abs=1e-2)  # the duplicate pair is averaged, not interpolated


def test_a_map_fit_that_fails_everywhere_falls_back_to_its_starting_point(monkeypatch):
    """A fit that ends on a non-positive-definite kernel (loss inf) leaves garbage parameters; with no finite fit
    the loop keeps the unoptimised starting point (the priors' medians at the first fit), not the garbage."""
    import pyronas.bo.loop as loop
    from pyronas.bo.gp import GPHypers, default_hypers
    from pyronas.bo.kernels import lengthscale_dim

    real = loop.fit_map

    def failing(X, y, priors, kernel, init, steps, *a):
        if steps > 0:
            return GPHypers(torch.tensor(0.0), torch.tensor(1e12), torch.full((X.shape[1],), 1e-3),
                            torch.tensor(1e-17)), float("inf")
        return real(X, y, priors, kernel, init, steps, *a)

    monkeypatch.setattr(loop, "fit_map", failing)
    bo = BayesOpt(NB201, SyntheticObjective(NB201, seed=0), BOConfig(budget=12, n_init=10, map_restart=False), seed=0)
    while len(bo.evaluations) < 10:
        bo.step()
    X, _, _, (h,) = bo.fit()
    start = default_hypers(lengthscale_dim("matern52", X), loop.gp_priors(bo.cfg))
    assert torch.allclose(h.lengthscale, start.lengthscale) and float(h.variance) == pytest.approx(1.0)
