"""bo.replicate: the loop re-evaluates its leader (another training seed) before it trusts it."""

import zlib

import pytest
import torch

from pyronas.bo.candidates import key
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.targets import SyntheticObjective, TrainObjective
from pyronas.errors import ConfigError
from pyronas.nn.spaces import get_space

NB201 = get_space("nb201")


def test_replicate_must_be_at_least_one():
    with pytest.raises(ConfigError, match="bo.replicate"):
        BOConfig(replicate=0)
    with pytest.raises(ConfigError, match="bo.replicate_after"):
        BOConfig(replicate_after=-1)


@pytest.mark.parametrize("after", [0, 9])
def test_the_loop_re_evaluates_the_leader_until_it_has_replicate_observations(tmp_path, one_thread, after):
    obj = SyntheticObjective(NB201, seed=3, noise=1.0)  # noise of the order of the differences: leaders change
    cfg = BOConfig(budget=16, n_init=4, replicate=3, replicate_after=after, kernel="hamming", map_steps=10,
                   map_restart=False)
    bo = BayesOpt(NB201, obj, cfg, seed=1, out_dir=tmp_path)
    bo.run()
    evs, repeats = bo.evaluations, 0
    assert len({ev.arch for ev in evs[: max(cfg.n_init, after)]}) == max(cfg.n_init, after)  # explore first
    for t in range(max(cfg.n_init, after), len(evs)):
        means = {}
        for ev in evs[:t]:
            means.setdefault(ev.arch, []).append(ev.value)
        leader = max(means, key=lambda a: sum(means[a]) / len(means[a]))  # first evaluated on ties
        if len(means[leader]) < cfg.replicate:
            assert evs[t].arch == leader  # the leader is verified first
            repeats += 1
        else:
            assert evs[t].arch not in means  # a new architecture, never a non-leader again
    assert repeats >= 2
    cell = {a: [ev.value for ev in evs if ev.arch == a] for a in {ev.arch for ev in evs}}
    assert bo.best_observed()[-1] == pytest.approx(max(sum(v) / len(v) for v in cell.values()))  # per-cell means


def test_train_objective_trains_a_repeat_with_another_seed_and_resumes_the_counts(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(8, 3, 8, 8, generator=g), torch.arange(8) % 2, torch.randn(4, 3, 8, 8, generator=g),
            torch.arange(4) % 2)
    obj = TrainObjective(NB201, data, C=2, layers=1, steps=1, batch_size=4, seed=7)
    genotype = NB201.random_genotype(g)
    arch = key(genotype)
    assert obj.run_seed(arch, 0) == 7 * 1_000_003 + zlib.crc32(arch.encode())  # the pre-repeat seed
    seeds = []
    for _ in range(3):
        obj(genotype)
        seeds.append(torch.initial_seed())  # the call seeds torch's global generator with its run seed
    assert seeds == [obj.run_seed(arch, k) for k in range(3)] and len(set(seeds)) == 3
    cfg = BOConfig(budget=3, n_init=3)
    first = BayesOpt(NB201, obj, cfg, seed=0, out_dir=tmp_path)
    first.record(_evaluation(genotype, 0))
    first.record(_evaluation(genotype, 1))
    fresh = TrainObjective(NB201, data, C=2, layers=1, steps=1, batch_size=4, seed=7)
    BayesOpt(NB201, fresh, cfg, seed=0, out_dir=tmp_path)  # resume: the counts come back from evaluations.jsonl
    assert fresh.counts == {arch: 2}
    fresh(genotype)
    assert torch.initial_seed() == obj.run_seed(arch, 2)


def _evaluation(genotype, index):
    from pyronas.bo.runfolder import Evaluation

    return Evaluation(index, key(genotype), genotype.to_dict(), 0.5, 0.0, 0.0)


def _evaluated(values: dict[tuple[int, ...], list[float]], also: str) -> BayesOpt:
    """A BayesOpt whose evaluations are ``values`` (op tuple -> observed values), in order, replicate 3."""
    from pyronas.bo.candidates import decode_op_indices
    from pyronas.bo.runfolder import Evaluation

    bo = BayesOpt(NB201, lambda g: 0.0, BOConfig(budget=99, n_init=2, replicate=3, replicate_also=also,
                                                 kernel="hamming", map_steps=20), seed=0)
    for ops, vs in values.items():
        genotype = decode_op_indices(NB201, torch.tensor(ops))
        for v in vs:
            bo.evaluations.append(Evaluation(len(bo.evaluations), key(genotype), genotype.to_dict(), v, 0.0, 0.0))
    return bo


def test_replicate_also_verifies_the_incumbent_or_an_lucb_challenger():
    g = torch.Generator().manual_seed(0)
    low = {tuple(torch.randint(5, (6,), generator=g).tolist()): [float(v)] for v in 0.1 * torch.randn(12, generator=g)}
    lead, close, poor = (3, 3, 3, 3, 3, 3), (3, 3, 3, 3, 3, 2), (0, 0, 0, 0, 0, 1)
    values = {lead: [1.15, 0.85, 1.0], close: [0.95], poor: [0.0], **low}  # seed noise ~0.1, as the leader shows
    bo = _evaluated(values, "challenger")
    X, y, st, hypers = bo.fit()
    target = bo._second_check(X, y, st, hypers)
    assert target == bo.evaluations[3].arch  # `close`: its bound reaches the leader
    assert bo._second_check(X, y, st, hypers, pending=[target, target]) is None  # 1 + 2 pending = 3: verified
    values[close] = [0.0]  # no contender left: nothing to verify
    bo = _evaluated(values, "challenger")
    assert bo._second_check(*bo.fit()) is None
    bo = _evaluated(values, "incumbent")
    X, y, st, hypers = bo.fit()
    bo.incumbents.append(bo._incumbent(X, y, st, hypers))
    assert bo.incumbents[-1]["arch"] == bo.evaluations[0].arch and bo._second_check(X, y, st, hypers) is None
    with pytest.raises(ConfigError, match="bo.replicate_also"):
        BOConfig(replicate_also="all")


def test_verify_rules_in_closed_form():
    from pyronas.bo.verify import UCB_Z, challenger, incumbent_to_verify, leader_to_verify

    means = {"L": (1.0, 3), "a": (0.9, 1), "b": (0.5, 1), "c": (0.95, 3)}
    assert leader_to_verify(means, 3) is None and leader_to_verify(means, 4) == "L"
    assert leader_to_verify({"L": (1.0, 2)}, 3, pending=["L"]) is None  # a pending copy counts
    assert incumbent_to_verify(means, "a", 3) == "a" and incumbent_to_verify(means, "c", 3) is None
    archs = ["L", "a", "b", "c", "L", "L", "c", "c"]
    mu = torch.tensor([1.0, 0.9, 0.5, 0.95, 1.0, 1.0, 0.95, 0.95])
    sigma = torch.tensor([0.01, 0.06, 0.3, 0.5, 0.01, 0.01, 0.5, 0.5])
    # a: 0.9 + 1.96 * 0.06 = 1.018; b: 0.5 + 0.588 = 1.088 (the highest open bound); c has its 3 evaluations
    assert challenger(archs, mu, sigma, means, 1.0, 3) == "b"
    assert challenger(archs, mu, sigma, means, 1.0, 3, pending=["b", "b"]) == "a"
    assert challenger(archs, mu, sigma, means, 1.1, 3) is None  # no bound reaches the leader's mean
    assert UCB_Z == pytest.approx(1.96)
