"""Architecture selection rules: from a trained guide to a discrete genotype.

A rule is a function ``rule(search, **params) -> Genotype`` registered under a name used in
``select.rule``; ``search`` gives access to the space, supernet, model, guide and data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyronas.spaces import Genotype

if TYPE_CHECKING:
    from pyronas.search import Search

Selector = Callable[..., Genotype]
SELECTORS: dict[str, Selector] = {}


def register_selector(name: str) -> Callable[[Selector], Selector]:
    def deco(fn: Selector) -> Selector:
        SELECTORS[name] = fn
        return fn

    return deco


def select(search: Search, rule: str, params: dict[str, Any]) -> Genotype:
    if rule not in SELECTORS:
        raise ValueError(f"select.rule: unknown rule {rule!r} (known: {', '.join(SELECTORS)})")
    return SELECTORS[rule](search, **params)


@register_selector("mean")
def select_mean(search: Search) -> Genotype:
    """Strongest op per edge of the expected mixing weights E_q[w] (softmax α for DARTS, the Dirichlet
    mean β/Σβ for DrNAS, eq. 4), then the space's derivation rule."""
    return search.space.derive(search.op_probs())


# --- VINNAS (Ferianc et al., section IV-C): positive signal-to-noise ratio and magnitude ------------
def positive_snr(loc, scale):
    """Positive SNR μ_α / σ_α² (signed, since softmax is sign-sensitive: negative μ ranks last)."""
    return loc / scale**2


@register_selector("snr")
def select_snr(search: Search) -> Genotype:
    """Strongest op per edge by the positive SNR μ_α / σ_α² of a Gaussian guide, then the space's
    derivation rule (VINNAS IV-C; its default selection)."""
    loc_scale = search.guide.loc_scale()
    if loc_scale is None:
        raise ValueError("select.rule: 'snr' needs a Gaussian guide (one whose loc_scale() is not None)")
    return search.space.derive({k: search.supernet.to_full(k, positive_snr(*ls)) for k, ls in loc_scale.items()})


@register_selector("magnitude")
def select_magnitude(search: Search) -> Genotype:
    """Strongest op per edge by the mixing weights at the mean, to_weights(μ_α) (softmax of μ_α)."""
    loc_scale = search.guide.loc_scale()
    if loc_scale is None:
        raise ValueError("select.rule: 'magnitude' needs a Gaussian guide (one whose loc_scale() is not None)")
    to_w = search.model.prior.to_weights
    return search.space.derive({k: search.supernet.to_full(k, to_w(loc)) for k, (loc, _) in loc_scale.items()})
