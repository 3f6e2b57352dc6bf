"""VINNAS Bayesian retraining: pruned parameter count, pruned evaluation network, γ1 schedule, real data."""


import pytest
import torch

from pyronas.nn.bayesian import bayesian_parameters
from pyronas.nn.network import Network
from pyronas.nn.spaces import get_space
from pyronas.train.bayesian import BayesianNetwork, BayesianSection, gamma_schedule
from pyronas.train.config import load_train_config
from pyronas.train.protocol import load_train_data, run_train


def _bayes_net(seed: int = 0) -> BayesianNetwork:
    torch.manual_seed(seed)
    g = get_space("vinnas_f").random_genotype(torch.Generator().manual_seed(seed))
    net = Network.from_genotype(g, "vinnas_f", 4, 8, 1, 10, auxiliary=True)
    bnet = BayesianNetwork(net)
    with torch.no_grad():  # spread log λ around the threshold 3
        for name in bnet.weights.names:
            loc, _ = bnet.weights.loc_scale(name)
            log_mu2 = (loc**2).log()
            bnet.weights.log_sigma2[name.replace(".", "-")].copy_(log_mu2 + 3 + 2 * torch.randn_like(loc))
    return bnet


def test_pruned_count_equals_weights_with_log_lambda_below_3():
    bnet = _bayes_net()
    kept = 0
    for name in bnet.weights.names:
        if "auxiliary" in name:
            continue
        loc, scale = bnet.weights.loc_scale(name)
        kept += int(((2 * scale.log() - (loc**2).log()) < 3).sum())
    bayes = {id(p) for p in bayesian_parameters(bnet.net).values()}
    deterministic = sum(
        p.numel() for n, p in bnet.net.named_parameters() if id(p) not in bayes and "auxiliary" not in n
    )
    total = sum(p.numel() for n, p in bnet.net.named_parameters() if "auxiliary" not in n)
    assert 0 < kept < total - deterministic  # some weights pruned, some kept
    assert bnet.nonzero_parameters() == kept + deterministic
    assert bnet.parameter_count() == total


def test_evaluation_uses_pruned_means_and_training_samples():
    bnet = _bayes_net(1)
    x = torch.randn(4, 1, 16, 16)
    bnet.eval()
    plain = Network.from_genotype(bnet.net.genotype, "vinnas_f", 4, 8, 1, 10, auxiliary=True).eval()
    state = dict(bnet.net.state_dict())
    state.update(bnet.weights.pruned_means())
    plain.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(bnet(x), plain(x), atol=1e-5)
        assert torch.equal(bnet(x), bnet(x))  # deterministic at evaluation
    bnet.train()
    logits_a, _ = bnet(x)
    logits_b, aux = bnet(x)
    assert not torch.allclose(logits_a, logits_b)  # local reparameterisation noise
    (logits_a.sum() + aux.sum() + bnet.kl()).backward()
    name = bnet.weights.names[0]
    assert bnet.weights.loc[name.replace(".", "-")].grad is not None
    assert bnet.weights.log_sigma2[name.replace(".", "-")].grad.abs().sum() > 0


def test_gamma_schedule():
    cfg = BayesianSection(enabled=True, gamma=2.0, start_epoch=10, end_epoch=20)
    assert gamma_schedule(5, cfg, 100) == 0.0
    assert gamma_schedule(15, cfg, 100) == pytest.approx(1.0)
    assert gamma_schedule(30, cfg, 100) == 2.0
    assert gamma_schedule(55, BayesianSection(gamma=1.0, start_epoch=10), 100) == pytest.approx(0.5)


@pytest.mark.slow
@pytest.mark.requires("fashion_mnist")
def test_bayesian_retraining_learns_fashion_mnist_and_prunes():
    torch.set_num_threads(1)
    sets = [
        "data.portion=0.0334", "data.image_size=16", "data.batch_size=64", "network.C=8", "network.layers=1",
        "network.auxiliary=false", "train.epochs=3", "train.optimizer=adam", "train.lr=0.005",
        "train.weight_decay=0", "train.cutout=0", "train.crop_padding=2", "train.drop_path_prob=0",
        "train.progress=false", "bayesian.enabled=true", "bayesian.gamma=1.0", "bayesian.start_epoch=1",
    ]  # fmt: skip
    cfg = load_train_config(None, sets)
    (x, y, xt, yt), n_classes = load_train_data(cfg)
    genotype = get_space("vinnas_m").random_genotype(torch.Generator().manual_seed(0))
    result = run_train(cfg, genotype, None, data=((x, y, xt[:1000], yt[:1000]), n_classes))
    # 2000 images, 3 epochs, VINNAS-M layout (one reduction cell): ~60 %, chance is 10 %.
    assert result.test_acc > 0.4
    assert 0 < result.extra["params_nonzero_M"] < result.params_M  # the KL prunes weights
