"""Method presets: each seed method's model, guide, objective and optimizers with its paper's defaults.

    import pyronas

    p = pyronas.methods.drnas(space="nb201")                    # DrNAS as its paper runs it (CIFAR-10 sizes)
    p = pyronas.methods.drnas(budget="cpu")                      # ... at the CPU method comparison's budget
    svi = p.svi(weight_size=len(w_split), arch_size=len(a_split))   # a hand loop: svi.step(w_batch, a_batch)
    genotype = p.search("runs/drnas").run()                      # or the whole search (data from p.config)

A preset is the config a ``configs/<method>_*.yaml`` file states, built. Its method-defining keys (``model``,
``guide``, ``objective``, ``optim``, ``search.order``, ``search.arch_first``, ``select``) equal the packaged
config's of the same method and budget (tests/test_presets.py checks them):

============  =====================================  ===========================================================
method        ``budget="paper"`` (paper settings)     ``budget="cpu"`` (the method comparison's CPU budget)
============  =====================================  ===========================================================
darts         ``darts_nb201_cifar10.yaml``           ``darts_nb201_fmnist.yaml``
drnas         ``drnas_nb201_cifar10.yaml``           ``drnas_nb201_fmnist.yaml`` (and ``demo_drnas_nb201_fmnist.yaml``)
vinnas        ``vinnas_m.yaml`` (VINNAS' MNIST run)  ``vinnas_nb201_fmnist.yaml``
balenas       ``balenas_nb201.yaml``                 ``balenas_nb201_fmnist.yaml``
balenas_tf    ``balenas_tf_nb201.yaml`` (2nd order)  ``balenas_nb201_fmnist.yaml`` + SynFlow selection (= the demo,
                                                     ``demo_nb201_fmnist.yaml``)
vimnas        ``vimnas_nb201.yaml``                  ``vimnas_nb201_fmnist.yaml``
============  =====================================  ===========================================================

The other keys (space, supernet size, data, epochs) come from the budget: ``paper`` is the NAS-Bench-201 protocol
(CIFAR-10 split in halves, C = 16, 5 cells per stage; 8 cells on the DARTS space), ``cpu`` the comparison's
(6,000 / 6,000 Fashion-MNIST images at 16 px, C = 8, one cell per stage, 3 epochs of which 1 warm-up).
``overrides`` (``["search.epochs=10", ...]``, as ``--set``) change any key afterwards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from pyronas.config import Config, load_config
from pyronas.errors import ConfigError
from pyronas.infer.engine import BilevelSVI
from pyronas.infer.objectives import Objective
from pyronas.infer.program import ArchGuide, SupernetModel

if TYPE_CHECKING:
    from pyronas.data.datasets import Dataset
    from pyronas.infer.runner import Search

__all__ = [
    "BUDGETS", "METHODS", "Preset", "balenas", "balenas_tf", "build", "darts", "drnas", "method_config", "preset",
    "vimnas", "vinnas",
]

Budget = Literal["paper", "cpu"]
BUDGETS: tuple[str, ...] = ("paper", "cpu")

# DARTS' weight optimizer (Liu et al. 2019, sec. A.1.1), shared by every method that trains w by SGD
_SGD_WEIGHTS = {"name": "sgd", "lr": 0.025, "lr_min": 0.001, "schedule": "cosine", "momentum": 0.9,
                "weight_decay": 3e-4, "grad_clip": 5.0}


@dataclass
class Preset:
    """A method, built: its config and the objects a search is made of.

    Attributes:
        name: the method (``drnas``, ...).
        config: the full validated ``Config`` (``Search(config)`` builds the same program from it).
        model: the ``SupernetModel`` (prior + supernet + likelihood).
        guide: the ``ArchGuide``.
        objective: the ``Objective`` (per-datum negative ELBO + the method's extra terms).
        weight_optim: the optimizer of the network weights (and of q(w)'s parameters).
        arch_optim: the optimizer of the guide's architecture parameters.
    """

    name: str
    config: Config
    model: SupernetModel
    guide: ArchGuide
    objective: Objective
    weight_optim: torch.optim.Optimizer
    arch_optim: torch.optim.Optimizer

    def svi(self, weight_size: int, arch_size: int, **kwargs: Any) -> BilevelSVI:
        """A ``BilevelSVI`` over this preset, with the config's ``search.order``, ``search.arch_first`` and
        gradient clipping; ``weight_size`` / ``arch_size`` are the sizes N of the two data splits. ``kwargs``
        go to ``BilevelSVI`` (e.g. ``runtime``) and win over the config's values."""
        sc, oc = self.config.search, self.config.optim
        options: dict[str, Any] = {"order": sc.order, "arch_first": sc.arch_first,
                                   "weight_clip": oc.weights.grad_clip, "arch_clip": oc.arch.grad_clip}
        options.update(kwargs)
        return BilevelSVI(self.model, self.guide, self.objective, self.weight_optim, self.arch_optim,
                          weight_size=weight_size, arch_size=arch_size, **options)

    def search(self, out_dir: str | Path | None = None, *, data: Dataset | None = None) -> Search:
        """A ``pyronas.infer.Search`` over this preset's model, guide and objective (its own optimizers from
        ``config.optim``); ``data`` (a ``pyronas.data.Dataset``) replaces loading ``config.data``."""
        from pyronas.infer.runner import Search

        return Search(self.config, out_dir, data=data, model=self.model, guide=self.guide, objective=self.objective)


# --- the methods: their defining config sections per budget ------------------------------------------------
def _darts(budget: Budget, order: int = 1) -> dict[str, Any]:
    """DARTS (Liu et al. 2019): flat prior + point-mass guide, so the loss is DARTS' cross-entropy (Alg. 1)."""
    return {
        "model": {"name": "flat"}, "guide": {"name": "delta"}, "objective": {"elbo": "trace"},
        "optim": {"weights": dict(_SGD_WEIGHTS),
                  "arch": {"name": "adam", "lr": 3e-4 if budget == "paper" else 3e-3, "betas": [0.5, 0.999],
                           "weight_decay": 1e-3}},
        "search": {"order": order, "arch_first": True, **({"epochs": 100} if budget == "paper" else {})},
        "select": {"rule": "mean"},
    }


def _drnas(budget: Budget, anchor: Literal["l2", "kl"] = "l2", lam: float = 1e-3) -> dict[str, Any]:
    """DrNAS (Chen et al., ICLR 2021): Dir(1) prior on θ, Dir(ELU(η) + 1) guide, the L2 anchor ½λ‖η‖² (eq. 2)
    with the Dirichlet KL masked, or (``anchor="kl"``) the KL of appendix A.5 through ``TraceMeanField_ELBO``."""
    objective: dict[str, Any] = (
        {"elbo": "trace", "terms": [{"name": "l2_anchor", "weight": lam}], "kl_scales": {"alpha/": {"weight": 0.0}}}
        if anchor == "l2" else {"elbo": "meanfield", "terms": [], "kl_scales": {"alpha/": {"weight": 1.0}}}
    )
    return {
        "model": {"name": "dirichlet"}, "guide": {"name": "dirichlet", "params": {"init_scale": 1e-3}},
        "objective": objective,
        "optim": {"weights": dict(_SGD_WEIGHTS),
                  "arch": {"name": "adam", "lr": 3e-4 if budget == "paper" else 3e-3, "betas": [0.5, 0.999],
                           "weight_decay": 0.0}},
        "search": {"order": 1, "arch_first": True, **({"epochs": 100} if budget == "paper" else {})},
        "select": {"rule": "mean"},
    }


def _vinnas(budget: Budget) -> dict[str, Any]:
    """VINNAS (Ferianc et al.): log-uniform priors on α and the weights, mean-field Gaussian guide with local
    reparameterisation, KL weights γ1, γ2 and the entropy weight γ3 ramped from 0 (Alg. 1), positive-SNR
    selection of the lowest-error epoch's α."""
    start, end = (5.0, 15.0) if budget == "paper" else (1.0, 3.0)
    ramp = {"weight": 1.0, "start_epoch": start, "end_epoch": end}
    return {
        "model": {"name": "log_uniform", "label_smoothing": 0.1,
                  "params": {"bayesian_weights": True, "zero_clip": 0.0}},
        "guide": {"name": "mean_field", "params": {"init_scale": 1e-3, "log_sigma2": -10.0}},
        "objective": {"elbo": "meanfield", "kl_scales": {"w/": dict(ramp), "alpha/": dict(ramp)},
                      "terms": [{"name": "entropy", "weight": 0.1, "start_epoch": start, "end_epoch": end}]},
        "optim": {"weights": {"name": "adam", "lr": 3e-3, "lr_min": 1e-5 if budget == "paper" else 1e-4,
                              "schedule": "cosine", "betas": [0.9, 0.999], "weight_decay": 0.0, "grad_clip": 5.0},
                  "arch": {"name": "adam", "lr": 3e-3, "schedule": "constant", "betas": [0.9, 0.999],
                           "weight_decay": 0.0}},
        "search": {"order": 1, "arch_first": False, "keep": "best",
                   **({"epochs": 20, "warmup_epochs": 5} if budget == "paper" else {})},
        "select": {"rule": "snr"},
    }


def _balenas(budget: Budget, num_data: int | None = None, order: int = 1) -> dict[str, Any]:
    """BaLeNAS (Zhang et al.): N(0, I/δ) prior on α, a Gaussian guide whose σ² = 1/(N (s + δ/N)) is the state s of
    VAdam (eqs. 5, 17-18); the prior acts through VAdam's δ̃μ term, so the α KL is masked; α's mean selects."""
    n = num_data if num_data is not None else (25000 if budget == "paper" else 6000)
    return {
        "model": {"name": "gaussian", "params": {"delta": 1.0}}, "guide": {"name": "balenas"},
        "objective": {"elbo": "trace", "kl_scales": {"alpha/": {"weight": 0.0}}},
        "optim": {"weights": dict(_SGD_WEIGHTS),
                  "arch": {"name": "vadam", "lr": 3e-4 if budget == "paper" else 1e-3, "momentum": 0.5,
                           "weight_decay": 0.0, "params": {"prior_precision": 1.0, "num_data": n, "init_s": 1e-4}}},
        "search": {"order": order, "arch_first": True, **({"epochs": 50} if budget == "paper" else {})},
        "select": {"rule": "loc"},
    }


def _balenas_tf(budget: Budget, num_data: int | None = None, num_samples: int = 100) -> dict[str, Any]:
    """BaLeNAS-TF: BaLeNAS (2nd order in the paper's Table 1; 1st order on the CPU budget), then the best SynFlow
    score among ``num_samples`` draws from q(α) (Table 1; Table 2 ablates 10/50/100)."""
    sections = _balenas(budget, num_data, order=2 if budget == "paper" else 1)
    sections["select"] = {"rule": "sample_score", "params": {"num_samples": num_samples, "proxy": "synflow"}}
    return sections


def _vimnas(budget: Budget, size: str = "default") -> dict[str, Any]:
    """VIM-NAS (Wang et al., ICCV 2021): flat prior, the architectural network φ mapping fixed noise to μ_φ and
    A = μ_φ + ξ (Alg. 1), two momentum SGD optimizers at lr 0.025 (sec. 4.2), the w step before the φ step."""
    return {
        "model": {"name": "flat"}, "guide": {"name": "vim", "params": {"size": size}}, "objective": {"elbo": "trace"},
        "optim": {"weights": {**_SGD_WEIGHTS, "weight_decay": 5e-4 if budget == "paper" else 3e-4},
                  "arch": {"name": "sgd", "lr": 0.025, "momentum": 0.9, "schedule": "constant", "weight_decay": 0.0}},
        "search": {"order": 1, "arch_first": False,
                   **({"epochs": 50, "warmup_epochs": 10} if budget == "paper" else {})},
        "select": {"rule": "loc"},
    }


METHODS: dict[str, Callable[..., dict[str, Any]]] = {
    "darts": _darts, "drnas": _drnas, "vinnas": _vinnas, "balenas": _balenas, "balenas_tf": _balenas_tf,
    "vimnas": _vimnas,
}


def _budget_sections(budget: Budget, space: str) -> dict[str, Any]:
    """The keys a budget fixes for every method: data, supernet size, epochs."""
    if budget == "paper":  # NAS-Bench-201's protocol (Dong & Yang 2020), DARTS' on its own space
        return {"space": space, "supernet": {"C": 16, "layers": 8 if space == "darts" else 5,
                                             "track_running_stats": True},
                "data": {"name": "cifar10", "portion": 1.0, "split": 0.5, "batch_size": 64},
                "search": {"epochs": 50, "warmup_epochs": 0}}
    # the method comparison's equal budget (pyronas.bench.compare.Budget; docs/method_comparison.md)
    return {"space": space, "supernet": {"C": 8, "layers": 1},
            "data": {"name": "fashion_mnist", "portion": 0.2, "split": 0.5, "batch_size": 64, "image_size": 16},
            "search": {"epochs": 3, "warmup_epochs": 1, "eval_batches": 8}}


def _merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def method_config(
    method: str, space: str = "nb201", *, budget: Budget = "paper", seed: int = 0, device: str = "cpu",
    overrides: Sequence[str] = (), **options: Any,
) -> Config:
    """The validated ``Config`` of ``method`` under ``budget`` on ``space``; ``options`` are the method's own
    (``anchor``/``lam`` of drnas, ``order`` of darts and balenas, ``num_data`` of balenas(_tf), ``num_samples``
    of balenas_tf, ``size`` of vimnas); ``overrides`` are ``--set``-style ``key=value`` strings applied last."""
    if method not in METHODS:
        raise ConfigError(f"method {method!r}: unknown (known: {', '.join(METHODS)})")
    if budget not in BUDGETS:
        raise ConfigError(f"budget {budget!r}: unknown (known: {', '.join(BUDGETS)})")
    try:
        sections = METHODS[method](budget, **options)
    except TypeError as e:
        raise ConfigError(f"{method}: {e}") from None
    raw = _merge(_budget_sections(budget, space), sections)
    raw.update(name=f"{method}-{space}-{budget}", seed=seed, device=device)
    return load_config(None, list(overrides), **raw)


def build(cfg: Config, name: str | None = None) -> Preset:
    """Build the model, guide, objective and both optimizers of any search config, as ``Search`` does (seeded
    with ``cfg.seed``); the supernet's input channels and classes are those of ``cfg.data.name``."""
    from pyronas.data.datasets import NUM_CLASSES, STATS
    from pyronas.infer.build import build_guide, build_model, make_objective
    from pyronas.infer.program import as_arch_guide
    from pyronas.infer.state import arch_parameters, weight_parameters
    from pyronas.nn.spaces import get_space
    from pyronas.nn.supernet import Supernet
    from pyronas.optim.factory import make_optimizer
    from pyronas.rng import seed_everything

    seed_everything(cfg.seed)
    sc, dc = cfg.supernet, cfg.data
    supernet = Supernet(get_space(cfg.space), sc.C, sc.layers, len(STATS[dc.name][0]), NUM_CLASSES[dc.name],
                        sc.layout, sc.partial_channels, sc.track_running_stats)
    device = torch.device(cfg.device)
    model = build_model(cfg.model, supernet).to(device)
    guide = as_arch_guide(build_guide(cfg.guide, model, cfg.model), model).to(device)
    oc = cfg.optim
    return Preset(
        name or cfg.name, cfg, model, guide, make_objective(cfg),
        make_optimizer(weight_parameters(model, guide), oc.weights, "optim.weights"),
        make_optimizer(arch_parameters(guide), oc.arch, "optim.arch"),
    )


def preset(method: str, space: str = "nb201", *, budget: Budget = "paper", seed: int = 0, device: str = "cpu",
           overrides: Sequence[str] = (), **options: Any) -> Preset:
    """``method``'s preset by name (see ``method_config`` for the arguments)."""
    cfg = method_config(method, space, budget=budget, seed=seed, device=device, overrides=overrides, **options)
    return build(cfg, method)


def darts(space: str = "nb201", *, budget: Budget = "paper", order: Literal[1, 2] = 1, seed: int = 0,
          device: str = "cpu", overrides: Sequence[str] = ()) -> Preset:
    """DARTS (Liu et al., ICLR 2019), 1st or 2nd order (eq. 7-8): flat prior on α, point-mass guide."""
    return preset("darts", space, budget=budget, seed=seed, device=device, overrides=overrides, order=order)


def drnas(space: str = "nb201", *, budget: Budget = "paper", anchor: Literal["l2", "kl"] = "l2", lam: float = 1e-3,
          seed: int = 0, device: str = "cpu", overrides: Sequence[str] = ()) -> Preset:
    """DrNAS (Chen et al., ICLR 2021): Dirichlet prior and guide; the L2 anchor ½λ‖η‖² (eq. 2) or the KL anchor
    (appendix A.5); selection by the Dirichlet mean (eq. 4)."""
    return preset("drnas", space, budget=budget, seed=seed, device=device, overrides=overrides, anchor=anchor,
                  lam=lam)


def vinnas(space: str = "nb201", *, budget: Budget = "paper", seed: int = 0, device: str = "cpu",
           overrides: Sequence[str] = ()) -> Preset:
    """VINNAS (Ferianc et al.): log-uniform priors on α and w, mean-field guide with local reparameterisation,
    ramped KL and entropy weights, positive-SNR selection."""
    return preset("vinnas", space, budget=budget, seed=seed, device=device, overrides=overrides)


def balenas(space: str = "nb201", *, budget: Budget = "paper", order: Literal[1, 2] = 1, num_data: int | None = None,
            seed: int = 0, device: str = "cpu", overrides: Sequence[str] = ()) -> Preset:
    """BaLeNAS (Zhang et al.): Gaussian prior, natural-gradient VI of q(α) by VAdam (eqs. 17-18); ``num_data`` is
    the architecture split's size N (default: 25,000 on ``paper``, 6,000 on ``cpu``)."""
    return preset("balenas", space, budget=budget, seed=seed, device=device, overrides=overrides,
                  num_data=num_data, order=order)


def balenas_tf(space: str = "nb201", *, budget: Budget = "paper", num_data: int | None = None,
               num_samples: int = 100, seed: int = 0, device: str = "cpu", overrides: Sequence[str] = ()) -> Preset:
    """BaLeNAS-TF: BaLeNAS, then the best training-free SynFlow score among ``num_samples`` draws of q(α)."""
    return preset("balenas_tf", space, budget=budget, seed=seed, device=device, overrides=overrides,
                  num_data=num_data, num_samples=num_samples)


def vimnas(space: str = "nb201", *, budget: Budget = "paper", size: str = "default", seed: int = 0,
           device: str = "cpu", overrides: Sequence[str] = ()) -> Preset:
    """VIM-NAS (Wang et al., ICCV 2021): flat prior, the architectural network φ as the guide (``size``: small,
    default or large), one shared draw of A per iteration, the weight step first."""
    return preset("vimnas", space, budget=budget, seed=seed, device=device, overrides=overrides, size=size)
