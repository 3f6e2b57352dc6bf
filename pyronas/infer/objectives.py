"""The search objective: Pyro's ELBO per datum plus named extra terms with schedules.

    loss = -ELBO(x, y) / N  +  Σ_t  λ_t(epoch) · term_t

The ELBO comes from ``elbo.differentiable_loss(model, guide, ...)``; dividing by the split
size N gives the per-datum loss the papers optimise (mean cross-entropy + KL / N), so DARTS
in Pyro is exactly DARTS' cross-entropy. KL weights γ (VINNAS eq. 8) scale the architecture
and weight sites in *both* model and guide (``ScaleSites``); ``TraceMeanField_ELBO`` scales the
analytic KL by the guide site's scale. Extra terms (entropy, anchor, ...) see the values the
guide sampled for this batch through ``SiteRecorder``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyro
import torch
from pyro.poutine.messenger import Messenger

from pyronas.infer.program import ALPHA, ArchGuide, SupernetModel


@dataclass
class Schedule:
    """Linear ramp: 0 before ``start``, ``value`` after ``end``, linear in between (epochs, float).

    With ``start == end`` the weight is ``value`` from ``start`` on (a constant when 0).
    VINNAS Algorithm 1 line 19: γ grows linearly from a start epoch to its maximum.
    """

    value: float
    start: float = 0.0
    end: float | None = None

    def __call__(self, progress: float) -> float:
        end = self.start if self.end is None else self.end
        if progress < self.start:
            return 0.0
        if end <= self.start or progress >= end:
            return self.value
        return self.value * (progress - self.start) / (end - self.start)


class ScaleSites(Messenger):
    """Multiply the log-density (and so the KL) of every site whose name starts with a prefix
    by a weight γ; a weight of 0 masks the site (``poutine.scale`` rejects 0)."""

    def __init__(self, scales: dict[str, float]):
        super().__init__()
        self.scales = scales

    def _process_message(self, msg):
        if msg["type"] != "sample" or msg["is_observed"]:
            return
        for prefix, gamma in self.scales.items():
            if msg["name"].startswith(prefix):
                if gamma > 0:
                    msg["scale"] = gamma * msg["scale"]
                else:
                    msg["mask"] = False
                return


class SiteRecorder(Messenger):
    """Records the values sampled at latent sites and the likelihood's logits of one loss call.

    ``values[name]`` lists each distinct tensor drawn at ``name`` (one per particle);
    ``logits`` is the last observed categorical's logits (for accuracy).
    """

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[torch.Tensor]] = {}
        self.logits: torch.Tensor | None = None

    def _postprocess_message(self, msg):
        if msg["type"] != "sample":
            return
        if msg["is_observed"]:
            self.logits = getattr(msg["fn"], "logits", None)
            return
        if msg["infer"].get("is_auxiliary"):  # an autoguide's unconstrained latent, not a model site
            return
        seen = self.values.setdefault(msg["name"], [])
        if not any(v is msg["value"] for v in seen):
            seen.append(msg["value"])


@dataclass
class TermContext:
    """What an extra term may look at: the program, and this batch's guide samples."""

    model: SupernetModel
    guide: ArchGuide
    samples: dict[str, list[torch.Tensor]]
    progress: float

    def alpha_samples(self) -> dict[str, torch.Tensor]:
        """``{kind: [particles, edges, ops]}`` of the architecture values drawn for this batch."""
        prefix = ALPHA + "/"
        return {n[len(prefix) :]: torch.stack(v) for n, v in self.samples.items() if n.startswith(prefix)}


Term = Callable[[TermContext], torch.Tensor]
TERMS: dict[str, Term] = {}


def register_term(name: str) -> Callable[[Term], Term]:
    """Register an extra objective term under ``name`` (usable in configs)."""

    def deco(fn: Term) -> Term:
        TERMS[name] = fn
        return fn

    return deco


@register_term("entropy")
def entropy_of_expected_weights(ctx: TermContext) -> torch.Tensor:
    """Σ_edges H(E_q[softmax α_edge]) (VINNAS eq. 8, third term); E_q is the Monte Carlo mean over
    the samples drawn for the batch. Minimising it pushes each edge to one op."""
    total = 0.0
    for alpha in ctx.alpha_samples().values():
        p = ctx.model.prior.to_weights(alpha).mean(0).clamp_min(1e-12)
        total = total + (-(p * p.log()).sum())
    return torch.as_tensor(total)


@register_term("l2_anchor")
def l2_anchor(ctx: TermContext) -> torch.Tensor:
    """‖η − 0‖² over the guide's architecture parameters (DrNAS eq. 2, the L2 anchor: with
    β = ELU(η) + 1, η = 0 is the anchor β = 1)."""
    return sum((p**2).sum() for p in ctx.guide.arch_parameters())


@dataclass
class TermSpec:
    name: str
    schedule: Schedule

    @property
    def fn(self) -> Term:
        return TERMS[self.name]


@dataclass
class Objective:
    """Per-datum negative ELBO + scheduled extra terms.

    Args:
        elbo: a Pyro ELBO (``Trace_ELBO`` or ``TraceMeanField_ELBO``).
        terms: extra terms with their weight schedules.
        kl_scales: site-name prefix -> schedule of its KL weight γ (e.g. ``{"alpha/": ...}``).
    """

    elbo: pyro.infer.ELBO
    terms: list[TermSpec] = field(default_factory=list)
    kl_scales: dict[str, Schedule] = field(default_factory=dict)

    def loss(
        self,
        model: SupernetModel,
        guide: ArchGuide,
        x: torch.Tensor,
        y: torch.Tensor,
        n_data: int,
        progress: float = 0.0,
    ) -> tuple[torch.Tensor, SiteRecorder]:
        """Return the loss and the recorder (samples, logits) of one batch."""
        scales = {p: s(progress) for p, s in self.kl_scales.items()}
        m, g = (ScaleSites(scales)(model), ScaleSites(scales)(guide)) if scales else (model, guide)
        with SiteRecorder() as rec:
            loss = self.elbo.differentiable_loss(m, g, x, y, n_data) / n_data
        if self.terms:
            ctx = TermContext(model, guide, rec.values, progress)
            for t in self.terms:
                lam = t.schedule(progress)
                if lam != 0:
                    loss = loss + lam * t.fn(ctx)
        return loss, rec
