"""A NUTS reference posterior for α, and its comparison with a VI guide's q(α) in ArviZ.

For a trained supernet with its weights fixed (point estimates, or q(w)'s means), the
architecture posterior on a fixed subset D = {(x_n, y_n)}_{n=1..m} of the architecture split is

    p(α | D) ∝ p(α) · Π_n Cat(y_n | supernet(x_n; to_weights(α), w))^{N/m}

(``n_data = N`` scales the subset's log-likelihood to the split size, as the search's ELBO does;
``n_data = m`` is the plain subset posterior). ``alpha_model`` builds this α-only Pyro model from the
α prior and *any* log-likelihood of α (``supernet_log_likelihood`` for the supernet, a closed form in
the tests); NUTS (Hoffman & Gelman 2014, ``pyro.infer.mcmc``) samples it in the prior's
unconstrained space (a Dirichlet prior's θ via stick breaking). Chains run one after the other,
each with its own seed and starting point (``dispersed_inits``), so R-hat and ESS across chains are
meaningful (``compare``); with ``chain_dir`` each finished chain is saved and a later call resumes.
``whitening`` samples the same posterior in Laplace-whitened coordinates
(``pyronas.analysis.preconditioning``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pyro
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyro.distributions.transforms import biject_to
from pyro.infer.autoguide.initialization import init_to_value

from pyronas.analysis.diagnostics import PosteriorDraws, draw_posterior, summary_table, to_inference_data
from pyronas.analysis.preconditioning import Z_SITE, Whitening, whitened_model
from pyronas.infer.program import ArchGuide, ArchPrior, SupernetModel, alpha_site
from pyronas.nn.spaces import SearchSpace
from pyronas.progress import Progress

logger = logging.getLogger(__name__)

LogLikelihood = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def alpha_model(prior: ArchPrior, log_likelihood: LogLikelihood) -> Callable[[], None]:
    """The α-only model: α ~ p(α) at every ``alpha/<kind>`` site, then ``pyro.factor(log_likelihood(α))``.

    Its potential U(α) = −log p(α) − log_likelihood(α) is what NUTS samples.
    """

    def model() -> None:
        alpha = {k: pyro.sample(alpha_site(k), prior.alpha_dist(k)) for k in prior.arch_shapes}
        pyro.factor("log_likelihood", log_likelihood(alpha))

    return model


def supernet_log_likelihood(
    model: SupernetModel,
    x: torch.Tensor,
    y: torch.Tensor,
    n_data: int | None = None,
    weights: dict[str, torch.Tensor] | None = None,
    batch_size: int = 256,
) -> LogLikelihood:
    """α ↦ (N/m) Σ_n log Cat(y_n | supernet(x_n; to_weights(α), w)) on the fixed subset (x, y).

    Args:
        model: the trained program (its prior's ``to_weights`` and its supernet).
        x, y: the fixed subset (m images).
        n_data: N, the size the log-likelihood is scaled to (default m: the subset posterior).
        weights: ``{parameter name: tensor}`` to plug into the supernet (required when the prior makes
            weights random: e.g. q(w)'s means ``guide.weights.pruned_means()``); default its own.
        batch_size: forward the subset in chunks of this size (the same chunks every call).
    """
    if model.prior.weight_shapes and weights is None:
        raise ValueError("the prior makes the weights random: pass fixed weights (e.g. guide.weights.pruned_means())")
    scale = (n_data or len(y)) / len(y)
    net = model.supernet

    def log_likelihood(alpha: dict[str, torch.Tensor]) -> torch.Tensor:
        mix = {k: model.prior.to_weights(a) for k, a in alpha.items()}
        total = x.new_zeros(())
        for i in range(0, len(y), batch_size):
            xb = x[i : i + batch_size]
            logits = torch.func.functional_call(net, weights, (xb, mix), strict=False) if weights else net(xb, mix)
            total = total + torch.distributions.Categorical(logits=logits).log_prob(y[i : i + batch_size]).sum()
        return scale * total

    return log_likelihood


@dataclass
class NutsResult:
    """NUTS draws ``{kind: [chains, draws, edges, ops]}`` of the α sites, and how they were made
    (per chain: acceptance rate, adapted step size, divergent transitions, wall time)."""

    alpha: dict[str, torch.Tensor]
    wall_time: float
    num_chains: int
    num_samples: int
    warmup_steps: int
    accept_prob: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    divergences: list[int] = field(default_factory=list)
    chain_wall: list[float] = field(default_factory=list)


def _default_init(prior: ArchPrior) -> dict[str, torch.Tensor]:
    """α at the origin of the unconstrained space: 0 for real α, the simplex centre for θ."""
    return dispersed_inits(prior, 1, scale=0.0)[0]


def dispersed_inits(
    prior: ArchPrior, num_chains: int, center: dict[str, torch.Tensor] | None = None, scale: float = 1.0, seed: int = 0
) -> list[dict[str, torch.Tensor]]:
    """``num_chains`` starting points ``{alpha/<kind>: value}``: ``center`` (default the origin) plus
    ``scale`` · N(0, 1) in the prior's unconstrained space, so chains start apart and R-hat can see
    a chain that did not reach the bulk (Vehtari et al. 2021, section 2)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num_chains):
        values = {}
        for k in prior.arch_shapes:
            d = prior.alpha_dist(k)
            t = biject_to(d.support)
            shape = t.inverse_shape(d.shape())
            u = torch.zeros(shape) if center is None else t.inv(center[k].detach().cpu().float())
            u = u + scale * torch.randn(shape, generator=g)
            values[alpha_site(k)] = t(u).to(prior.device)
        out.append(values)
    return out


def _chain_settings(num_samples: int, warmup_steps: int, seed: int, max_tree_depth: int, full_mass: bool) -> dict:
    return {
        "num_samples": num_samples, "warmup_steps": warmup_steps, "seed": seed,
        "max_tree_depth": max_tree_depth, "full_mass": full_mass,
    }


def run_nuts(
    prior: ArchPrior,
    log_likelihood: LogLikelihood,
    num_samples: int = 200,
    warmup_steps: int = 100,
    num_chains: int = 2,
    seed: int = 0,
    max_tree_depth: int = 6,
    init: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]] | None = None,
    target_accept_prob: float = 0.8,
    full_mass: bool = False,
    chain_dir: str | os.PathLike | None = None,
    progress: bool = False,
    whitening: Whitening | None = None,
    only: Sequence[int] | None = None,
) -> NutsResult | None:
    """Sample p(α | D) with NUTS, ``num_chains`` chains one after the other (chain c: seed + c).

    Args:
        prior: the α prior (``model.prior``).
        log_likelihood: α ↦ log-likelihood (``supernet_log_likelihood`` or a closed form).
        init: ``{kind: α}`` starting point of every chain (e.g. the VI guide's mean), or a list of
            ``num_chains`` such points (``dispersed_inits``); default the origin of the unconstrained
            space (improper priors cannot be sampled for an init).
        max_tree_depth: NUTS tree depth cap (at most 2^depth − 1 leapfrog steps per draw).
        full_mass: adapt a dense mass matrix in warm-up (a softmax α is invariant to adding a constant
            per edge, so its posterior ridge is not axis-aligned and a diagonal mass matrix needs deep
            trees to cross it).
        chain_dir: save each finished chain as ``chain_<c>.pt`` there and load the chains already
            saved with the same settings: a long reference can be stopped and continued chain by chain.
        progress: report progress over chains × (warm-up + draws) (``pyronas.progress.Progress``).
        whitening: sample z with α = T(u* + L z) instead of α (``pyronas.analysis.preconditioning``:
            the same posterior, preconditioned by a Laplace fit); the draws are returned as α.
        only: sample only these chains (with ``chain_dir``: separate processes can share one reference's
            chains); the result is None while another chain is not saved yet.
    """
    if only is not None and chain_dir is None:
        raise ValueError("only: sampling a subset of the chains needs chain_dir (where the others are saved)")
    model = alpha_model(prior, log_likelihood) if whitening is None else whitened_model(whitening, log_likelihood)
    if init is None:
        inits = [_default_init(prior)] * num_chains
    elif isinstance(init, dict):
        inits = [{alpha_site(k): v.detach() for k, v in init.items()}] * num_chains
    else:
        if len(init) != num_chains:
            raise ValueError(f"init: {len(init)} starting points for {num_chains} chains")
        inits = [{(k if k.startswith("alpha/") else alpha_site(k)): v.detach() for k, v in i.items()} for i in init]
    folder = Path(chain_dir) if chain_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    chains: dict[str, list[torch.Tensor]] = {k: [] for k in prior.arch_shapes}
    stats: dict[str, list] = {"accept": [], "step_size": [], "divergences": [], "wall": []}
    per_chain = warmup_steps + num_samples
    bar = Progress(num_chains * per_chain, desc="NUTS", unit="draw", enabled=progress)
    start = time.perf_counter()
    for c in range(num_chains):
        settings = _chain_settings(num_samples, warmup_steps, seed + c, max_tree_depth, full_mass)
        path = folder / f"chain_{c}.pt" if folder is not None else None
        if only is not None and c not in only and not path.exists():
            bar.update(per_chain, chain=c + 1)
            continue
        if path is not None and path.exists():
            saved = torch.load(path, weights_only=True)
            if saved["settings"] != settings:
                raise ValueError(
                    f"{path} was sampled with {saved['settings']}, not {settings}: delete it or change chain_dir"
                )
            bar.update(per_chain, chain=c + 1)
        else:
            if whitening is not None:  # start at the same α, in z coordinates
                init_c = {Z_SITE: whitening.to_z(whitening.space.to_u(inits[c]))}
            else:
                init_c = inits[c]
            saved = _run_chain(model, init_c, settings, target_accept_prob, bar, c)
            if whitening is not None:
                saved["alpha"] = {k: v.detach() for k, v in whitening.to_alpha(saved["alpha"].pop("_z")).items()}
            if path is not None:
                torch.save(saved, path)
        for k in chains:
            chains[k].append(saved["alpha"][k].to(prior.device))
        for key in stats:
            stats[key].append(saved[key])
        logger.info("NUTS chain %d/%d: %.1f s, %d divergent", c + 1, num_chains, saved["wall"], saved["divergences"])
    bar.close()
    if any(len(v) < num_chains for v in chains.values()):
        return None  # ``only``: another process has chains still to save
    wall = time.perf_counter() - start
    alpha = {k: torch.stack(v) for k, v in chains.items()}
    return NutsResult(alpha, wall, num_chains, num_samples, warmup_steps, stats["accept"], stats["step_size"],
                      stats["divergences"], stats["wall"])


def _run_chain(
    model: Callable[[], None], init: dict[str, torch.Tensor], settings: dict, target_accept_prob: float,
    bar: Progress, chain: int,
) -> dict:
    """One NUTS chain: its draws ``{kind: [draws, ...]}`` on the CPU and its statistics."""
    pyro.set_rng_seed(settings["seed"])
    kernel = pyro.infer.mcmc.NUTS(
        model,
        max_tree_depth=settings["max_tree_depth"],
        target_accept_prob=target_accept_prob,
        full_mass=settings["full_mass"],
        init_strategy=init_to_value(values=init),
    )

    def hook(kernel, params, stage, i) -> None:  # noqa: ANN001  (pyro's hook_fn signature)
        bar.update(1, chain=chain + 1, stage=stage.lower())

    t0 = time.perf_counter()
    mcmc = pyro.infer.mcmc.MCMC(kernel, num_samples=settings["num_samples"], warmup_steps=settings["warmup_steps"],
                                disable_progbar=True, hook_fn=hook)
    mcmc.run()
    draws = mcmc.get_samples()
    diag = mcmc.diagnostics()
    return {
        "alpha": {k[len(alpha_site("")):]: v.detach().cpu() for k, v in draws.items()},
        "accept": float(diag.get("acceptance rate", {}).get("chain 0", float("nan"))),
        "step_size": float(kernel.step_size),
        "divergences": len(diag.get("divergences", {}).get("chain 0", [])),
        "wall": time.perf_counter() - t0,
        "settings": settings,
    }


def nuts_inference_data(result: NutsResult, prior: ArchPrior, space: SearchSpace) -> az.InferenceData:
    """The NUTS chains as ``InferenceData`` (variables α or θ, and op_probs = to_weights(α))."""
    raw_name = "theta" if prior.support == "simplex" else "alpha"
    chains = []
    for c in range(result.num_chains):
        raw = {k: v[c].float().cpu().numpy() for k, v in result.alpha.items()}
        probs = {k: prior.to_weights(v[c]).float().cpu().numpy() for k, v in result.alpha.items()}
        chains.append(PosteriorDraws(raw, probs, raw_name, {"method": "NUTS"}))
    return to_inference_data(chains, space, {"wall_time_s": result.wall_time})


@dataclass
class Comparison:
    """NUTS vs VI: both posteriors, the side-by-side table, the NUTS convergence figures."""

    nuts: az.InferenceData
    vi: az.InferenceData
    table: pd.DataFrame
    max_rhat: float
    min_ess_bulk: float
    files: dict[str, Path] = field(default_factory=dict)


def compare(
    result: NutsResult,
    prior: ArchPrior,
    guide: ArchGuide,
    space: SearchSpace,
    num_samples: int = 1000,
    var_name: str = "op_probs",
    out_dir: str | os.PathLike | None = None,
) -> Comparison:
    """Per-op posterior means and 94% HDIs of NUTS and of q(α) side by side (``var_name``: op_probs
    or the raw α), with R-hat and bulk ESS of the NUTS chains; writes ``nuts.nc``, ``vi.nc``,
    ``nuts_vs_vi.csv`` and ``nuts_vs_vi.png`` into ``out_dir`` when given."""
    nuts = nuts_inference_data(result, prior, space)
    vi = to_inference_data([draw_posterior(guide, space, num_samples, seed=0)], space)
    raw = nuts.posterior.attrs["raw_variable"]
    name = raw if var_name != "op_probs" else "op_probs"
    if name not in vi.posterior:
        other = vi.posterior.attrs["raw_variable"]
        raise ValueError(f"the VI guide has no variable {name!r} (its raw variable is {other!r})")
    a, b = summary_table(nuts, name), summary_table(vi, name)
    keys = ["cell", "edge", "op"]
    cols = [c for c in a.columns if c not in keys]
    table = a.rename(columns={c: f"nuts_{c}" for c in cols}).merge(
        b[keys + ["mean", "sd", *[c for c in cols if c.startswith("hdi_")]]].rename(
            columns={c: f"vi_{c}" for c in cols}
        ),
        on=keys,
    )
    table = table.drop(columns=["nuts_chain_spread"])
    out = Comparison(nuts, vi, table, float(np.nanmax(a["r_hat"])), float(np.nanmin(a["ess_bulk"])))
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        nuts.to_netcdf(str(d / "nuts.nc"))
        vi.to_netcdf(str(d / "vi.nc"))
        table.to_csv(d / "nuts_vs_vi.csv", index=False, float_format="%.6g")
        out.files = {"nuts": d / "nuts.nc", "vi": d / "vi.nc", "csv": d / "nuts_vs_vi.csv"}
        out.files["png"] = plot_comparison(table, d / "nuts_vs_vi.png", name)
    return out


def plot_comparison(table: pd.DataFrame, path: str | os.PathLike, var_name: str = "op_probs") -> Path:
    """Per-op means with 94% HDI bars, NUTS (black) next to VI (orange), one row per cell kind."""
    lo, hi = [c for c in table.columns if c.startswith("nuts_hdi_")]  # summary_table: lower, then upper
    kinds = list(dict.fromkeys(table["cell"]))
    fig = Figure(figsize=(max(8.0, 0.12 * len(table) / len(kinds)), 3.2 * len(kinds)))
    axes = fig.subplots(len(kinds), 1, squeeze=False)[:, 0]
    for ax, kind in zip(axes, kinds, strict=True):
        t = table[table["cell"] == kind].reset_index(drop=True)
        i = np.arange(len(t))
        for prefix, color, shift in (("nuts", "k", -0.15), ("vi", "tab:orange", 0.15)):
            m = t[f"{prefix}_mean"].to_numpy()
            err = np.stack([m - t[lo.replace("nuts", prefix)].to_numpy(), t[hi.replace("nuts", prefix)].to_numpy() - m])
            ax.errorbar(i + shift, m, yerr=np.abs(err), fmt="o", ms=2.5, lw=0.8, color=color, label=prefix.upper())
        for e in range(1, t["edge"].nunique()):
            ax.axvline(e * t["op"].nunique() - 0.5, color="0.85", lw=0.6)
        ax.set_xticks(i, [f"{e}:{o}" for e, o in zip(t["edge"], t["op"], strict=True)], rotation=90, fontsize=5)
        ax.set_ylabel(var_name)
        ax.set_title(f"{kind}: posterior mean and 94% HDI per op, NUTS vs VI", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    FigureCanvasAgg(fig).print_png(str(path))
    return path
