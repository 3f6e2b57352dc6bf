"""The search objective: Pyro's ELBO per datum plus named extra terms with schedules.

    loss = -ELBO(x, y) / N  +  Σ_t  λ_t(epoch) · term_t  [/ N for a ``dataset_level`` term]

The ELBO comes from ``elbo.differentiable_loss(model, guide, ...)``; dividing by the split
size N gives the per-datum loss the papers optimise (mean cross-entropy + KL / N), so DARTS
in Pyro is exactly DARTS' cross-entropy. KL weights γ (VINNAS eq. 8) scale the architecture
and weight sites in *both* model and guide (``ScaleSites``); ``TraceMeanField_ELBO`` scales the
analytic KL by the guide site's scale. Extra terms (entropy, anchor, ...) see the values the
guide sampled for this batch through ``SiteRecorder``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyro
import torch
from pyro.poutine.messenger import Messenger

from pyronas.infer.program import ALPHA, ArchGuide, SupernetModel
from pyronas.optim.schedules import linear_ramp
from pyronas.registry import Registry


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
        return linear_ramp(progress, self.value, self.start, self.end)


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


Term = Callable[..., torch.Tensor]  # term(ctx, **params) -> scalar
TERMS: Registry[Term] = Registry("objective term", "a function term(ctx: TermContext, **params) -> scalar Tensor")


def register_term(name: str) -> Callable[[Term], Term]:
    """Register an extra objective term under ``name`` (usable in configs): ``TERMS.register(name)``."""
    return TERMS.register(name)


def dataset_level(fn: Term) -> Term:
    """Mark a term as a term of the paper's dataset-level objective (like the KLs of the ELBO): the
    per-datum loss adds ``λ · term / N``, the same 1/N that ``-ELBO / N`` carries (``Objective.loss``)."""
    fn.dataset_level = True  # type: ignore[attr-defined]
    return fn


def _entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) = −Σ_o p_o log p_o over the last axis (0 log 0 = 0)."""
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def jackknife_entropy_of_mean(z: torch.Tensor) -> torch.Tensor:
    """Σ_edges H(E[z]) from S draws ``z`` ``[S, edges, ops]``, jackknife bias-corrected (Quenouille 1956).

    The plug-in H(z̄) is biased low by ≈ (1/2S) Σ_o Var(z_o)/E[z_o] (H is concave; second-order delta
    method), a bias that grows with the spread of z, so its gradient would still reward noise. With
    z̄₋ᵢ the mean without draw i, ``S·H(z̄) − (S−1)·mean_i H(z̄₋ᵢ)`` cancels the 1/S term. Identical
    draws (a point mass) give H(z̄) exactly.
    """
    s = z.shape[0]
    mean = z.mean(0)
    h = _entropy(mean).sum()
    if s == 1:
        return h
    loo = (s * mean - z) / (s - 1)
    return s * h - (s - 1) * _entropy(loo).sum(-1).mean()


@register_term("entropy")
@dataset_level
def entropy_of_expected_weights(ctx: TermContext, num_samples: int = 64) -> torch.Tensor:
    """Σ_kinds Σ_edges H(E_q[z_edge]), z = to_weights(α) = softmax α (VINNAS eq. 8, third term, γ3).

    Eq. 8 (appendix eq. 16) is a dataset-level objective: −E_q[log p(y | x, α, w)] summed over the data
    + γ1 KL_w + γ2 KL_α + γ3 Σ H. The per-datum loss divides all of it by N, so the term is
    ``dataset_level`` and enters as γ3 · Σ H / N (added without the 1/N, γ3 acted N times stronger).

    The expectation is under the guide's q(α), not over the one α the ELBO drew for this batch: the
    entropy of one sample, H(softmax α₁), has expectation E_q[H(z)] ≤ H(E_q[z]) which *falls* as σ_α
    grows, so it would reward noisier α; H(E_q[z]) rises towards log K as q spreads ("certainty in the
    operations' selection"). E_q[z] is estimated from the term's own ``num_samples`` reparameterised
    draws of every guide's q(α) (``alpha_dist(kind).rsample``: Normal, Dirichlet, or Delta, for which
    all draws equal α̂ and the term is exactly H(softmax α̂)), differentiable in the guide's parameters,
    with the jackknife correction of ``jackknife_entropy_of_mean``.
    """
    to_weights = ctx.model.prior.to_weights
    terms = [
        jackknife_entropy_of_mean(to_weights(ctx.guide.alpha_dist(kind).rsample((num_samples,))))
        for kind in ctx.guide.arch_shapes
    ]
    return torch.stack(terms).sum()


@register_term("l2_anchor")
def l2_anchor(ctx: TermContext) -> torch.Tensor:
    """½‖η − 0‖² over the guide's architecture parameters: the L2 anchor of DrNAS eq. 2 (with
    β = ELU(η) + 1, η = 0 is the anchor β = 1). Weighted by λ its gradient is exactly λ·η, the
    coupled weight decay ``Adam(weight_decay=λ)`` of the official DrNAS code (``reg_scale`` = λ
    = 1e-3, the paper's value), so a config must not also put weight decay on η."""
    return 0.5 * sum((p**2).sum() for p in ctx.guide.arch_parameters())


@dataclass
class TermSpec:
    """A registered term, its weight schedule and its keyword parameters (e.g. ``num_samples``)."""

    name: str
    schedule: Schedule
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name in TERMS and self.params:
            try:
                inspect.signature(TERMS[self.name]).bind(None, **self.params)
            except TypeError as e:
                raise ValueError(f"term {self.name!r}: bad params {sorted(self.params)}: {e}") from None

    @property
    def fn(self) -> Term:
        """The registered term function of ``name``."""
        return TERMS[self.name]

    def __call__(self, ctx: TermContext) -> torch.Tensor:
        return self.fn(ctx, **self.params)


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
                    per_datum = n_data if getattr(t.fn, "dataset_level", False) else 1
                    loss = loss + lam * t(ctx) / per_datum
        return loss, rec
