"""Gaussian-process surrogate of Bayesian-optimisation NAS, built on ``pyro.contrib.gp``.

Snoek et al. (2012), "Practical Bayesian Optimization of Machine Learning Algorithms": a GP with a
constant mean ``m``, a kernel of amplitude ``theta_0`` and length scales ``theta_1..theta_D``
(``pyronas.bo.kernels``: ARD Matern-5/2, ARD SE, exponentiated Hamming, exponentiated WL), and Gaussian
observation noise ``nu`` -- ``D + 3`` hyperparameters.

Observations are standardised and the hyperparameters get weakly-informative priors (log-normal
length scales, amplitude and noise; normal mean), so that automatic relevance determination can
push the length scale of an irrelevant input far out. The hyperparameters are either a MAP point
estimate (maximising marginal likelihood x prior) or samples of their posterior drawn with NUTS
(for the integrated acquisition function).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pyro
import pyro.contrib.gp as gp
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS
from pyro.nn import PyroParam, PyroSample
from torch.distributions import constraints

from pyronas.bo.kernels import KERNELS, lengthscale_dim

logger = logging.getLogger(__name__)

# Keep GP parameters inside their modules, away from Pyro's global param store (two GPs built in
# one process would otherwise share "kernel.lengthscale" etc. through it).
_local_params = pyro.settings.context(module_local_params=True)


@dataclass
class GPHypers:
    """One setting of the ``D + 3`` GP hyperparameters (standardised-observation units)."""

    mean: torch.Tensor  # m, scalar
    variance: torch.Tensor  # theta_0, scalar
    lengthscale: torch.Tensor  # theta_1..theta_D, [D]
    noise: torch.Tensor  # nu, scalar

    def detach(self) -> GPHypers:
        """A detached copy (no graph to the fit that produced it)."""
        return GPHypers(*(t.detach().clone() for t in (self.mean, self.variance, self.lengthscale, self.noise)))


@dataclass
class GPPriors:
    """Weakly-informative hyperparameter priors (log-normal ones are given as ``(loc, scale)`` of the log).

    ``lengthscale=None`` is the dimension-scaled log-normal of Hvarfner et al. (2024),
    ``log theta_d ~ N(sqrt(2) + log(D) / 2, 3)``: a unit-median prior (``(0, 1)``) was seen to trap the MAP
    fit on one-hot NAS encodings in a solution with all length scales short and equal (no ARD).
    """

    lengthscale: tuple[float, float] | None = None
    variance: tuple[float, float] = (0.0, 1.0)
    noise: tuple[float, float] = (math.log(1e-2), 2.0)
    mean_scale: float = 1.0

    def lengthscale_loc_scale(self, dim: int) -> tuple[float, float]:
        """(loc, scale) of log θ_d for ``dim`` inputs: the given pair, or the dimension-scaled default."""
        if self.lengthscale is None:
            return math.sqrt(2.0) + 0.5 * math.log(dim), math.sqrt(3.0)
        return self.lengthscale

    def distributions(self, dim: int) -> dict[str, dist.Distribution]:
        """The prior of every hyperparameter as a Pyro distribution, for ``dim`` inputs."""
        ls_loc, ls_scale = self.lengthscale_loc_scale(dim)
        return {
            "lengthscale": dist.LogNormal(torch.full((dim,), float(ls_loc)), float(ls_scale)).to_event(1),
            "variance": dist.LogNormal(torch.tensor(float(self.variance[0])), float(self.variance[1])),
            "noise": dist.LogNormal(torch.tensor(float(self.noise[0])), float(self.noise[1])),
            "mean": dist.Normal(torch.tensor(0.0), float(self.mean_scale)),
        }


class ConstantMean(gp.Parameterized):
    """Constant GP mean function ``m(x) = m``."""

    def __init__(self, m: float | torch.Tensor = 0.0):
        super().__init__()
        self.m = torch.nn.Parameter(torch.as_tensor(m, dtype=torch.get_default_dtype()).clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The constant mean m at every row of X."""
        return self.m * X.new_ones(X.shape[0])


@dataclass
class Standardizer:
    """``y -> (y - loc) / scale`` with the sample mean and standard deviation of the observations."""

    loc: float
    scale: float

    @classmethod
    def fit(cls, y: torch.Tensor) -> Standardizer:
        """The standardiser of ``y`` (mean, standard deviation; scale 1 when y is constant)."""
        scale = float(y.std()) if y.numel() > 1 else 1.0
        return cls(float(y.mean()), scale if scale > 1e-12 else 1.0)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.loc) / self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Standardised values back to the original scale."""
        return y * self.scale + self.loc


def default_hypers(dim: int, priors: GPPriors | None = None) -> GPHypers:
    """A neutral starting point: m = 0, theta_0 = 1, theta_d = prior median, nu = 0.01."""
    loc, _ = (priors or GPPriors()).lengthscale_loc_scale(dim)
    return GPHypers(torch.tensor(0.0), torch.tensor(1.0), torch.full((dim,), math.exp(loc)), torch.tensor(1e-2))


@_local_params
def make_gpr(
    X: torch.Tensor, y: torch.Tensor, hypers: GPHypers, kernel: str = "matern52", jitter: float = 1e-6
) -> gp.models.GPRegression:
    """A ``GPRegression`` with fixed hyperparameters (no priors): used for prediction."""
    k = KERNELS[kernel](input_dim=X.shape[1], variance=hypers.variance.clone(), lengthscale=hypers.lengthscale.clone())
    return gp.models.GPRegression(
        X, y, k, noise=hypers.noise.clone(), mean_function=ConstantMean(hypers.mean), jitter=jitter
    )


@_local_params
def make_gpr_with_priors(
    X: torch.Tensor, y: torch.Tensor, priors: GPPriors, kernel: str = "matern52", init: GPHypers | None = None,
    jitter: float = 1e-6,
) -> gp.models.GPRegression:
    """A ``GPRegression`` whose ``D + 3`` hyperparameters are Pyro sample sites with ``priors``.

    In ``model`` mode the sites are drawn from the priors (what NUTS sees); in ``guide`` mode they
    are Delta (MAP) point estimates initialised at ``init``.
    """
    init = init or default_hypers(lengthscale_dim(kernel, X), priors)
    gpr = make_gpr(X, y, init, kernel, jitter)
    d = priors.distributions(lengthscale_dim(kernel, X))
    gpr.kernel.lengthscale = PyroSample(d["lengthscale"])
    gpr.kernel.variance = PyroSample(d["variance"])
    gpr.noise = PyroSample(d["noise"])
    gpr.mean_function.m = PyroSample(d["mean"])
    # initialise the MAP (Delta) guides deterministically instead of at a prior draw
    gpr.kernel.lengthscale_map = PyroParam(init.lengthscale.clone(), constraints.positive)
    gpr.kernel.variance_map = PyroParam(init.variance.clone(), constraints.positive)
    gpr.noise_map = PyroParam(init.noise.clone().clamp_min(1e-6), constraints.positive)
    gpr.mean_function.m_map = torch.nn.Parameter(init.mean.clone())
    return gpr


@_local_params
def _read_hypers(gpr: gp.models.GPRegression) -> GPHypers:
    gpr.set_mode("guide")
    return GPHypers(gpr.mean_function.m, gpr.kernel.variance, gpr.kernel.lengthscale, gpr.noise).detach()


def _raise_unless_probe_failure(e: Exception) -> None:
    """Re-raise ``e`` unless it is what an L-BFGS probe too far out produces: a kernel matrix that is not positive
    definite, or a hyperparameter that underflowed to 0, outside its prior's support (Pyro's validation error)."""
    if not isinstance(e, torch.linalg.LinAlgError) and "support" not in str(e):
        raise e


@_local_params
def fit_map(
    X: torch.Tensor,
    y: torch.Tensor,
    priors: GPPriors | None = None,
    kernel: str = "matern52",
    init: GPHypers | None = None,
    steps: int = 200,
    lr: float = 0.05,
    optimizer: str = "adam",
) -> tuple[GPHypers, float]:
    """MAP hyperparameters: maximise ``log p(y | X, theta) + log p(theta)`` (Delta guides, Trace_ELBO).

    ``y`` should be standardised. ``optimizer``: ``adam`` (``steps`` steps of size ``lr``) or ``lbfgs``
    (one L-BFGS run of at most ``steps`` iterations with a strong-Wolfe line search). Returns the
    hyperparameters and the final negative log joint ``-log p(y, theta | X)`` (to pick among restarts).
    """
    priors = priors or GPPriors()
    gpr = make_gpr_with_priors(X, y, priors, kernel, init)
    loss_fn = pyro.infer.Trace_ELBO().differentiable_loss
    if optimizer == "adam":
        gp.util.train(gpr, torch.optim.Adam(gpr.parameters(), lr=lr), loss_fn, num_steps=steps)
    elif optimizer == "lbfgs":
        opt = torch.optim.LBFGS(gpr.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")
        try:
            gp.util.train(gpr, opt, loss_fn, num_steps=1)
        except (torch.linalg.LinAlgError, ValueError) as e:  # a line-search probe too far out
            _raise_unless_probe_failure(e)
            logger.debug("GP MAP fit: L-BFGS stopped on a probe outside the model (%s)", type(e).__name__)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: adam, lbfgs")
    with torch.no_grad():
        try:
            loss = float(loss_fn(gpr.model, gpr.guide))
        except (torch.linalg.LinAlgError, ValueError) as e:  # the caller falls back to another fit
            _raise_unless_probe_failure(e)
            loss = float("inf")
    logger.debug("GP MAP fit: final loss %.4f", loss)
    return _read_hypers(gpr), loss


@_local_params
def fit_nuts(
    X: torch.Tensor,
    y: torch.Tensor,
    priors: GPPriors | None = None,
    kernel: str = "matern52",
    num_samples: int = 20,
    warmup_steps: int = 50,
    thin: int = 1,
    max_tree_depth: int = 6,
    init: GPHypers | None = None,
) -> list[GPHypers]:
    """Posterior samples of the hyperparameters with Pyro's NUTS (Snoek et al.'s integrated treatment)."""
    priors = priors or GPPriors()
    init = init or default_hypers(lengthscale_dim(kernel, X), priors)
    gpr = make_gpr_with_priors(X, y, priors, kernel, init)
    values = {"lengthscale": init.lengthscale, "variance": init.variance, "noise": init.noise.clamp_min(1e-6),
              "m": init.mean}
    sites = pyro.poutine.trace(gpr.model).get_trace().stochastic_nodes
    names = {name: values[name.split(".")[-1]] for name in sites}
    kernel_ = NUTS(
        gpr.model, max_tree_depth=max_tree_depth, init_strategy=pyro.infer.autoguide.init_to_value(values=names)
    )
    mcmc = MCMC(kernel_, num_samples=num_samples * thin, warmup_steps=warmup_steps, disable_progbar=True)
    mcmc.run()
    s = mcmc.get_samples()
    full = {k.split(".")[-1]: v for k, v in s.items()}
    out = []
    for i in range(0, num_samples * thin, thin):
        out.append(GPHypers(full["m"][i], full["variance"][i], full["lengthscale"][i], full["noise"][i]).detach())
    return out


class GPPosterior:
    """GP posterior under fixed hyperparameters, over inputs ``X`` and standardised observations ``y``."""

    #: Jitter added to the kernel matrix's diagonal, escalated in turn when the Cholesky factorisation fails (two
    #: evaluated cells with one encoding, e.g. a re-query or two cells with the same paths, and a tiny MAP noise).
    JITTERS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)

    def __init__(self, X: torch.Tensor, y: torch.Tensor, hypers: GPHypers, kernel: str = "matern52"):
        self.X, self.y, self.hypers, self.kernel = X, y, hypers, kernel
        self.jitter = self.JITTERS[0]
        self.gpr = make_gpr(X, y, hypers, kernel, self.jitter)

    def _safe(self, fn):
        """``fn(gpr)``, retried with the next larger jitter while the kernel matrix is not positive definite."""
        while True:
            try:
                return fn(self.gpr)
            except torch.linalg.LinAlgError:
                larger = [j for j in self.JITTERS if j > self.jitter]
                if not larger:
                    raise
                self.jitter = larger[0]
                logger.debug("GP posterior: Cholesky failed, jitter raised to %g", self.jitter)
                self.gpr = make_gpr(self.X, self.y, self.hypers, self.kernel, self.jitter)

    @torch.no_grad()
    @_local_params
    def predict(self, Xnew: torch.Tensor, full_cov: bool = False, noiseless: bool = True, chunk: int = 4096):
        """Posterior mean and variance (or covariance) of the latent ``f`` (plus noise if not ``noiseless``)."""
        if full_cov:
            return self._safe(lambda gpr: gpr(Xnew, full_cov=True, noiseless=noiseless))
        mus, vs = [], []
        for start in range(0, Xnew.shape[0], chunk):
            rows = Xnew[start : start + chunk]
            mu, var = self._safe(lambda gpr, rows=rows: gpr(rows, full_cov=False, noiseless=noiseless))
            mus.append(mu)
            vs.append(var.clamp_min(0.0))
        return torch.cat(mus), torch.cat(vs)

    @_local_params
    def incumbent(self) -> float:
        """Noisy incumbent: the highest posterior mean among the evaluated points (Brochu et al.)."""
        mu, _ = self.predict(self.X)
        return float(mu.max())

    def condition(self, Xp: torch.Tensor, yp: torch.Tensor) -> GPPosterior:
        """The same GP with extra (e.g. fantasised) observations appended."""
        return GPPosterior(torch.cat([self.X, Xp]), torch.cat([self.y, yp]), self.hypers, self.kernel)

    @torch.no_grad()
    @_local_params
    def sample_fantasies(self, Xp: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Joint draws ``[n, len(Xp)]`` of noisy outcomes at pending points from the posterior predictive."""
        mu, cov = self._safe(lambda gpr: gpr(Xp, full_cov=True, noiseless=False))
        eye = torch.eye(Xp.shape[0], dtype=cov.dtype)
        L = torch.linalg.cholesky(cov + 1e-8 * eye)
        eps = torch.randn(n, Xp.shape[0], generator=generator, dtype=cov.dtype)
        return mu + eps @ L.T


