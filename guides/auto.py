"""Pyro's autoguides on the α group: ``guide: {alpha: {name: auto, params: {family: ..., rank: ...}}}``.

The autoguide is built over the α-only model (``SupernetModel.sample_alpha``: every
``alpha/<kind>`` site from the α prior, nothing else), so the w sites are never seen by it; a
weight guide (``guide.weights``) gives them their own q(w). Families (``pyro.infer.autoguide``):

* ``normal``       — ``AutoNormal``: independent Normals in the unconstrained space of each site.
* ``lowrank_mvn``  — ``AutoLowRankMultivariateNormal``: one N(μ, F Fᵀ + D) over all α of all
  cell kinds jointly, F of rank ``rank`` (default √dim): correlations between edges and ops,
  VIM-NAS' argument that edges are not independent.
* ``iaf``          — ``AutoIAFNormal``: a Normal pushed through ``num_transforms`` inverse
  autoregressive flows (hidden width ``hidden_dim``).
* ``delta``        — ``AutoDelta``: a point mass (MAP of α; DARTS with a prior).

Every family transforms to the support of the prior's site (``biject_to(support)``), so it fits
real α and simplex θ alike (``support = "any"``).

Which ELBO. Each autoguide samples an *auxiliary* site z in the unconstrained space (AutoNormal:
``alpha/<kind>_unconstrained``; the others one joint latent, renamed here ``alpha/_latent`` so the
objective's ``kl_scales["alpha/"]`` weights it with the α sites) and puts α = T(z) at the α site as
a ``Delta`` carrying log|det ∂T⁻¹/∂α|. No KL(Delta ‖ prior) is registered, so the α term is always
Monte Carlo, with ``elbo: trace`` and ``elbo: meanfield`` alike:

    ELBO_α = log p(α) − log q(α),   log q(α) = log q(z) − log|det ∂T/∂z|,   α = T(z), z ~ q(z)

(``TraceMeanField_ELBO`` adds the auxiliary site's −log q(z) itself). Under ``meanfield`` the w
sites of a mean-field weight guide keep their analytic KL (Molchanov's for the log-uniform prior).
AutoDelta has no auxiliary site: its α term is log p(α̂), a MAP penalty.

Initialisation: z = ``init_scale`` · N(0, 1) as the other guides (DARTS: 1e-3; a uniform simplex
point for θ); ``init_sigma`` is the autoguides' initial σ (Pyro's ``init_scale``).
Parameters live in the module (``module_local_params``), never in Pyro's global param store.
"""

from __future__ import annotations

from typing import ClassVar

import pyro
import pyro.infer.autoguide as ag
import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.infer.autoguide.initialization import InitMessenger
from pyro.poutine.messenger import Messenger

from pyronas.infer.program import ALPHA, AlphaGuide, SupernetModel

FAMILIES = {
    "normal": ag.AutoNormal,
    "lowrank_mvn": ag.AutoLowRankMultivariateNormal,
    "iaf": ag.AutoIAFNormal,
    "delta": ag.AutoDelta,
}


class _PrefixAuxiliary(Messenger):
    """Rename auxiliary sites that do not start with ``alpha/`` to ``alpha/<name>``, so per-prefix
    KL weights and masks apply to the whole α term."""

    def _process_message(self, msg):
        if msg["type"] == "sample" and msg["infer"].get("is_auxiliary") and not msg["name"].startswith(ALPHA + "/"):
            msg["name"] = f"{ALPHA}/{msg['name'].lstrip('_').split('_', 1)[-1]}"


class AutoAlphaGuide(AlphaGuide):
    """A Pyro autoguide over the ``alpha/<kind>`` sites only.

    Args:
        model: the ``SupernetModel`` (its α prior defines the sites and their supports).
        family: ``normal`` | ``lowrank_mvn`` | ``iaf`` | ``delta``.
        rank: rank of the covariance factor (``lowrank_mvn``; default √dim).
        init_scale: standard deviation of the unconstrained initial location.
        init_sigma: initial posterior σ (``normal``, ``lowrank_mvn``).
        hidden_dim: hidden width of the IAF networks (``iaf``; default Pyro's, the latent dim).
        num_transforms: number of IAF transforms (``iaf``).
    """

    support: ClassVar[str] = "any"

    def __init__(
        self,
        model: SupernetModel,
        family: str = "normal",
        rank: int | None = None,
        init_scale: float = 1e-3,
        init_sigma: float = 0.1,
        hidden_dim: int | None = None,
        num_transforms: int = 1,
    ):
        super().__init__(model)
        if family not in FAMILIES:
            raise ValueError(f"guide.alpha.params.family: one of {', '.join(FAMILIES)}, got {family!r}")
        if rank is not None and family != "lowrank_mvn":
            raise ValueError("guide.alpha.params.rank: only with family lowrank_mvn")
        self.family = family
        self.correlated = family in ("lowrank_mvn", "iaf")  # one joint q over all α
        self.init_scale = float(init_scale)
        prior = model.prior

        def alpha_model(*args, **kwargs):
            return {k: pyro.sample(f"{ALPHA}/{k}", prior.alpha_dist(k)) for k in self.arch_shapes}

        with pyro.settings.context(module_local_params=True):
            if family == "iaf":  # IAF ignores init_loc_fn: the prototype run still needs one (improper priors)
                self.auto = ag.AutoIAFNormal(
                    InitMessenger(self._init_loc)(alpha_model), hidden_dim=hidden_dim, num_transforms=num_transforms
                )
            elif family == "delta":
                self.auto = ag.AutoDelta(alpha_model, init_loc_fn=self._init_loc)
            elif family == "lowrank_mvn":
                self.auto = ag.AutoLowRankMultivariateNormal(
                    alpha_model, init_loc_fn=self._init_loc, init_scale=float(init_sigma), rank=rank
                )
            else:
                self.auto = ag.AutoNormal(alpha_model, init_loc_fn=self._init_loc, init_scale=float(init_sigma))
            with poutine.block():
                self.auto()  # build the parameters now, so the optimizers see them

    def _init_loc(self, site: dict) -> torch.Tensor:
        """α = T(init_scale · ε) in the site's support (ε ~ N(0, 1) in the unconstrained space)."""
        transform = biject_to(site["fn"].support)
        shape = transform.inverse_shape(site["fn"].shape())
        return transform(self.init_scale * torch.randn(shape)).detach()

    # --- AlphaGuide interface ------------------------------------------------------------
    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> dict[str, torch.Tensor]:
        """Run the autoguide: one draw of every α site from q (its Pyro parameters local to this module)."""
        with pyro.settings.context(module_local_params=True), _PrefixAuxiliary():
            return self.auto()

    @torch.no_grad()
    def sample_alpha(self, n: int) -> dict[str, torch.Tensor]:
        """``n`` independent draws of every α site from q, ``{kind: [n, edges, ops]}`` (vectorised:
        z ~ q(z) in the unconstrained space, α = biject_to(support)(z))."""
        out = {}
        with pyro.settings.context(module_local_params=True):
            if self.family == "delta":
                return {k: v.expand((n, *v.shape)).clone() for k, v in self._named(self.auto.median()).items()}
            if self.family == "normal":
                for name, site in self.auto.prototype_trace.iter_stochastic_nodes():
                    loc, scale = self.auto._get_loc_and_scale(name)
                    z = torch.distributions.Normal(loc, scale).sample((n,))
                    out[name] = biject_to(site["fn"].support)(z)
                return self._named(out)
            latent = self.auto.get_posterior().sample((n,))
            for site, z in self.auto._unpack_latent(latent):
                out[site["name"]] = biject_to(site["fn"].support)(z)
        return self._named(out)

    def _named(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: values[f"{ALPHA}/{k}"] for k in self.arch_shapes}

    @torch.no_grad()
    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """(μ, σ) of the Gaussian marginals of α: analytic for ``normal`` / ``lowrank_mvn`` (σ² = diag
        of F Fᵀ + D), Monte Carlo mean/std of 1024 draws for ``iaf``; None for a point mass or θ on
        the simplex (there the unconstrained μ, σ are not α's)."""
        if self.family == "delta" or self.auto.prototype_trace is None:
            return None
        if not all(_is_real(s["fn"].support) for _, s in self.auto.prototype_trace.iter_stochastic_nodes()):
            return None
        with pyro.settings.context(module_local_params=True):
            if self.family == "normal":
                return {k: self.auto._get_loc_and_scale(f"{ALPHA}/{k}") for k in self.arch_shapes}
            if self.family == "lowrank_mvn":
                loc, scale = self.auto._loc_scale()
                return self._split(loc, scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            draws = self.sample_alpha(1024)
        return {k: (v.mean(0), v.std(0)) for k, v in draws.items()}

    def _split(self, *flat: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
        """Unpack latent vectors (site order of the prototype trace) to ``{kind: [edges, ops]}``."""
        out, pos = {}, 0
        for k, shape in self.arch_shapes.items():
            size = int(torch.Size(shape).numel())
            out[k] = tuple(f[pos : pos + size].view(shape) for f in flat)
            pos += size
        return out

    @torch.no_grad()
    def covariance(self) -> torch.Tensor | None:
        """Cov(α) = F Fᵀ + D of ``lowrank_mvn`` over real α (F = cov_factor · σ, D = diag σ²), in the
        order of ``arch_shapes`` flattened; None for other families / simplex θ."""
        if self.family != "lowrank_mvn" or not all(
            _is_real(s["fn"].support) for _, s in self.auto.prototype_trace.iter_stochastic_nodes()
        ):
            return None
        with pyro.settings.context(module_local_params=True):
            scale = self.auto.scale
            factor = self.auto.cov_factor * scale.unsqueeze(-1)
        return factor @ factor.T + torch.diag(scale * scale)


def _is_real(support) -> bool:
    from torch.distributions import constraints

    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support is constraints.real
