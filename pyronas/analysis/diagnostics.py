"""The architecture posterior as an ArviZ ``InferenceData``: draws, R-hat / ESS across seeds, summary.

Every ArviZ call of the project lives in this module (ArviZ 0.23 ``from_dict`` /
``InferenceData`` API; moving to ArviZ 1.x = ``arviz_base.from_dict`` / DataTree is this file's
change only).

For a trained guide q(α) the posterior group holds, per cell kind, edge and operation,

* the raw architecture variable: ``alpha`` (real-valued α, softmax mixing weights, DARTS eq. 2)
  or ``theta`` (simplex-valued θ of a Dirichlet family, DrNAS / BaLeNAS-style);
* ``op_probs`` = to_weights(α), the mixing weights the supernet uses.

with dims ``(chain, draw, cell, edge, op)``. For a correlated guide (``guide.correlated``: a
low-rank MVN or a flow over all α) the group ``alpha_correlation`` holds the correlation matrix of
the raw variable over the (cell, edge, op) coordinates, computed from the same posterior draws
(``add_alpha_correlation``). Runs of the same config with different seeds are
the chains: the rank-normalised split R-hat of Vehtari et al. (2021) of each op probability
across seeds measures how reproducible the search is (R-hat ≈ 1: every seed found the same
posterior; ≫ 1: the seeds disagree).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import torch
import xarray as xr
from pyro.distributions import constraints

from pyronas.infer.program import ArchGuide
from pyronas.nn.spaces import SearchSpace

logger = logging.getLogger(__name__)

DIMS = ("cell", "edge", "op")
RHAT_THRESHOLD = 1.01
HDI_PROB = 0.94


@dataclass
class PosteriorDraws:
    """``S`` draws of one run's architecture variables, ``{kind: [S, edges, ops]}`` (full op set)."""

    raw: dict[str, np.ndarray]
    probs: dict[str, np.ndarray]
    raw_name: str = "alpha"
    attrs: dict[str, str] = field(default_factory=dict)


def _is_simplex(guide: ArchGuide, kind: str, sample: torch.Tensor) -> bool:
    """True when the guide's site lives on the simplex (θ of a Dirichlet), else real-valued α."""
    try:
        support = guide.alpha_dist(kind).support
        while isinstance(support, constraints.independent):
            support = support.base_constraint
        return support is constraints.simplex
    except NotImplementedError:
        s = sample.double()
        return bool((s >= 0).all() and torch.allclose(s.sum(-1), torch.ones(()).double(), atol=1e-5))


def _full(values: torch.Tensor, space: SearchSpace, kind: str, supernet, fill: float) -> torch.Tensor:
    """Scatter ``[S, E, O']`` values of pruned candidates to the space's ``O`` ops (absent: ``fill``)."""
    if values.shape[-1] == space.num_ops:
        return values
    if supernet is None:
        raise ValueError(f"{kind}: {values.shape[-1]} ops per edge but the space has {space.num_ops}; pass supernet")
    out = values.new_full(values.shape[:-1] + (space.num_ops,), fill)
    for e, names in enumerate(supernet.candidate_ops(kind)):
        idx = torch.tensor([space.ops.index(n) for n in names])
        out[..., e, idx] = values[..., e, :]
    return out


@torch.no_grad()
def draw_posterior(
    guide: ArchGuide, space: SearchSpace, num_samples: int = 1000, seed: int = 0, supernet=None
) -> PosteriorDraws:
    """``num_samples`` draws of α ~ q(α) and of op_probs = to_weights(α) for every cell kind.

    Sampled under a forked, seeded RNG (reproducible; never perturbs a running search). Pruned
    supernets (fewer candidate ops per edge) are scattered back to the full op set with ``supernet``:
    absent ops get probability 0 and raw value NaN.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        alpha = guide.sample_alpha(num_samples)
    kinds = [k for k in space.cell_kinds if k in alpha]
    simplex = _is_simplex(guide, kinds[0], alpha[kinds[0]])
    raw, probs = {}, {}
    for kind in kinds:
        a = alpha[kind].detach().float().cpu()
        p = guide.to_weights(alpha[kind]).detach().float().cpu()
        raw[kind] = _full(a, space, kind, supernet, float("nan")).numpy()
        probs[kind] = _full(p, space, kind, supernet, 0.0).numpy()
    return PosteriorDraws(raw, probs, "theta" if simplex else "alpha", {"guide": type(guide).__name__})


def to_inference_data(
    chains: Sequence[PosteriorDraws], space: SearchSpace, attrs: dict[str, str | int | float] | None = None
) -> az.InferenceData:
    """One ``InferenceData`` whose chains are the given runs; dims ``chain, draw, cell, edge, op``."""
    if not chains:
        raise ValueError("need at least one run")
    kinds = list(chains[0].probs)
    names = {c.raw_name for c in chains}
    if len(names) > 1 or any(list(c.probs) != kinds for c in chains):
        raise ValueError("runs differ in architecture variables (guide families or cell kinds); cannot be chains")
    draws = {c.probs[kinds[0]].shape[0] for c in chains}
    if len(draws) > 1:
        raise ValueError(f"runs have different numbers of draws {sorted(draws)}")
    raw_name = names.pop()

    def stack(which: str) -> np.ndarray:  # [chain, draw, cell, edge, op]
        return np.stack([np.stack([getattr(c, which)[k] for k in kinds], axis=1) for c in chains])

    coords = {"cell": kinds, "edge": space.edge_labels(), "op": list(space.ops)}
    meta = {"space": space.name, "raw_variable": raw_name, "num_runs": len(chains)}
    meta.update({f"chain{i}_{k}": v for i, c in enumerate(chains) for k, v in c.attrs.items()})
    meta.update(attrs or {})
    idata = az.from_dict(
        posterior={raw_name: stack("raw"), "op_probs": stack("probs")},
        coords=coords,
        dims={raw_name: list(DIMS), "op_probs": list(DIMS)},
    )
    idata.posterior.attrs.update({k: v if isinstance(v, int | float) else str(v) for k, v in meta.items()})
    return idata


def alpha_correlation(idata: az.InferenceData) -> xr.DataArray:
    """Pearson correlation of the raw architecture variable (α or θ) between all (cell, edge, op)
    coordinates, over every posterior draw of every chain; dims ``(param, param_)`` labelled
    ``"cell/edge/op"`` (NaN for constant or absent coordinates)."""
    raw = idata.posterior[idata.posterior.attrs["raw_variable"]]
    flat = raw.stack(sample=("chain", "draw"), param=DIMS).transpose("sample", "param")
    labels = ["/".join(map(str, key)) for key in flat.indexes["param"]]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        corr = np.corrcoef(np.asarray(flat.values, dtype=float), rowvar=False)
    return xr.DataArray(corr, dims=("param", "param_"), coords={"param": labels, "param_": labels})


def add_alpha_correlation(idata: az.InferenceData) -> xr.DataArray:
    """Compute ``alpha_correlation`` and keep it in ``idata`` as the group ``alpha_correlation``."""
    corr = alpha_correlation(idata)
    idata.add_groups({"alpha_correlation": xr.Dataset({"corr": corr})})
    return corr


def write_netcdf(idata: az.InferenceData, path: str | os.PathLike) -> Path:
    """Write ``idata`` to a netcdf file (all groups); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(path))
    return path


def read_netcdf(path: str | os.PathLike) -> az.InferenceData:
    """Read an ``InferenceData`` written by ``diagnose`` (``posterior.nc``)."""
    return az.from_netcdf(str(path))


def _halves_if_one_chain(post: xr.Dataset) -> xr.Dataset:
    """A single run's draws as two chains (its halves), so R-hat is defined (within-run check)."""
    if post.sizes["chain"] > 1 or post.sizes["draw"] < 8:
        return post
    half = post.sizes["draw"] // 2
    parts = [post.isel(chain=[0], draw=slice(i * half, (i + 1) * half)) for i in range(2)]
    parts = [p.assign_coords(chain=[i], draw=np.arange(half)) for i, p in enumerate(parts)]
    return xr.concat(parts, dim="chain")


def summary_table(idata: az.InferenceData, var_name: str = "op_probs", hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """``az.summary``-style tidy table, one row per (cell, edge, op).

    Columns: mean, sd, hdi_<lo>%, hdi_<hi>%, ess_bulk, ess_tail, r_hat, chain_spread (max − min of
    the per-chain means). One chain (one run) is split in halves for R-hat. A point-mass guide has
    zero within-chain variance, so R-hat is 0/0: it is set to 1 when all chains agree exactly and
    to +inf when they differ; its ESS is undefined (NaN).
    """
    post = idata.posterior[var_name]
    mean = post.mean(("chain", "draw"))
    sd = post.std(("chain", "draw"), ddof=1) if post.sizes["draw"] * post.sizes["chain"] > 1 else mean * 0
    hdi = az.hdi(idata.posterior[[var_name]], hdi_prob=hdi_prob)[var_name]
    ess_bulk = az.ess(idata.posterior[[var_name]], method="bulk")[var_name]
    ess_tail = az.ess(idata.posterior[[var_name]], method="tail")[var_name]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 of point-mass chains, handled below
        rhat = az.rhat(_halves_if_one_chain(idata.posterior[[var_name]]))[var_name]
    chain_means = post.mean("draw")
    spread = chain_means.max("chain") - chain_means.min("chain")
    degenerate = (post.max("draw") - post.min("draw")).max("chain") == 0
    rhat = xr.where(degenerate, xr.where(spread == 0, 1.0, np.inf), rhat)
    ess_bulk, ess_tail = (xr.where(degenerate, np.nan, e) for e in (ess_bulk, ess_tail))  # constant draws
    lo, hi = (1 - hdi_prob) / 2 * 100, (1 + hdi_prob) / 2 * 100
    table = xr.Dataset(
        {
            "mean": mean,
            "sd": sd,
            f"hdi_{lo:g}%": hdi.sel(hdi="lower", drop=True),
            f"hdi_{hi:g}%": hdi.sel(hdi="higher", drop=True),
            "ess_bulk": ess_bulk,
            "ess_tail": ess_tail,
            "r_hat": rhat,
            "chain_spread": spread,
        }
    )
    df = table.to_dataframe().reset_index()
    return df[[*DIMS, *table.data_vars]]


def unstable_edges(table: pd.DataFrame, threshold: float = RHAT_THRESHOLD) -> pd.DataFrame:
    """Edges whose largest op-probability R-hat exceeds ``threshold``: columns cell, edge, max_r_hat, worst_op."""
    rows = []
    for (cell, edge), g in table.groupby(["cell", "edge"], sort=False):
        worst = g.loc[g["r_hat"].fillna(np.inf).idxmax()]
        if not worst["r_hat"] <= threshold:  # NaN counts as unstable
            rows.append({"cell": cell, "edge": edge, "max_r_hat": float(worst["r_hat"]), "worst_op": worst["op"]})
    return pd.DataFrame(rows, columns=["cell", "edge", "max_r_hat", "worst_op"])


def verdict(table: pd.DataFrame, num_runs: int, threshold: float = RHAT_THRESHOLD) -> str:
    """One-line judgement of the search's reproducibility across runs."""
    n_edges = table.groupby(["cell", "edge"]).ngroups
    bad = unstable_edges(table, threshold)
    worst = float(table["r_hat"].max())
    spread = f"largest between-run difference of an op probability {float(table['chain_spread'].max()):.3g}"
    if num_runs < 2:
        scope = "single run: R-hat only checks the within-run draws; pass several seeds to test reproducibility"
        return f"{scope} ({len(bad)}/{n_edges} edges with R-hat > {threshold})"
    if bad.empty:
        return (
            f"REPRODUCIBLE: all {n_edges} edges have R-hat <= {threshold} across {num_runs} runs "
            f"(max {worst:.4f}; {spread})"
        )
    return (
        f"NOT REPRODUCIBLE: {len(bad)}/{n_edges} edges have R-hat > {threshold} across {num_runs} runs "
        f"(max {worst:.4f}; {spread})"
    )


@dataclass
class Diagnosis:
    """Result of ``diagnose``: the InferenceData, the summary table, the unstable edges and a verdict."""

    idata: az.InferenceData
    table: pd.DataFrame
    unstable: pd.DataFrame
    verdict: str
    files: dict[str, Path] = field(default_factory=dict)


def diagnose_guides(
    guides: Sequence[ArchGuide],
    space: SearchSpace,
    num_samples: int = 1000,
    seed: int = 0,
    supernets: Sequence | None = None,
    labels: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    threshold: float = RHAT_THRESHOLD,
) -> Diagnosis:
    """Draw from every guide (chain ``i`` uses seed ``seed + i``), summarise, and optionally write
    ``posterior.nc`` and ``summary.csv`` into ``out_dir`` (and ``alpha_correlation.png`` when a
    guide is ``correlated``)."""
    supernets = list(supernets) if supernets is not None else [None] * len(guides)
    chains = []
    for i, (guide, net) in enumerate(zip(guides, supernets, strict=True)):
        draws = draw_posterior(guide, space, num_samples, seed + i, net)
        if labels is not None:
            draws.attrs["run"] = str(labels[i])
        chains.append(draws)
    idata = to_inference_data(chains, space, {"num_samples": num_samples})
    corr = add_alpha_correlation(idata) if any(g.correlated for g in guides) else None
    table = summary_table(idata)
    result = Diagnosis(idata, table, unstable_edges(table, threshold), verdict(table, len(chains), threshold))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if corr is not None:
            from pyronas.analysis.plots import plot_alpha_correlation

            result.files["correlation"] = plot_alpha_correlation(corr, out / "alpha_correlation.png")
        result.files["netcdf"] = write_netcdf(idata, out / "posterior.nc")
        table.to_csv(out / "summary.csv", index=False, float_format="%.6g")
        result.files["csv"] = out / "summary.csv"
    logger.info(result.verdict)
    return result


def load_search(run: str | os.PathLike):
    """The trained ``Search`` of a run folder, or of a checkpoint file inside one
    (``pyronas.infer.load_run``)."""
    from pyronas.infer import load_run  # the engine; imported late so this module does not need it

    run = Path(run)
    if run.is_file():
        return load_run(run.parent, checkpoint=run, read_only=True)
    return load_run(run, read_only=True)


def diagnose_searches(
    searches: Sequence,
    num_samples: int = 1000,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    threshold: float = RHAT_THRESHOLD,
) -> Diagnosis:
    """Diagnose loaded searches of the same space (``Search`` objects); each becomes a chain."""
    spaces = {s.space.name for s in searches}
    if len(spaces) > 1:
        raise ValueError(f"runs use different search spaces {sorted(spaces)}")
    return diagnose_guides(
        [s.guide for s in searches],
        searches[0].space,
        num_samples,
        seed,
        [s.supernet for s in searches],
        labels,
        out_dir,
        threshold,
    )


def diagnose(
    runs: Sequence[str | os.PathLike],
    num_samples: int = 1000,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    threshold: float = RHAT_THRESHOLD,
) -> Diagnosis:
    """Diagnose run folders (or checkpoint files) of the same config; runs become chains."""
    searches = [load_search(r) for r in runs]
    return diagnose_searches(searches, num_samples, out_dir, seed, [str(r) for r in runs], threshold)


def format_table(table: pd.DataFrame, max_rows: int | None = None) -> str:
    """Fixed-width text of a summary table (for the CLI)."""
    with pd.option_context("display.max_rows", max_rows, "display.width", 200, "display.max_columns", None):
        return table.to_string(index=False, float_format=lambda v: "nan" if math.isnan(v) else f"{v:.4g}")
