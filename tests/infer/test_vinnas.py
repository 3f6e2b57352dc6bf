"""VINNAS as a Pyro program: prior/guide wiring, eq. 8 terms and schedules, selection, a short search."""

import json
import math
from pathlib import Path

import pyro
import pytest
import torch
from pyro import poutine

from pyronas.config import load_config
from pyronas.distributions import molchanov_kl
from pyronas.infer import Search, make_objective
from pyronas.infer.objectives import TermContext, entropy_of_expected_weights
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build
from pyronas.select.rules import positive_snr

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _program(C=2, layout="R", space="vinnas_m", **prior):
    torch.manual_seed(0)
    net = Supernet(get_space(space), C, 1, 1, 10, layout=layout)
    model = SupernetModel(net, build("models", "log_uniform", prior, net, where="m"), 0.1)
    guide = build("guides", "mean_field", {}, model, where="g")
    return net, model, guide


def test_prior_and_guide_sites_and_init():
    net, model, guide = _program()
    assert set(model.prior.arch_shapes) == {"reduce"}  # layout M: one reduction cell
    names = set(model.prior.weight_shapes)
    assert "stem.0.weight" in names and "classifier.weight" in names
    assert not any(n.endswith("bias") or ".bn" in n for n in names)
    loc = guide.alpha_loc["reduce"]
    assert loc.abs().max() < 5e-3 and loc.std() > 1e-4
    assert torch.allclose(guide.alpha_log_sigma2["reduce"], torch.tensor(-10.0))
    assert {id(p) for p in guide.weight_parameters()}.isdisjoint(id(p) for p in guide.arch_parameters())
    tr = poutine.trace(guide).get_trace(torch.randn(2, 1, 8, 8), None, 10)
    w_sites = [n for n in tr.nodes if n.startswith("w/")]
    assert len(w_sites) == len(names)


def test_model_uses_local_reparameterisation_for_guide_weights():
    """For one fixed guide trace, direct weight sampling gives deterministic logits; the LRT draws
    fresh output noise in the model, and the plug-in means give deterministic logits again."""
    net, model, guide = _program()
    with torch.no_grad():
        for p in guide.weights.log_sigma2.values():
            p.fill_(-2.0)
    x = torch.randn(4, 1, 8, 8)
    tr = poutine.trace(guide).get_trace(x, None, 10)
    a = poutine.replay(model, trace=tr)(x, None, 10)
    b = poutine.replay(model, trace=tr)(x, None, 10)
    assert not torch.allclose(a, b)
    means = {n: s["fn"].mean for n, s in tr.nodes.items() if s["type"] == "sample"}
    c = poutine.condition(model, data=means)(x, None, 10)
    d = poutine.condition(model, data=means)(x, None, 10)
    assert torch.equal(c, d)


def test_zero_op_strength_is_clipped():
    net, model, _ = _program(zero_clip=0.0)
    z = get_space("vinnas_m").ops.index("none")
    alpha = torch.zeros(5, 10)
    alpha[:, z] = 50.0
    w = model.prior.to_weights(alpha)
    assert torch.allclose(w, torch.full_like(w, 0.1))  # the zero op cannot grow past α = 0
    _, unclipped, _ = _program(zero_clip=None)
    assert unclipped.prior.to_weights(alpha)[0, z] > 0.99


def test_entropy_term_zero_for_one_hot_and_log_k_for_uniform():
    """Σ H(E_q[softmax α]) under the guide's q(α) (σ_α = e⁻⁵ at init), whatever α the batch drew."""
    _, model, guide = _program()
    ctx = TermContext(model, guide, {"alpha/reduce": [torch.zeros(5, 10)]}, 0.0)

    def term_at(loc: torch.Tensor) -> float:
        with torch.no_grad():
            guide.alpha_loc["reduce"].copy_(loc)
        return entropy_of_expected_weights(ctx).item()

    one_hot = torch.full((5, 10), -1e4)
    one_hot[:, 3] = 1e4
    assert term_at(one_hot) == pytest.approx(0.0, abs=1e-6)
    two = torch.full((5, 10), -1e4)
    two[:, [3, 7]] = 1e4  # two ops tied: E_q[z] is ½-½ on every edge
    assert term_at(two) == pytest.approx(5 * math.log(2), rel=1e-5)
    assert term_at(torch.full((5, 10), -3.0)) == pytest.approx(5 * math.log(10), rel=1e-5)  # below the clip


def test_gamma_schedules_scale_the_kl_through_pyro():
    """γ1 (w), γ2 (α): 0 before the start epoch (masked), the maximum at the end, linear between;
    the loss difference between schedules is exactly γ · KL / N."""
    cfg = load_config(CONFIGS / "vinnas_m_fmnist.yaml")
    objective = make_objective(cfg)
    sw, sa = objective.kl_scales["w/"], objective.kl_scales["alpha/"]
    assert sw(0.0) == sw(0.999) == 0.0 and sa(0.5) == 0.0
    assert sw(6.0) == sw(7.0) == cfg.objective.kl_scales["w/"].weight
    assert sw(3.5) == pytest.approx(0.5 * sw(6.0))
    assert objective.terms[0].schedule(0.5) == 0.0 and objective.terms[0].schedule(6.0) == 0.1

    _, model, guide = _program()
    x, y, n = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)), 100
    objective.terms = []
    kl_w = sum(molchanov_kl(guide.weights.log_lambda(k)).sum() for k in guide.weights.names).item()
    a_loc, a_scale = guide.loc_scale()["reduce"]
    kl_a = molchanov_kl(2 * a_scale.log() - a_loc.pow(2).log()).sum().item()

    def loss(progress):
        with torch.random.fork_rng():
            torch.manual_seed(1)
            return objective.loss(model, guide, x, y, n, progress)[0].item()

    base, mid, end = loss(0.5), loss(3.5), loss(6.0)
    assert end - base == pytest.approx((sw(6.0) * kl_w + sa(6.0) * kl_a) / n, rel=1e-3)
    assert mid - base == pytest.approx((sw(3.5) * kl_w + sa(3.5) * kl_a) / n, rel=1e-3)


class _Parts:
    def __init__(self, net, model, guide):
        self.space, self.supernet, self.model, self.guide = net.space, net, model, guide


def test_snr_and_magnitude_selection_differ_when_variance_matters():
    from pyronas.select.rules import select

    net, model, guide = _program()
    ops = list(net.space.ops)
    a, b = ops.index("sep_conv_3x3"), ops.index("max_pool_3x3")
    with torch.no_grad():
        guide.alpha_loc["reduce"].zero_()
        guide.alpha_loc["reduce"][:, a] = 1.0  # larger mean, very uncertain
        guide.alpha_log_sigma2["reduce"][:, a] = 2.0
        guide.alpha_loc["reduce"][:, b] = 0.5  # smaller mean, certain
        guide.alpha_log_sigma2["reduce"][:, b] = -6.0
    parts = _Parts(net, model, guide)
    snr = select(parts, "snr", {})
    mag = select(parts, "magnitude", {})
    assert {op for op, _, _ in snr.cells["reduce"]} == {"max_pool_3x3"}
    assert {op for op, _, _ in mag.cells["reduce"]} == {"sep_conv_3x3"}
    assert positive_snr(torch.tensor(-1.0), torch.tensor(0.1)) < 0  # negative μ ranks last


def _tiny_cfg(tmp_path, **over):
    sets = [
        "supernet.C=4", "data.portion=0.04", "data.image_size=12", "search.epochs=4", "search.warmup_epochs=1",
        "objective.kl_scales.w/.start_epoch=1", "objective.kl_scales.w/.end_epoch=3",
    ]
    sets += [f"{k}={v}" for k, v in over.items()]
    return load_config(CONFIGS / "vinnas_m_fmnist.yaml", sets)


@pytest.mark.slow
def test_short_vinnas_search_beats_chance_and_keeps_lowest_error_alpha(tmp_path):
    pyro.enable_validation(False)
    cfg = _tiny_cfg(tmp_path)
    search = Search(cfg, tmp_path)
    genotype = search.run(progress_bar=False)
    accs = [m["val_acc"] for m in search.metrics]
    best_epoch = max(range(len(accs)), key=lambda e: (accs[e], -e))
    assert max(accs) > 0.5  # 10 classes: chance is 0.1
    assert search.best["epoch"] == best_epoch
    for k, v in search.guide.state_dict().items():
        assert torch.equal(v, search.best["guide"][k])
    for name in ("genotype.json", "genotype_snr.json", "genotype_magnitude.json", "sparsity.json"):
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "genotype.json").read_text()) == json.loads(
        (tmp_path / "genotype_snr.json").read_text()
    )
    sp = json.loads((tmp_path / "sparsity.json").read_text())
    assert 0 < sp["nonzero_params"] <= sp["total_params"]
    assert "nonzero_params" in search.metrics[-1]
    assert genotype.cells["reduce"]
