"""VIM-NAS guide: an architectural neural network φ generates the architecture distribution.

Wang et al., "Learning Latent Architectural Distribution in Differentiable Neural Architecture
Search via Variational Information Maximization" (ICCV 2021), sec. 3.2-3.5, Algorithm 1:

    μ_φ = φ(ε),   A = μ_φ + ξ,   ξ ~ N(0, 1)          i.e.  p_φ(A | D) = N(μ_φ, 1)

with ε a *fixed* Gaussian noise image of 3 channels whose spatial size is the architecture
tensor ``[edges, ops]`` and φ = ConvReLUBN(3, 14, 3) → ConvReLUBN(14, 1, 3) (sec. 3.3). In Pyro
the site ``alpha/<kind>`` of the guide is ``Normal(μ_φ, 1).to_event(2)``; the supernet mixes the
ops with softmax(A) per edge (eq. 1, the prior's ``to_weights``).

Objective (eq. 5-6). With the flat prior of ``models/flat.py`` (log p(A) = 0),

    ELBO = E_q[log q_θ(D | A)] − E_q[log q(A)] = E_q[log q_θ(D | A)] + H(N(μ_φ, 1)),

and the entropy of N(μ, 1) is ½·log(2πe) per coordinate, independent of μ, hence of φ and θ:
the ELBO *is* the VIM objective (eq. 6) up to a constant. Per sample, Pyro's reparameterised
``Trace_ELBO`` loss is CE(supernet(x; softmax A)) − (½‖ξ‖² + ½·d·log 2π)/N, whose extra part
has zero gradient in θ and φ (tests/infer/test_vimnas.py checks both statements).

Design choices:

* **One generator per cell kind.** The paper's last module has one output channel
  (ConvReLUBN(14, 1, 3)) and its Figure 1 shows feature maps of size edges × ops, i.e. one
  architecture image per generator; DARTS has two (normal, reduce), so we build one φ (and one
  fixed ε) per kind. Kinds never share parameters.
* **BatchNorm without running statistics.** φ's input is a single fixed image (batch 1), so BN
  normalises over the edges × ops positions. We build BN with ``track_running_stats=False``:
  μ_φ is then the same deterministic function of φ in train and eval mode (running averages
  would make the derived architecture lag behind and differ from what was trained).
* **Variants** (sec. 4.6, Table 5, Figures 7 and 9): ``size`` = ``"small"`` (one module
  ConvReLUBN(3, 1, 3)), ``"default"`` (two), ``"large"`` (five: 3→14, three 14→14, 14→1; the
  supplement's exact widths are not in the paper text, so the hidden width stays 14);
  ``point=True`` is VIM-NAS-P, A = μ_φ (a Delta site); ``dropout=True`` is VIM-NAS-Dropout: a
  second network φ' of the same shape gives the standard deviation s = softplus(φ'(ε)) and
  A = μ_φ + s·ξ. The paper writes N(μ, σ) with σ the variance and reads it as variational
  dropout N(μ, μ²δ), δ = σ/μ² (sec. 3.5); here δ = s²/μ² (``log_dropout_rate``). Its sparsity
  constraint (SI-VDNAS) is the KL to the log-uniform prior p(A) ∝ 1/|A| (Molchanov et al. 2017,
  eq. 14), ``pyronas.distributions.molchanov_kl(log δ)``. It enters through Pyro, not on the side:
  the Dropout configs use the prior ``models/log_uniform.py`` with ``bayesian_weights: false,
  zero_clip: null`` (log-uniform on A only, plain softmax) and ``elbo: meanfield``, so
  loss = CE(A) + Σ_{kind, edge, op} KL(log δ) / N. (With the flat prior the Dropout ELBO's
  entropy Σ log s would be unbounded in directions where softmax saturates.)
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import log_lambda
from pyronas.infer.program import AlphaGuide, SupernetModel

#: number of ConvReLUBN modules of each size of the architectural network (sec. 3.3, 4.6).
DEPTHS = {"small": 1, "default": 2, "large": 5}
NOISE_CHANNELS = 3


class ConvReLUBN(nn.Sequential):
    """Convolution → ReLU → BatchNorm (sec. 3.3), 'same' padding so every map stays edges × ops."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.BatchNorm2d(c_out, track_running_stats=False),
        )


def architectural_network(depth: int, hidden: int = 14, kernel_size: int = 3) -> nn.Sequential:
    """φ: ``depth`` ConvReLUBN modules mapping 3 noise channels to 1 architecture channel.

    depth 2 is the paper's ConvReLUBN(3, 14, 3) → ConvReLUBN(14, 1, 3); depth 1 is
    ConvReLUBN(3, 1, 3); deeper nets insert ConvReLUBN(hidden, hidden, 3) modules.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    widths = [NOISE_CHANNELS] + [hidden] * (depth - 1) + [1]
    return nn.Sequential(*(ConvReLUBN(a, b, kernel_size) for a, b in zip(widths[:-1], widths[1:], strict=True)))


class VIMGuide(AlphaGuide):
    """q(alpha/<kind>) = N(φ_kind(ε_kind), 1) (Algorithm 1), or a variant (see the module doc).

    Args:
        model: the ``SupernetModel`` (its prior gives the shapes and ``to_weights``).
        size: ``"small"`` | ``"default"`` | ``"large"`` (1, 2 or 5 ConvReLUBN modules).
        hidden: channels of the hidden feature maps (14 in the paper).
        kernel_size: convolution kernel size (3 in the paper).
        point: VIM-NAS-P, A = μ_φ (no ξ).
        dropout: VIM-NAS-Dropout, A = μ_φ + s_φ'·ξ with s from a second network.
        scale: the fixed standard deviation of ξ (1 in the paper); unused with ``dropout``.
    """

    shared_draw = True  # one A per iteration for the weight and the architecture step (Alg. 1 line 3)

    def __init__(
        self,
        model: SupernetModel,
        size: str = "default",
        hidden: int = 14,
        kernel_size: int = 3,
        point: bool = False,
        dropout: bool = False,
        scale: float = 1.0,
    ):
        super().__init__(model)
        if size not in DEPTHS:
            raise ValueError(f"size must be one of {sorted(DEPTHS)}, got {size!r}")
        if point and dropout:
            raise ValueError("point and dropout are exclusive variants")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.size, self.point, self.dropout, self.scale = size, point, dropout, float(scale)
        depth = DEPTHS[size]
        self.phi = nn.ModuleDict({k: architectural_network(depth, hidden, kernel_size) for k in self.arch_shapes})
        self.phi_sigma = (
            nn.ModuleDict({k: architectural_network(depth, hidden, kernel_size) for k in self.arch_shapes})
            if dropout
            else None
        )
        for kind, (edges, ops) in self.arch_shapes.items():
            self.register_buffer(self._noise_name(kind), torch.randn(1, NOISE_CHANNELS, edges, ops))

    @staticmethod
    def _noise_name(kind: str) -> str:
        return f"epsilon_{kind}"

    def epsilon(self, kind: str) -> torch.Tensor:
        """The fixed input noise ε of kind ``kind``, shape ``[1, 3, edges, ops]``."""
        return getattr(self, self._noise_name(kind))

    # --- the architectural networks --------------------------------------------------------
    def mu(self, kind: str) -> torch.Tensor:
        """μ_φ = φ(ε), shape ``[edges, ops]`` (Algorithm 1 line 3)."""
        return self.phi[kind](self.epsilon(kind))[0, 0]

    def sigma(self, kind: str) -> torch.Tensor:
        """Standard deviation of A: softplus(φ'(ε)) for the Dropout variant, else the constant."""
        eps = self.epsilon(kind)
        if self.phi_sigma is None:
            return eps.new_full(eps.shape[-2:], self.scale)
        return F.softplus(self.phi_sigma[kind](self.epsilon(kind))[0, 0])

    def log_dropout_rate(self, kind: str) -> torch.Tensor:
        """log δ = log(s² / μ²), the variational-dropout reading of N(μ, s²) (sec. 3.5)."""
        return log_lambda(self.mu(kind), self.sigma(kind))

    # --- AlphaGuide interface ----------------------------------------------------------------
    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(A): N(μ_φ(ε), σ²) from the generator, or a point mass for the point variant (VIM-NAS)."""
        mu = self.mu(kind)
        if self.point:
            return dist.Delta(mu, event_dim=2)
        if self.phi_sigma is None:
            return dist.Normal(mu, self.scale).to_event(2)
        return dist.Normal(mu, self.sigma(kind)).to_event(2)

    @torch.no_grad()
    def op_probs(self, num_samples: int = 256) -> dict[str, torch.Tensor]:
        """E_q[softmax(A)] per edge (Monte Carlo, forked RNG); softmax(μ_φ) for VIM-NAS-P."""
        if self.point:
            return {k: self.to_weights(self.mu(k)) for k in self.arch_shapes}
        return super().op_probs(num_samples)

    @torch.no_grad()
    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """(μ_φ, σ) per cell kind; None for the point variant (no spread to select by)."""
        if self.point:
            return None
        return {k: (self.mu(k), self.sigma(k)) for k in self.arch_shapes}
