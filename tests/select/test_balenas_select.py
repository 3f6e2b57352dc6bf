"""BaLeNAS selection (sec. 3.3): argmax of μ, and BaLeNAS-TF = best proxy score among M draws from q(α)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pyronas.config import load_config
from pyronas.data.datasets import Dataset
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import Genotype, get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.vadam import VAdam
from pyronas.registry import build
from pyronas.select.rules import SELECTORS, sample_and_score

OPS = get_space("nb201").ops


def _search(init_s: float, mu: torch.Tensor | None = None):
    """A Search-shaped namespace: space, supernet, guide bound to VAdam, weight split, config."""
    torch.manual_seed(0)
    space = get_space("nb201")
    net = Supernet(space, C=4, layers=1, in_channels=1, num_classes=3)
    model = SupernetModel(net, build("models", "gaussian", {"delta": 1.0}, net, where="model.params"))
    guide = build("guides", "balenas", {}, model, where="guide.params")
    if mu is not None:
        guide.mu["cell"].data.copy_(mu)
    guide.bind_optimizer(VAdam(guide.arch_parameters(), prior_precision=1.0, num_data=100, init_s=init_s))
    data = Dataset(torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,)), 3)
    cfg = load_config(None, ["supernet.C=4", "supernet.layers=1"])
    return SimpleNamespace(space=space, supernet=net, guide=guide, weight_data=data, cfg=cfg)


def _n_convs(g: Genotype) -> float:
    return sum(op.startswith("nor_conv") for op, _, _ in g.cells["cell"]) + 0.01 * len(str(g))


def test_sample_and_score_returns_the_best_of_m_draws_from_q():
    search = _search(init_s=0.0)  # σ² = 1/δ = 1: diverse draws
    best, genotypes, scores = sample_and_score(search, _n_convs, num_samples=50, seed=3)
    # the M genotypes are exactly the derived draws of q under the seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        draws = search.guide.sample_alpha(50)["cell"]
    expected = [search.space.derive({"cell": search.guide.to_weights(a)}) for a in draws]
    assert [str(g) for g in genotypes] == [str(g) for g in expected]
    assert len({str(g) for g in genotypes}) > 20
    assert scores == [_n_convs(g) for g in genotypes]
    assert best is genotypes[scores.index(max(scores))]
    with pytest.raises(ValueError, match="num_samples"):
        sample_and_score(search, _n_convs, num_samples=0)


def test_draws_follow_q_not_uniform():
    """With a confident μ (one op per edge) and small σ every draw is μ's architecture; with a wide q they vary."""
    target = [OPS.index(o) for o in ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "none")]
    mu = torch.zeros(6, 5)
    mu[torch.arange(6), torch.tensor(target)] = 2.0
    narrow = _search(init_s=10.0, mu=mu)  # σ² = 1/(100 · 10 + 1) ≈ 0.001
    _, genotypes, _ = sample_and_score(narrow, _n_convs, num_samples=20)
    assert {str(g) for g in genotypes} == {str(SELECTORS["loc"](narrow))}
    wide = _search(init_s=0.0, mu=mu)  # σ = 1
    _, genotypes, _ = sample_and_score(wide, _n_convs, num_samples=20)
    assert len({str(g) for g in genotypes}) > 1


def test_loc_selector_is_argmax_of_mu():
    mu = torch.randn(6, 5)
    search = _search(init_s=1.0, mu=mu)
    g = SELECTORS["loc"](search)
    assert [op for op, _, _ in g.cells["cell"]] == [OPS[i] for i in mu.argmax(-1).tolist()]


@pytest.mark.parametrize("proxy", ["synflow", "snip"])
def test_sample_score_selector_with_a_real_proxy(proxy, caplog):
    """The seed (here not the default) fixes both the draws from q and the proxy's initialisation."""
    search = _search(init_s=0.0)
    with caplog.at_level("INFO", logger="pyronas.select.rules"):
        g = SELECTORS["sample_score"](search, num_samples=10, proxy=proxy, batch_size=8, seed=2)
    from pyronas.select.proxies import score_genotype

    x, y = search.weight_data.x[:8], search.weight_data.y[:8]
    _, genotypes, scores = sample_and_score(
        search, lambda h: score_genotype(h, proxy, x, y, 4, 1, 3, 2), num_samples=10, seed=2
    )
    assert str(g) in {str(h) for h in genotypes}
    assert score_genotype(g, proxy, x, y, 4, 1, 3, 2) == pytest.approx(max(scores))
    distinct = len({str(h) for h in genotypes})
    assert caplog.messages == [
        f"sample_score: 10 draws, {distinct} distinct architectures, best {proxy} = {max(scores):.4g}: {g}"
    ]
    with pytest.raises(ValueError, match="unknown proxy"):
        SELECTORS["sample_score"](search, num_samples=2, proxy="nope")


def test_one_sample_is_a_valid_budget():
    """num_samples = 1 (the boundary) draws one genotype: the derived first draw of q under the seed."""
    search = _search(init_s=0.0)
    best, genotypes, _ = sample_and_score(search, _n_convs, num_samples=1, seed=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        (draw,) = search.guide.sample_alpha(1)["cell"]
    assert len(genotypes) == 1 and best is genotypes[0]
    assert str(best) == str(search.space.derive({"cell": search.guide.to_weights(draw)}))


def test_select_dispatches_by_rule_name_and_names_a_bad_parameter():
    from pyronas.config import ConfigError
    from pyronas.select import rules

    search = _search(init_s=1.0, mu=torch.randn(6, 5))
    assert str(rules.select(search, "loc", {})) == str(rules.SELECTORS.get("loc")(search))
    assert str(rules.select(search, "loc", {})) == str(search.space.derive({"cell": search.guide.mu["cell"]}))
    with pytest.raises(ConfigError, match=r"select\.params\.nonsense"):
        rules.select(search, "loc", {"nonsense": 1})


def test_register_selector_adds_a_rule_under_its_name():
    from pyronas.select import rules

    @rules.register_selector("first_op_everywhere_test")
    def first_op(search):
        return search.space.derive({"cell": torch.eye(5)[torch.zeros(6, dtype=torch.long)]})

    try:
        assert rules.SELECTORS.get("first_op_everywhere_test") is first_op
        genotype = rules.select(_search(init_s=1.0), "first_op_everywhere_test", {})
        assert [op for op, _, _ in genotype.cells["cell"]] == [OPS[0]] * 6
    finally:
        rules.SELECTORS._entries.pop("first_op_everywhere_test", None)


def test_sample_score_defaults_are_the_papers(caplog):
    """BaLeNAS-TF (Table 2): the best of 100 draws from q scored with synflow (data-free: only the input shape)."""
    search = _search(init_s=0.0)
    with caplog.at_level("INFO", logger="pyronas.select.rules"):
        SELECTORS["sample_score"](search)
    assert len(caplog.messages) == 1 and caplog.messages[0].startswith("sample_score: 100 draws, ")
    assert " best synflow = " in caplog.messages[0]


@pytest.mark.parametrize("rule,message", [
    ("snr", "select.rule: 'snr' needs a Gaussian guide (one whose loc_scale() is not None)"),
    ("loc", "select.rule: 'loc'/'magnitude' needs a Gaussian guide (one with loc_scale())"),
])
def test_gaussian_rules_refuse_a_guide_without_loc_and_scale(rule, message):
    import re

    search = _search(init_s=1.0)
    model = SupernetModel(search.supernet, build("models", "flat", {}, search.supernet, where="model"))
    search.guide = build("guides", "delta", {}, model, where="guide")  # a point mass: no loc and scale
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SELECTORS[rule](search)


def test_mean_rule_takes_the_strongest_expected_weight_per_edge():
    search = _search(init_s=1.0)
    probs = torch.softmax(torch.randn(6, 5), -1)
    search.op_probs = lambda: {"cell": probs}
    g = SELECTORS["mean"](search)
    assert [op for op, _, _ in g.cells["cell"]] == [OPS[i] for i in probs.argmax(-1).tolist()]
