"""The first step's balance of the objective: does a KL / N term swamp the likelihood?

The per-datum loss is ``-E_q[log p(y | ...)] / N + Σ_groups γ_g KL(q_g ‖ p_g) / N`` (``pyronas.infer.objectives``).
With a prior on many network weights (log-uniform, VINNAS eq. 4) and no ramp γ_g(epoch), the weight KL / N can be
orders of magnitude larger than the cross-entropy at initialisation, and the search then trains at chance.
``kl_balance`` estimates each term once on the first weight batch (one draw of the guide, each site's
log q − log p, scaled as the objective scales it at progress 0); ``warn_if_kl_dominates`` logs one warning
per group over ``FACTOR`` × the likelihood term, naming the ramp keys.
"""

from __future__ import annotations

import logging

import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence
from pyro.distributions.util import scale_and_mask

from pyronas.infer.objectives import Objective, ScaleSites
from pyronas.infer.program import ALPHA, ArchGuide, SupernetModel

__all__ = ["FACTOR", "kl_balance", "warn_if_kl_dominates"]

log = logging.getLogger(__name__)

FACTOR = 10.0  # a KL / N term this many times the likelihood term at step 0 is warned about


def _group(site: str) -> str:
    return site.split("/", 1)[0] + "/"


@torch.no_grad()
def kl_balance(
    model: SupernetModel, guide: ArchGuide, objective: Objective, batch: tuple[torch.Tensor, torch.Tensor],
    n_data: int, progress: float = 0.0,
) -> tuple[float, dict[str, float]]:
    """``(likelihood term, {site group: KL term})`` of the per-datum loss on ``batch``, one Monte Carlo draw:
    ``-log p(y | ...) / N`` and ``Σ_sites γ (log q − log p) / N`` per group (``alpha/``, ``w/``), each site
    scaled (or masked) by ``objective.kl_scales`` at ``progress``. The RNGs and BatchNorm buffers are left
    as they were."""
    x, y = batch
    scales = {p: s(progress) for p, s in objective.kl_scales.items()}
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        g_trace = poutine.trace(ScaleSites(scales)(guide)).get_trace(x, y, n_data)
        m_trace = poutine.trace(poutine.replay(ScaleSites(scales)(model), trace=g_trace)).get_trace(x, y, n_data)
    for k, v in model.named_buffers():
        v.copy_(buffers[k])
    m_trace.compute_log_prob()
    g_trace.compute_log_prob()
    lik, kl = 0.0, {}
    for name, site in m_trace.nodes.items():
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            lik -= float(site["log_prob_sum"]) / n_data
        elif name in g_trace.nodes:
            group = _group(name)
            kl[group] = kl.get(group, 0.0) + _site_kl(g_trace.nodes[name], site) / n_data
    return lik, kl


def _site_kl(guide_site: dict, model_site: dict) -> float:
    """KL(q ‖ p) of one site as the objective weighs it: the registered closed form where there is one
    (as ``TraceMeanField_ELBO`` uses), else one draw of log q − log p; scaled and masked as the guide site."""
    try:
        kl = kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        return float(guide_site["log_prob_sum"] - model_site["log_prob_sum"])
    return float(scale_and_mask(kl, guide_site["scale"], guide_site["mask"]).sum())


def warn_if_kl_dominates(
    model: SupernetModel, guide: ArchGuide, objective: Objective, batch: tuple[torch.Tensor, torch.Tensor],
    n_data: int, factor: float = FACTOR,
) -> list[str]:
    """Warn (once per site group) when a KL / N term exceeds ``factor`` × the likelihood term at the first
    step; returns the warnings."""
    lik, kl = kl_balance(model, guide, objective, batch, n_data)
    out = []
    for group, value in kl.items():
        if value > factor * max(lik, 1e-12):
            key = f"objective.kl_scales.{group}"
            what = "architecture" if group == f"{ALPHA}/" else "weight"
            msg = (
                f"{key}: at the first step the {what} KL / N ({value:.4g}) is {value / max(lik, 1e-12):.0f}x the "
                f"likelihood term ({lik:.4g}) with no ramp: the prior swamps the data and the search may stay at "
                f"chance; ramp it in with {key}.start_epoch / {key}.end_epoch (e.g. start_epoch: 1, end_epoch: 3)"
            )
            log.warning("%s", msg)
            out.append(msg)
    return out
