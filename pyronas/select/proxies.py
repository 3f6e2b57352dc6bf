"""Training-free proxies (BaLeNAS eq. 8; Abdelfattah et al. 2021, "Zero-cost proxies for lightweight NAS").

Each proxy scores a network *at initialisation* by summing a per-parameter saliency over the
weights of its layers (every parameter with ``dim >= 2``: convolution and linear kernels):

* SNIP (Lee et al. 2019):     S = Σ |∂L/∂θ ∘ θ|                on a data batch;
* GraSP (Wang et al. 2020):   S = Σ −(H ∂L/∂θ) ∘ θ             H g from a Hessian-vector product;
* SynFlow (Tanaka et al. 2020): S = Σ ∂R_SF/∂θ ∘ θ,  R_SF = 1ᵀ (Π_l |θ^[l]|) 1:
  absolute weights, an all-ones input, BatchNorm removed, float64 -- data-agnostic.

Proxies take ``(net, x, y)`` for any ``nn.Module`` classifier (a tuple output's first element is
the logits) and never modify the network they are given (SynFlow works on a copy).
``zero_cost_nas`` is the baseline of Abdelfattah et al.: the best-scoring of uniformly random
architectures; BaLeNAS-TF scores architectures drawn from q(α) instead (``pyronas.select.rules``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.autodiff import hessian_vector_product
from pyronas.nn.network import Network
from pyronas.nn.spaces import Genotype, SearchSpace
from pyronas.registry import Registry

Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor | None], float]
PROXIES: Registry[Proxy] = Registry("proxy", "a function proxy(net, x, y) -> float score, leaving net unchanged")


def register_proxy(name: str) -> Callable[[Proxy], Proxy]:
    """Register a training-free proxy under ``name`` (usable as ``select.params.proxy``)."""
    return PROXIES.register(name)


def scored_parameters(net: nn.Module) -> list[nn.Parameter]:
    """The weights a proxy sums over: trainable parameters with ``dim >= 2`` (conv/linear kernels)."""
    return [p for p in net.parameters() if p.requires_grad and p.dim() >= 2]


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return out[0] if isinstance(out, tuple) else out


class _train_mode:
    """Put ``net`` in training mode (batch statistics, as at initialisation) and restore its mode."""

    def __init__(self, net: nn.Module):
        self.net, self.modes = net, {m: m.training for m in net.modules()}

    def __enter__(self):
        self.net.train()

    def __exit__(self, *exc):
        for m, mode in self.modes.items():
            m.train(mode)


@register_proxy("snip")
def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    """S_snip = Σ |∂L/∂θ ∘ θ| (BaLeNAS eq. 8, first term) on the batch ``(x, y)``."""
    params = scored_parameters(net)
    with _train_mode(net), torch.enable_grad():
        grads = torch.autograd.grad(loss_fn(_logits(net, x), y), params, allow_unused=True)
    return float(sum((g * p.detach()).abs().sum() for g, p in zip(grads, params, strict=True) if g is not None))


def grasp_hessian_gradient(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy
) -> tuple[list[nn.Parameter], list[torch.Tensor]]:
    """(θ, H g) with g = ∂L/∂θ, by one Hessian-vector product ∂(g · stop_grad(g))/∂θ (Pearlmutter)."""
    params = scored_parameters(net)
    with _train_mode(net), torch.enable_grad():
        grads = torch.autograd.grad(loss_fn(_logits(net, x), y), params, create_graph=True, allow_unused=True)
        pairs = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        params, grads = [p for p, _ in pairs], [g for _, g in pairs]
        hg = hessian_vector_product(grads, params, [g.detach() for g in grads])
    return params, [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(params, hg, strict=True)]


@register_proxy("grasp")
def grasp(net: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy) -> float:
    """S_grasp = Σ −(H ∂L/∂θ) ∘ θ (BaLeNAS eq. 8, second term) on the batch ``(x, y)``."""
    params, hg = grasp_hessian_gradient(net, x, y, loss_fn)
    return float(sum((-h * p.detach()).sum() for p, h in zip(params, hg, strict=True)))


def _without_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer by the identity, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batchnorm(child)
    return module


@register_proxy("synflow")
def synflow(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """S_sf = Σ ∂R_SF/∂θ ∘ θ with R_SF = 1ᵀ(Π_l |θ^[l]|)1 (BaLeNAS eq. 8, third term).

    On a float64 copy of ``net`` with |θ| for every parameter, BatchNorm removed and an all-ones
    input of ``x``'s shape (one sample): only the shape of ``x`` is used.
    """
    model = _without_batchnorm(copy.deepcopy(net)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    params = scored_parameters(model)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    with torch.enable_grad():
        r_sf = _logits(model, ones).sum()
        grads = torch.autograd.grad(r_sf, params, allow_unused=True)
    return float(sum((g * p.detach()).sum() for g, p in zip(grads, params, strict=True) if g is not None))


def get_proxy(name: str, where: str = "select.params.proxy") -> Proxy:
    """The proxy ``name``; ``RegistryError`` naming ``where`` and the known proxies otherwise."""
    return PROXIES.get(name, where)


def score_genotype(
    genotype: Genotype,
    proxy: str | Proxy,
    x: torch.Tensor,
    y: torch.Tensor,
    C: int = 16,
    layers: int = 5,
    num_classes: int = 10,
    seed: int = 0,
) -> float:
    """Score the discrete network of ``genotype`` at initialisation (weights drawn under ``seed``)."""
    fn = get_proxy(proxy) if isinstance(proxy, str) else proxy
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Network.from_genotype(genotype, C=C, layers=layers, in_channels=x.shape[1], num_classes=num_classes)
    return fn(net.to(x.device), x, y)


def best_of(genotypes: Sequence[Genotype], score: Callable[[Genotype], float]) -> tuple[Genotype, list[float]]:
    """The highest-scoring genotype (first on ties) and all scores."""
    if not genotypes:
        raise ValueError("no genotypes to score")
    scores = [float(score(g)) for g in genotypes]
    return genotypes[max(range(len(scores)), key=lambda i: (scores[i], -i))], scores


def zero_cost_nas(
    space: SearchSpace,
    score: Callable[[Genotype], float],
    num_samples: int = 100,
    generator: torch.Generator | None = None,
) -> tuple[Genotype, list[Genotype], list[float]]:
    """Zero-cost NAS baseline (BaLeNAS Table 2): best of ``num_samples`` uniformly random genotypes."""
    genotypes = [space.random_genotype(generator) for _ in range(num_samples)]
    best, scores = best_of(genotypes, score)
    return best, genotypes, scores
