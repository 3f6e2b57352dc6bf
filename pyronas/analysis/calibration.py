"""How good is q(α)? A guide's draws against a NUTS reference of the same α posterior.

Per guide (``calibration_metrics``), on the op probabilities p = to_weights(α) (the quantity a user
reads, and the same space for a softmax α and a Dirichlet θ):

* ``mean_error``: mean over (edge, op) of |E_q[p] − E_NUTS[p]| (and ``max_error``);
* ``sd_ratio``: median over (edge, op) of sd_q(p) / sd_NUTS(p) (< 1: q is too narrow);
* ``coverage_90``: the share of NUTS draws inside q's central 90 % interval, averaged over (edge, op)
  (0.90 for a calibrated q; lower: overconfident);
* ``argmax_agreement``: the share of edges whose most probable op (by the mean) is the same;
* ``energy_distance``: 2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖ between the two sets of op-probability
  vectors (Székely & Rizzo 2013; 0 iff the distributions are equal);
* ``khat``: the Pareto k̂ of PSIS (``arviz.psislw``) on log w = log p(α, D) − log q(α), α ~ q
  (Yao et al. 2018: k̂ < 0.5 good, < 0.7 usable, above: q misses mass of the target). Undefined for
  a point mass (no density), so NaN there.

``verdict`` turns them and the reference's R-hat/ESS into one plain sentence. ``check_guide`` does all
of it for any α prior, log-likelihood and Pyro guide (NUTS preconditioned by a Laplace fit at the mode,
``pyronas.analysis.preconditioning``); ``reference_check`` for a finished run folder (its trained
supernet with the weights fixed, the first ``images`` images of its architecture split, the
log-likelihood scaled to the split size, and its own guide as the search left it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pyro
import torch
from pyro import poutine

from pyronas.analysis.nuts import NutsResult, alpha_model, run_nuts
from pyronas.analysis.preconditioning import Unconstrained, Whitening, find_modes, laplace
from pyronas.infer.program import ArchPrior, alpha_site

RHAT_MAX, ESS_MIN = 1.01, 400.0  # Vehtari et al. 2021
NARROW, WIDE = 1 / 1.5, 1.5  # sd ratios outside these are "too narrow" / "too wide"


@dataclass
class Calibration:
    """The calibration of one guide against the reference (see the module docstring)."""

    guide: str
    mean_error: float
    max_error: float
    sd_ratio: float
    coverage_90: float
    argmax_agreement: float
    energy_distance: float
    khat: float
    point_mass: bool = False

    def row(self) -> dict[str, float | str | bool]:
        """A dict for a table row."""
        return asdict(self)


def energy_distance(x: np.ndarray, y: np.ndarray, max_points: int = 1000, seed: int = 0) -> float:
    """Energy distance 2E‖X−Y‖ − E‖X−X′‖ − E‖Y−Y′‖ of two samples ``[n, d]`` (V-statistics; at most
    ``max_points`` rows of each, drawn without replacement)."""
    rng = np.random.default_rng(seed)
    x = x[rng.choice(len(x), min(len(x), max_points), replace=False)]
    y = y[rng.choice(len(y), min(len(y), max_points), replace=False)]

    def mean_dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).mean())

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)


def calibration_metrics(
    name: str,
    ref_probs: np.ndarray,
    q_probs: np.ndarray,
    log_weights: np.ndarray | None = None,
) -> Calibration:
    """Compare op-probability draws ``[S, ..., ops]`` of q with those of the reference (any number of
    middle axes: cell kinds, edges); ``log_weights`` log p(α, D) − log q(α) at q's draws for k̂
    (None: a point mass, k̂ = NaN)."""
    r = ref_probs.reshape(len(ref_probs), -1, ref_probs.shape[-1]).astype(np.float64)
    q = q_probs.reshape(len(q_probs), -1, q_probs.shape[-1]).astype(np.float64)  # float64: a point mass has sd 0
    err = np.abs(q.mean(0) - r.mean(0))
    sd_q, sd_r = q.std(0, ddof=1) if len(q) > 1 else q.std(0), r.std(0, ddof=1)
    point = bool(np.all(sd_q < 1e-6))  # a point mass (float noise aside)
    lo, hi = np.quantile(q, [0.05, 0.95], axis=0)
    cover = ((r >= lo) & (r <= hi)).mean(0)
    agree = (q.mean(0).argmax(-1) == r.mean(0).argmax(-1)).mean()
    khat = float("nan")
    if log_weights is not None and not point:
        lw = np.asarray(log_weights, dtype=np.float64)
        _, k = az.psislw(lw - lw.max())
        khat = float(k)
    return Calibration(
        guide=name,
        mean_error=float(err.mean()),
        max_error=float(err.max()),
        sd_ratio=float(np.median(sd_q / np.maximum(sd_r, 1e-12))),
        coverage_90=float(cover.mean()),
        argmax_agreement=float(agree),
        energy_distance=energy_distance(q.reshape(len(q), -1), r.reshape(len(r), -1)),
        khat=khat,
        point_mass=point,
    )


def importance_log_weights(
    guide_fn: Callable[[], object], prior: ArchPrior, log_likelihood: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    num_samples: int = 400, seed: int = 0,
) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """``num_samples`` draws α ~ q from a Pyro guide over the ``alpha/<kind>`` sites, with
    log w = log p(α) + log_likelihood(α) − log q(α) (the ELBO's integrand: a Pyro trace of the guide,
    the α-only model replayed on it). Returns (log w ``[S]``, ``{kind: [S, edges, ops]}``)."""
    model = alpha_model(prior, log_likelihood)
    lws, draws = [], {k: [] for k in prior.arch_shapes}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        pyro.set_rng_seed(seed)
        for _ in range(num_samples):
            g = poutine.trace(guide_fn).get_trace()
            m = poutine.trace(poutine.replay(model, trace=g)).get_trace()
            lws.append(float(m.log_prob_sum() - g.log_prob_sum()))
            for k in draws:
                draws[k].append(g.nodes[f"alpha/{k}"]["value"].detach())
    return np.array(lws), {k: torch.stack(v) for k, v in draws.items()}


def verdict(
    cal: Calibration, max_rhat: float, min_ess: float, divergences: int, rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
) -> str:
    """One plain sentence: whether the reference can be trusted (R-hat ≤ ``rhat_max``, bulk and tail
    ESS ≥ ``ess_min``, no divergences: Stan's standard by default), then how q(α) compares with it."""
    problems = []
    if not max_rhat <= rhat_max:
        problems.append(f"max R-hat {max_rhat:.3f} > {rhat_max}")
    if not min_ess >= ess_min:
        problems.append(f"min ESS {min_ess:.0f} < {ess_min:.0f}")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    if problems:
        return "the reference did not converge: " + ", ".join(problems) + " (run longer chains before reading q)"
    off = f"mean op-probability error {cal.mean_error:.3f}, argmax agrees on {cal.argmax_agreement:.0%} of edges"
    if cal.point_mass:
        return f"q(α) is a point mass: it has no spread to compare ({off})"
    if cal.sd_ratio < NARROW:
        return f"q(α) is {1 / cal.sd_ratio:.1f}× too narrow ({off}; its 90% intervals hold {cal.coverage_90:.0%})"
    if cal.sd_ratio > WIDE:
        return f"q(α) is {cal.sd_ratio:.1f}× too wide ({off}; its 90% intervals hold {cal.coverage_90:.0%})"
    if cal.argmax_agreement < 1 or cal.mean_error > 0.05:
        return f"q(α) has about the right width but sits elsewhere ({off})"
    return f"q(α) agrees with the reference ({off}; sd ratio {cal.sd_ratio:.2f})"


@dataclass
class GuideCheck:
    """The outcome of ``check_guide``: the reference's convergence, the calibration, the verdict."""

    calibration: Calibration
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    nuts_wall_s: float
    verdict: str
    nuts: NutsResult
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict:
        """The JSON-able part (no draws)."""
        keys = ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "nuts_wall_s", "verdict")
        return {"calibration": self.calibration.row(), **{k: getattr(self, k) for k in keys}}


def convergence(alpha: dict[str, torch.Tensor]) -> tuple[float, float, float]:
    """(max R-hat, min bulk ESS, min tail ESS) over every entry of NUTS draws ``{kind: [chains, draws, ...]}``."""
    rhat, bulk, tail = [], [], []
    for v in alpha.values():
        x = v.detach().double().cpu().numpy().reshape(v.shape[0], v.shape[1], -1)
        data = az.convert_to_dataset({"x": x})
        rhat.append(az.rhat(data)["x"].values)
        bulk.append(az.ess(data, method="bulk")["x"].values)
        tail.append(az.ess(data, method="tail")["x"].values)
    return tuple(float(f(np.concatenate(a))) for f, a in ((np.nanmax, rhat), (np.nanmin, bulk), (np.nanmin, tail)))


def nuts_reference(
    prior: ArchPrior,
    log_likelihood: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    start: dict[str, torch.Tensor] | None = None,
    num_chains: int = 4,
    warmup_steps: int = 300,
    num_samples: int = 500,
    max_tree_depth: int = 6,
    disperse: float = 2.0,
    seed: int = 0,
    chain_dir: str | os.PathLike | None = None,
    progress: bool = False,
    mode_iters: int = 300,
) -> NutsResult:
    """NUTS on p(α | D) ∝ p(α) exp(log_likelihood(α)): a mode found by L-BFGS from ``start`` (default
    the origin of the unconstrained space), a Laplace whitening there, ``num_chains`` chains started
    ``disperse`` posterior sds away in random directions, dense mass adaptation; ``chain_dir``: the
    chains (and the whitening) saved and resumed there."""
    space = Unconstrained(prior)
    saved = Path(chain_dir) / "whitening.pt" if chain_dir is not None else None
    if saved is not None and saved.exists():  # a continued check: the same starts as the first call
        w = torch.load(saved, weights_only=True)
        whitening = Whitening(space, w["center"].to(prior.device), w["chol"].to(prior.device))
    else:
        u0 = space.to_u(start) if start is not None else torch.zeros(space.dim, device=prior.device)
        mode = find_modes(space, log_likelihood, [u0], min(100, mode_iters), max(1, mode_iters // 100))[0]
        whitening = laplace(space, log_likelihood, mode.u)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"center": whitening.center.cpu(), "chol": whitening.chol.cpu()}, saved)
    g = torch.Generator().manual_seed(seed)
    zs = disperse * torch.randn(num_chains, space.dim, generator=g).to(whitening.center)
    inits = [{alpha_site(k): v for k, v in whitening.to_alpha(z).items()} for z in zs]
    return run_nuts(
        prior, log_likelihood, num_samples, warmup_steps, num_chains, seed=seed, max_tree_depth=max_tree_depth,
        init=inits, full_mass=True, chain_dir=chain_dir, progress=progress, whitening=whitening,
    )


def check_guide(
    name: str,
    prior: ArchPrior,
    log_likelihood: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    guide_fn: Callable[[], object],
    start: dict[str, torch.Tensor] | None = None,
    num_chains: int = 4,
    warmup_steps: int = 300,
    num_samples: int = 500,
    max_tree_depth: int = 6,
    q_samples: int = 400,
    disperse: float = 2.0,
    seed: int = 0,
    chain_dir: str | os.PathLike | None = None,
    progress: bool = False,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
    mode_iters: int = 300,
) -> GuideCheck:
    """``nuts_reference`` (same arguments) and q's calibration against it: ``q_samples`` draws of
    ``guide_fn`` (a Pyro guide over the ``alpha/<kind>`` sites) with their importance log-weights for
    k̂. ``rhat_max``, ``ess_min``: the verdict's convergence thresholds."""
    result = nuts_reference(prior, log_likelihood, start, num_chains, warmup_steps, num_samples, max_tree_depth,
                            disperse, seed, chain_dir, progress, mode_iters)
    max_rhat, ess_bulk, ess_tail = convergence(result.alpha)
    lw, q_alpha = importance_log_weights(guide_fn, prior, log_likelihood, q_samples, seed)
    kinds = list(prior.arch_shapes)
    ref = np.stack([prior.to_weights(result.alpha[k].flatten(0, 1)).cpu().numpy() for k in kinds], 1)
    q = np.stack([prior.to_weights(q_alpha[k]).cpu().numpy() for k in kinds], 1)
    cal = calibration_metrics(name, ref, q, lw)
    divergences = int(sum(result.divergences))
    text = verdict(cal, max_rhat, min(ess_bulk, ess_tail), divergences, rhat_max, ess_min)
    return GuideCheck(cal, max_rhat, ess_bulk, ess_tail, divergences, sum(result.chain_wall), text, result)


def reference_check(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    images: int = 64,
    num_chains: int = 4,
    warmup_steps: int = 300,
    num_samples: int = 500,
    max_tree_depth: int = 6,
    q_samples: int = 400,
    seed: int = 0,
    progress: bool = True,
) -> GuideCheck:
    """``pyronas diagnose RUN --reference nuts``: the run's q(α) against a NUTS reference of the
    posterior its ELBO targets, with its weights fixed (q(w)'s means where the weights are random).

    The target: p(α) · Π_n Cat(y_n | supernet(x_n; α, w))^{N/m} on the first ``images`` images of
    the architecture split (BatchNorm with its running statistics), N the split size. Chains are
    saved in ``OUT/reference/chains`` (OUT: ``out_dir``, default the run folder), so a stopped check
    continues where it stopped; ``reference_check.json`` holds the table row and the verdict."""
    from pyronas.analysis.diagnostics import load_search
    from pyronas.analysis.nuts import supernet_log_likelihood

    run = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else (run.parent if run.is_file() else run)
    search = load_search(run)
    model, guide = search.model, search.guide
    for prm in model.parameters():
        prm.requires_grad_(False)
    model.eval()
    data = search.arch_data
    x, y = data.x[:images], data.y[:images]
    weights = guide.weights.pruned_means() if model.prior.weight_shapes else None
    loglik = supernet_log_likelihood(model, x, y, len(data), weights)
    start = {k: v.mean(0) for k, v in guide.sample_alpha(256).items()}
    name = type(guide.alpha_guide).__name__

    def guide_fn() -> None:
        guide.alpha_guide(None, None, len(data))

    check = check_guide(
        name, model.prior, loglik, guide_fn, start, num_chains, warmup_steps, num_samples, max_tree_depth, q_samples,
        seed=seed, chain_dir=out / "reference" / "chains", progress=progress,
    )
    check.files["json"] = out / "reference" / "reference_check.json"
    summary = {"run": str(run), "images": len(y), "n_data": len(data), "chains": num_chains,
               "warmup": warmup_steps, "draws": num_samples, **check.summary()}
    check.files["json"].write_text(json.dumps(summary, indent=1))
    return check
