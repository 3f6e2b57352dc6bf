"""Architecture selection rules: from a trained guide to a discrete genotype.

A rule is a function ``rule(search, **params) -> Genotype`` registered under a name used in
``select.rule``; ``search`` is the runner's ``SearchState`` (``pyronas.infer.state``): the space,
supernet, model, guide, data splits, config and ``op_probs()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from pyronas.nn.spaces import Genotype
from pyronas.registry import Registry

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState

log = logging.getLogger(__name__)

Selector = Callable[..., Genotype]
T = TypeVar("T", torch.Tensor, np.ndarray)
SELECTORS: Registry[Selector] = Registry(
    "selection rule",
    "a function rule(search, **params) -> Genotype; attribute needs_loc_scale = True: it reads a Gaussian "
    "q(alpha)'s mean and scale (guide.loc_scale()), checked against the guide on load",
    key="rule",
    positional=1,
)


def register_selector(name: str) -> Callable[[Selector], Selector]:
    """Register a selection rule under ``name`` (usable as ``select.rule``): ``SELECTORS.register(name)``."""
    return SELECTORS.register(name)


def select(search: SearchState, rule: str, params: dict[str, Any]) -> Genotype:
    """Apply rule ``rule`` with ``params`` (checked against its signature; errors name ``select.*``)."""
    return SELECTORS.build(rule, params, search, where="select")


@register_selector("mean")
def select_mean(search: SearchState) -> Genotype:
    """Strongest op per edge of the expected mixing weights E_q[w] (softmax α for DARTS, the Dirichlet
    mean β/Σβ for DrNAS, eq. 4), then the space's derivation rule."""
    return search.space.derive(search.op_probs())


# --- VINNAS (Ferianc et al., section IV-C): positive signal-to-noise ratio and magnitude ------------
def positive_snr(loc: T, scale: T) -> T:
    """Positive SNR μ_α / σ_α² (VINNAS IV-C, Algorithm 1 line 21), signed: softmax is sign-sensitive,
    so a negative μ ranks last. The one definition used by the ``snr`` rule and by the SNR plot
    (torch tensors or numpy arrays)."""
    return loc / scale**2


def _scores_over_full_ops(search: SearchState, kind: str, scores: torch.Tensor) -> torch.Tensor:
    """Per-edge scores of the (possibly pruned) candidates on the full op set, pruned ops at −inf: a
    score may be negative, so the 0 that ``to_full`` fills in would outrank every kept op."""
    full = search.supernet.to_full(kind, scores)
    kept = search.supernet.to_full(kind, torch.ones_like(scores)) > 0
    return full.masked_fill(~kept, -float("inf"))


@register_selector("snr")
def select_snr(search: SearchState) -> Genotype:
    """Strongest op per edge by the positive SNR μ_α / σ_α² of a Gaussian guide, then the space's
    derivation rule (VINNAS IV-C; its default selection). Ops pruned from the supernet never win."""
    loc_scale = search.guide.loc_scale()
    if loc_scale is None:
        raise ValueError("select.rule: 'snr' needs a Gaussian guide (one whose loc_scale() is not None)")
    return search.space.derive({k: _scores_over_full_ops(search, k, positive_snr(*ls)) for k, ls in loc_scale.items()})


select_snr.needs_loc_scale = True  # type: ignore[attr-defined]  # checked on load against the guide (infer.checks)


# --- BaLeNAS selection: argmax of the Gaussian mean, and sample-and-score (BaLeNAS-TF) ------
def _full_weights(search: SearchState, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mixing weights over the full op set of the space for one draw ``{kind: [edges, ops]}``."""
    return {k: search.supernet.to_full(k, search.guide.to_weights(a).detach()).cpu() for k, a in alpha.items()}


@register_selector("magnitude")
@register_selector("loc")
def select_loc(search: SearchState) -> Genotype:
    """Strongest op per edge of the mixing weights at the mean of a Gaussian q(α), to_weights(μ)
    (softmax of μ): VINNAS' magnitude rule (IV-C) = BaLeNAS' argmax of μ (sec. 3.3); then the space's
    derivation rule."""
    loc_scale = search.guide.loc_scale()
    if loc_scale is None:
        raise ValueError("select.rule: 'loc'/'magnitude' needs a Gaussian guide (one with loc_scale())")
    return search.space.derive(_full_weights(search, {k: mu for k, (mu, _) in loc_scale.items()}))


select_loc.needs_loc_scale = True  # type: ignore[attr-defined]  # checked on load against the guide (infer.checks)


def sample_and_score(
    search: SearchState, score: Callable[[Genotype], float], num_samples: int = 100, seed: int = 0
) -> tuple[Genotype, list[Genotype], list[float]]:
    """Draw ``num_samples`` α ~ q(α) (forked RNG seeded with ``seed``), derive their genotypes and
    keep the highest ``score`` (BaLeNAS sec. 3.3 and Algorithm 1, last line). Identical genotypes
    are scored once. Returns (best, genotypes, scores)."""
    if num_samples < 1:
        raise ValueError(f"select.params.num_samples must be >= 1, got {num_samples}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draws = search.guide.sample_alpha(num_samples)
    genotypes = [search.space.derive(_full_weights(search, {k: v[i] for k, v in draws.items()}))
                 for i in range(num_samples)]
    cache: dict[str, float] = {}

    def cached(g: Genotype) -> float:
        key = str(g)
        if key not in cache:
            cache[key] = float(score(g))
        return cache[key]

    from pyronas.select.proxies import best_of

    best, scores = best_of(genotypes, cached)
    return best, genotypes, scores


@register_selector("sample_score")
def select_sample_score(
    search: SearchState,
    num_samples: int = 100,
    proxy: str = "synflow",
    C: int | None = None,
    layers: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> Genotype:
    """BaLeNAS-TF: the best of ``num_samples`` (10 / 50 / 100 in Table 2) architectures drawn from
    q(α), each built as a discrete network at initialisation (``C``/``layers`` default to the
    supernet's) and scored with a training-free ``proxy`` (snip, grasp, synflow; the paper uses
    synflow) on the first ``batch_size`` examples of the weight split."""
    from pyronas.select.proxies import get_proxy, score_genotype

    get_proxy(proxy)  # fail early on an unknown name
    data = search.weight_data
    x, y = data.x[:batch_size], data.y[:batch_size]
    sc = search.cfg.supernet
    net_C, net_layers = C or sc.C, layers or sc.layers

    def score(g: Genotype) -> float:
        return score_genotype(g, proxy, x, y, net_C, net_layers, data.num_classes, seed)

    best, genotypes, scores = sample_and_score(search, score, num_samples, seed)
    log.info(
        "sample_score: %d draws, %d distinct architectures, best %s = %.4g: %s",
        num_samples, len({str(g) for g in genotypes}), proxy, max(scores), best,
    )
    return best
