"""The initial design of the BO loop: uniformly random architectures, or the zero-cost warm-up.

Zero-cost warm-up (Abdelfattah et al. 2021, "Zero-cost proxies for lightweight NAS", §5): score a pool of
uniformly random architectures with a training-free proxy (SynFlow, ``pyronas.select.proxies``) and start the
search from the best-scored ones instead of random ones; the proxy costs no query of the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pyronas.bo.candidates import key
from pyronas.nn.spaces import Genotype, SearchSpace


def random_architectures(space: SearchSpace, q: int, g: torch.Generator, seen: set[str]) -> list[Genotype]:
    """Up to ``q`` distinct uniformly random architectures of ``space`` whose keys are not in ``seen``."""
    seen, out = set(seen), []
    for _ in range(1000 * q):
        if len(out) == q:
            break
        c = space.random_genotype(g)
        if key(c) not in seen:
            seen.add(key(c))
            out.append(c)
    return out


def zero_cost_design(
    space: SearchSpace, proxy: Callable[[Genotype], float], n: int, pool: int, g: torch.Generator
) -> list[Genotype]:
    """The ``n`` architectures with the highest ``proxy`` score among ``pool`` distinct uniformly random ones
    drawn with ``g``, best first (ties: the earlier draw; a NaN score counts as the lowest)."""
    cells = random_architectures(space, pool, g, set())
    scores = [float(proxy(c)) for c in cells]
    scores = [-math.inf if math.isnan(v) else v for v in scores]
    order = sorted(range(len(cells)), key=lambda i: (-scores[i], i))
    return [cells[i] for i in order[:n]]
