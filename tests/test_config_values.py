"""Bad values and combinations are refused on load with one ``ConfigError`` naming the key (issues #29 §1, #30 §3).

Each row is a config a user could write; today's code (before these checks) ran every one of them silently, or
failed after the data was loaded, or deep inside torch. ``refuse`` runs what a search runs before any data:
load (types, values) then ``check_config`` (names and combinations).
"""

from __future__ import annotations

import logging

import pytest
import torch

from pyronas.config import ConfigError, load_config
from pyronas.data.datasets import Dataset
from pyronas.infer.checks import check_config
from pyronas.preflight import preflight

BALENAS = ["model.name=gaussian", "guide.name=balenas", "optim.arch.name=vadam", "optim.arch.weight_decay=0",
           "optim.arch.params={prior_precision: 1.0, num_data: 100}", 'objective.kl_scales={"alpha/": {weight: 0}}']
LOWRANK = ["model.alpha.name=gaussian", "guide.alpha.name=auto", "guide.alpha.params={family: lowrank_mvn, rank: 2}"]
VINNAS_W = ["model.name=log_uniform", "guide.name=mean_field", "objective.elbo=meanfield"]


def refuse(*overrides: str) -> str:
    """The message of the ``ConfigError`` that loading and checking ``overrides`` raises."""
    with pytest.raises(ConfigError) as info:
        check_config(load_config(overrides=list(overrides)))
    return str(info.value)


@pytest.mark.parametrize(
    ("overrides", "key", "says"),
    [
        # --- numeric ranges (#30 §3) ---
        (["optim.weights.grad_clip=-1"], "optim.weights.grad_clip", "> 0 or null"),
        (["optim.arch.grad_clip=0"], "optim.arch.grad_clip", "> 0 or null"),
        (["search.steps_per_epoch=0"], "search.steps_per_epoch", "null for one pass"),
        (["search.steps_per_epoch=-1"], "search.steps_per_epoch", ">= 1"),
        (["search.eval_batches=0"], "search.eval_batches", ">= 1"),
        (["seed=-1"], "seed", "[0, 2**32 - 1]"),
        ([f"seed={2**32}"], "seed", "[0, 2**32 - 1]"),
        (["optim.weights.lr=0"], "optim.weights.lr", "(0, 1)"),
        (["optim.arch.lr=1.5"], "optim.arch.lr", "(0, 1)"),
        (["optim.weights.lr_min=0.5"], "optim.weights.lr_min", "[0, optim.weights.lr]"),
        (["optim.weights.momentum=1.0"], "optim.weights.momentum", "[0, 1)"),
        (["optim.arch.betas=[0.9, 1.0]"], "optim.arch.betas", "two numbers in [0, 1)"),
        (["optim.arch.betas=[0.9]"], "optim.arch.betas", "two numbers"),
        (["optim.weights.weight_decay=-0.001"], "optim.weights.weight_decay", ">= 0"),
        (["model.label_smoothing=1.0"], "model.label_smoothing", "[0, 1)"),
        (["search.record_every_steps=-1"], "search.record_every_steps", ">= 0"),
        (["data.image_size=2"], "data.image_size", ">= 4"),
        (["data.portion=0.00002"], "data.portion", "leaves 0 / 1 images"),
        (["data.name=digits", "data.portion=0.05"], "data.portion", "fewer than data.batch_size 64"),
        (['objective.kl_scales={"alpha/": {weight: -1}}'], "objective.kl_scales.alpha/.weight", ">= 0"),
        (['objective.kl_scales={"alpha/": {weight: 1, start_epoch: 3, end_epoch: 1}}'],
         "objective.kl_scales.alpha/.end_epoch", ">= start_epoch"),
        (["objective.terms=[{name: entropy, start_epoch: -1}]"], "objective.terms[0].start_epoch", ">= 0"),
        # --- names, resolved in the build step ---
        (["select.rule=nope"], "select.rule", "unknown"),
        (["optim.arch.name=lion"], "optim.arch.name", "unknown optimizer"),
        # --- kl_scales keys against the model's sites ---
        (['objective.kl_scales={"alpah/": {weight: 0}}'], "objective.kl_scales.alpah/", "site groups: alpha/"),
        (['objective.kl_scales={"weights/": {weight: 1}}'], "objective.kl_scales.weights/", "a typo?"),
        # --- layouts the space can build ---
        (["space=darts", "supernet.layers=2"], "supernet.layers", "no normal cell"),
        (["space=darts", "supernet.layout=RRR"], "supernet.layout", "no normal cell"),
        # --- combinations (#29 §1) ---
        ([*LOWRANK, "optim.arch.name=vadam", "optim.arch.weight_decay=0"], "optim.arch.name 'vadam' with guide.alpha",
         "keeps no such state"),
        ([*BALENAS, "optim.arch.name=adam"], "guide.name 'balenas' needs a natural-gradient optim.arch",
         "optim.arch.name 'adam'"),
        ([*VINNAS_W, "optim.weights.name=vadam", "optim.weights.weight_decay=0"],
         "optim.weights.name 'vadam' with guide.name 'mean_field'", "q(w)"),
        ([*BALENAS, "optim.arch.params={prior_precision: 2.0, num_data: 100}"], "optim.arch.params.prior_precision",
         "model.params.delta"),
        (["model.name=dirichlet", "guide.name=dirichlet", "search.order=2"], "search.order", "use search.order: 1"),
        (["model.name=gaussian", "guide.name=dirichlet"], "guide.name 'dirichlet' (simplex)", "model.name 'gaussian'"),
        (["optim.arch.params={bogus: 1}"], "optim.arch.params", "bogus"),
        (["select.rule=snr"], "select.rule 'snr' with guide.name 'delta'", "use select.rule: mean"),
        (["model.name=dirichlet", "guide.name=dirichlet", "select.rule=loc"], "select.rule 'loc'", "loc_scale"),
        (["select.params={bogus: 1}"], "select.params.bogus", "unknown parameter"),
        # --- a prior's or guide's own ValueError (a parameter out of range), in either form (new-user test) ---
        (["model.name=gaussian", "guide.name=mean_field", "model.params={delta: -1}"], "model.params", "> 0"),
        (["model.alpha.name=gaussian", "model.alpha.params={delta: -1}", "guide.alpha.name=mean_field"],
         "model.alpha.params", "> 0"),
        (["search.callbacks=[{name: hessian, params: {bogus: 1}}]"], "search.callbacks[0].params.bogus", "unknown"),
    ],
)
def test_a_bad_value_or_combination_is_one_config_error_naming_the_key(overrides, key, says):
    msg = refuse(*overrides)
    assert msg.startswith(key), msg
    assert says in msg, msg


def test_the_combinations_it_refuses_are_legal_when_fixed():
    """The same pieces, put together as their declarations say, pass (so the refusals above are not blanket)."""
    assert check_config(load_config(overrides=BALENAS)) == []  # the guide reads its prior: no "no effect" note
    check_config(load_config(overrides=[*LOWRANK, "optim.arch.weight_decay=0"]))
    check_config(load_config(overrides=[*VINNAS_W, "select.rule=snr", 'objective.kl_scales={"w/": {weight: 1}}']))
    check_config(load_config(overrides=["space=darts", "supernet.layers=3"]))
    check_config(load_config(overrides=["search.steps_per_epoch=1", "search.eval_batches=null", f"seed={2**32 - 1}"]))


def test_a_natural_gradient_optimizer_on_point_weights_is_a_note():
    notes = check_config(load_config(overrides=["optim.weights.name=vadam", "optim.weights.weight_decay=0"]))
    assert len(notes) == 1 and notes[0][0] == logging.WARNING
    assert notes[0][1].startswith("optim.weights.name 'vadam'") and "point estimates" in notes[0][1]


def test_a_scale_of_a_group_the_model_lacks_is_a_note():
    notes = check_config(load_config(overrides=['objective.kl_scales={"w/": {weight: 1}}']))
    assert notes == [(logging.WARNING, "objective.kl_scales.w/: this model has no such site (its groups: alpha/ "
                                       "(alpha/cell)); the entry has no effect")]


def test_a_masked_prior_is_reported_in_the_log(caplog):
    """DrNAS' L2 anchor masks the Dirichlet KL on purpose; the log says the prior then has no effect."""
    cfg = load_config("configs/drnas_nb201_fmnist.yaml")
    with caplog.at_level(logging.INFO, logger="pyronas"):
        notes = preflight(cfg, data_given=True)
    expected = "model.name 'dirichlet': DirichletPrior has no effect (objective.kl_scales alpha/ = 0"
    assert [n[: len(expected)] for n in notes] == [expected]
    assert expected in caplog.text
    assert check_config(load_config(overrides=['objective.kl_scales={"alpha/": {weight: 0.5}}'])) == []


def test_a_search_refuses_before_reading_data(monkeypatch):
    """``Search`` runs the checks before ``load_dataset``: a bad combination never reaches the data."""
    from pyronas.infer.runner import search as runner  # the module whose load_dataset Search calls

    def no_data(*args, **kwargs):
        raise AssertionError("data was read")

    monkeypatch.setattr(runner, "load_dataset", no_data)
    cfg = load_config(overrides=[*LOWRANK, "optim.arch.name=vadam", "optim.arch.weight_decay=0"])
    with pytest.raises(ConfigError, match="^optim.arch.name 'vadam' with guide.alpha.name 'auto'"):
        runner.Search(cfg)
    tiny = Dataset(torch.randn(8, 1, 8, 8), torch.arange(8) % 2, 2)
    with pytest.raises(ConfigError, match="^optim.arch.name 'vadam'"):  # data brought by the caller: still checked
        runner.Search(cfg, data=tiny)


@pytest.mark.parametrize(
    ("override", "key"),
    [("train.grad_clip=-1", "train.grad_clip"), ("train.steps_per_epoch=0", "train.steps_per_epoch"),
     ("seed=-1", "seed"), ("train.momentum=1.0", "train.momentum"), ("train.weight_decay=-1", "train.weight_decay"),
     ("data.portion=0.0001", "data.portion")],
)
def test_the_retraining_config_checks_the_same_keys_the_same_way(override, key):
    from pyronas.train.config import load_train_config

    with pytest.raises(ConfigError, match=f"^{key}: "):
        load_train_config(overrides=[override])


def test_a_budget_that_is_all_warm_up_is_a_note():
    """``--set search.epochs=1`` on a config with one warm-up epoch trains no architecture (new-user test: arch-split
    accuracy 3.1 %, no word); the note says so and names the fix. One epoch more and it is gone."""
    notes = check_config(load_config(overrides=["search.epochs=1", "search.warmup_epochs=1"]))
    assert [level for level, _ in notes] == [logging.WARNING]
    assert notes[0][1].startswith("search.warmup_epochs: 1 of search.epochs 1") and "search.epochs > 1" in notes[0][1]
    assert check_config(load_config(overrides=["search.epochs=2", "search.warmup_epochs=1"])) == []
