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
