"""Kernels of the BO surrogate (``bo.kernel``), registered in ``KERNELS``.

Every kernel is a ``pyro.contrib.gp`` kernel built as ``cls(input_dim=D, variance=theta_0, lengthscale=theta)``
with ``lengthscale_dim(name, X)`` length scales (one per input for a kernel registered under a new name);
``pyronas.bo.gp`` gives them priors and fits them. Snoek et al. (2012): ARD squared exponential

    K_SE(x, x') = theta_0 exp(-r^2 / 2),          r^2 = sum_d (x_d - x'_d)^2 / theta_d^2,

ARD Matern-5/2 (the default)

    K_M52(x, x') = theta_0 (1 + sqrt(5 r^2) + 5 r^2 / 3) exp(-sqrt(5 r^2)),

for one-hot cells (``E`` edges, one op each) the exponentiated Hamming (overlap) kernel with one length scale per
edge (``hamming``; the categorical kernel of CoCaBO, Ru et al. 2020, with ARD over the edges)

    K_H(x, x') = theta_0 exp(-sum_e [x_e != x'_e] / theta_e^2),

which is the SE kernel of the one-hot vectors with the length scales of an edge's ops tied; its sum with its own
first-order additive part (``hamming_additive``; Duvenaud, Nickisch & Rasmussen 2011, "Additive Gaussian
Processes", orders 1 and ``E`` with equal weights)

    K_HA(x, x') = theta_0 / 2 [ exp(-sum_e [x_e != x'_e] / theta_e^2) + (1 / E) sum_e exp(-[x_e != x'_e] / theta_e^2) ],

whose additive half carries an edge's op effect from one context to another (main effects), and, on unit-norm
Weisfeiler-Lehman features (``bo.encoding: wl``, ``pyronas.bo.wl``), the exponentiated WL kernel (``wl``)

    K_WL(x, x') = theta_0 exp(-(1 - <x, x'>) / theta_1^2),

where ``<x, x'>`` is NAS-BOWL's normalised WL kernel (Ru et al. 2021, Eq. 3); for a long ``theta_1`` it is
``theta_0 (1 - 1 / theta_1^2 + <x, x'> / theta_1^2)``, an affine map of the WL kernel, and a short one makes it
local. One length scale, so ``D + 3`` becomes 4 hyperparameters.
"""

from __future__ import annotations

import pyro.contrib.gp as gp
import torch

from pyronas.registry import Registry

__all__ = ["KERNELS", "ONEHOT_KERNELS", "Hamming", "HammingAdditive", "WL", "lengthscale_dim"]

#: Kernels that count mismatched edges of one-hot cells (``bo.encoding: onehot`` only; one length scale per edge).
ONEHOT_KERNELS = ("hamming", "hamming_additive")

KERNELS: Registry[type[gp.kernels.Isotropy]] = Registry(
    "GP kernel",
    "a pyro.contrib.gp stationary kernel class; __init__(input_dim, variance, lengthscale)",
    base=gp.kernels.Kernel,
)
KERNELS.register("matern52", gp.kernels.Matern52)
KERNELS.register("se", gp.kernels.RBF)


@KERNELS.register("hamming")
class Hamming(gp.kernels.Isotropy):
    """``K_H(x, x') = theta_0 exp(-sum_e [x_e != x'_e] / theta_e^2)`` on one-hot encodings of ``E`` edges
    (``E = lengthscale.numel()``, ``input_dim / E`` ops per edge); one matrix product:
    ``sum_e [x_e != x'_e] / theta_e^2 = sum_e 1 / theta_e^2 - x^T diag(w) x'`` with ``w`` = ``1 / theta_e^2``
    repeated over edge ``e``'s ops."""

    def forward(self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False) -> torch.Tensor:
        """The kernel matrix k(X, Z) (``diag``: its diagonal k(x, x))."""
        if diag:
            return self._diag(X)
        Z = X if Z is None else Z
        inv = self.lengthscale.reshape(-1).pow(-2)
        if X.shape[1] % inv.numel():
            raise ValueError(f"hamming kernel: {X.shape[1]} inputs are not {inv.numel()} one-hot edges")
        w = inv.repeat_interleave(X.shape[1] // inv.numel())
        mismatch = (inv.sum() - (X * w) @ Z.T).clamp_min(0.0)
        return self.variance * torch.exp(-mismatch)


@KERNELS.register("hamming_additive")
class HammingAdditive(gp.kernels.Isotropy):
    """``K_HA(x, x') = theta_0 / 2 [prod_e k_e(x, x') + mean_e k_e(x, x')]``, ``k_e = exp(-[x_e != x'_e] / theta_e^2)``
    on one-hot encodings of ``E = lengthscale.numel()`` edges: the exponentiated Hamming kernel plus its first-order
    additive part, one length scale per edge shared by both."""

    def forward(self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False) -> torch.Tensor:
        """The kernel matrix k(X, Z) (``diag``: its diagonal k(x, x) = theta_0)."""
        if diag:
            return self._diag(X)
        Z = X if Z is None else Z
        inv = self.lengthscale.reshape(-1).pow(-2)
        E = inv.numel()
        if X.shape[1] % E:
            raise ValueError(f"hamming_additive kernel: {X.shape[1]} inputs are not {E} one-hot edges")
        match = torch.einsum("neo,meo->nme", X.reshape(X.shape[0], E, -1), Z.reshape(Z.shape[0], E, -1))
        log_k = -(1.0 - match).clamp_min(0.0) * inv  # log k_e, [N, M, E]
        return self.variance * 0.5 * (log_k.sum(-1).exp() + log_k.exp().mean(-1))


@KERNELS.register("wl")
class WL(gp.kernels.Isotropy):
    """``K_WL(x, x') = theta_0 exp(-(1 - <x, x'>) / theta_1^2)`` on unit-norm rows (the exponentiated normalised
    Weisfeiler-Lehman kernel; one length scale)."""

    def forward(self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False) -> torch.Tensor:
        """The kernel matrix k(X, Z) (``diag``: its diagonal k(x, x) = theta_0)."""
        if diag:
            return self._diag(X)
        Z = X if Z is None else Z
        gap = (1.0 - X @ Z.T).clamp_min(0.0)
        return self.variance * torch.exp(-gap / self.lengthscale.reshape(-1)[0].pow(2))


def lengthscale_dim(kernel: str, X: torch.Tensor) -> int:
    """Number of length scales of ``kernel`` on inputs ``X``: one per input, (``hamming*``) one per one-hot edge
    (the number of ones in a row), or (``wl``) one."""
    if kernel in ONEHOT_KERNELS:
        return int(round(float(X[0].sum()))) if X.shape[0] else 1
    if kernel == "wl":
        return 1
    return X.shape[1]
