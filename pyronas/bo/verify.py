"""Which evaluated architecture a noisy BO loop re-evaluates next (``bo.replicate``, ``bo.replicate_also``).

"Verify before you trust": with ``replicate = k > 1`` the leader (the best *mean* observation,
``pyronas.bo.leader``) is re-evaluated with another training seed until it has ``k`` evaluations. Once it has them,
``replicate_also`` may name one more architecture to verify:

- ``incumbent``: the GP's noisy incumbent (the evaluated architecture with the highest posterior mean);
- ``challenger``: the LUCB rule of best-arm identification (Kalyanakrishnan et al. 2012), with the leader's mean
  observation as its lower bound -- among the other evaluated architectures with fewer than ``k`` evaluations, the
  one with the highest upper bound ``mu + 1.96 sigma`` of the GP's latent value, if that bound reaches the leader's
  mean. A cell seen once with an unlucky seed is re-tried while the GP still rates it as a contender.

Counts include pending copies (asynchronous or batch evaluations not yet recorded). Pure torch (no Pyro).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyronas.bo.leader import leader

__all__ = ["UCB_Z", "challenger", "incumbent_to_verify", "leader_to_verify"]

#: The challenger's upper bound is mu + UCB_Z sigma (a two-sided 95 % bound; not tuned).
UCB_Z = 1.96


def _count(means: dict[str, tuple[float, int]], arch: str, pending: Sequence[str]) -> int:
    return means[arch][1] + sum(p == arch for p in pending)


def leader_to_verify(means: dict[str, tuple[float, int]], replicate: int, pending: Sequence[str] = ()) -> str | None:
    """The leader, while it (with its pending copies) has fewer than ``replicate`` evaluations; else None."""
    lead = leader(means)
    return lead if _count(means, lead, pending) < replicate else None


def incumbent_to_verify(means: dict[str, tuple[float, int]], incumbent: str, replicate: int,
                        pending: Sequence[str] = ()) -> str | None:
    """The GP's incumbent, while it has fewer than ``replicate`` evaluations; else None."""
    return incumbent if _count(means, incumbent, pending) < replicate else None


def challenger(archs: Sequence[str], mu: torch.Tensor, sigma: torch.Tensor, means: dict[str, tuple[float, int]],
               lead_value: float, replicate: int, pending: Sequence[str] = ()) -> str | None:
    """The LUCB challenger among the evaluations ``archs`` (one row per evaluation, posterior ``mu``, ``sigma`` of
    the latent value there, in the GP's units), or None when no other architecture with fewer than ``replicate``
    evaluations has ``mu + UCB_Z sigma >= lead_value`` (the leader's mean observation in the same units)."""
    lead = leader(means)
    open_ = torch.tensor([a != lead and _count(means, a, pending) < replicate for a in archs])
    if not bool(open_.any()):
        return None
    ucb = torch.where(open_, mu + UCB_Z * sigma, torch.tensor(-float("inf"), dtype=mu.dtype))
    i = int(ucb.argmax())
    return archs[i] if float(ucb[i]) >= lead_value else None
