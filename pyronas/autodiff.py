"""Second-order autodiff shared by VAdam's Hessian diagonal, GraSP and the Hessian eigenvalue tracker."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["hessian_vector_product"]


def hessian_vector_product(
    grads: Sequence[torch.Tensor | None],
    params: Sequence[torch.Tensor],
    vectors: Sequence[torch.Tensor] | torch.Tensor,
) -> tuple[torch.Tensor | None, ...] | torch.Tensor:
    """Pearlmutter's (1994) Hessian-vector product by double backprop,

        H v = ∇_θ (∇_θ L · v),

    for ``grads`` = ∇_θ L computed with ``create_graph=True`` (``None`` entries: no dependence).
    ``vectors`` is one tensor per parameter (the result is a tuple, ``None`` where H v does not depend
    on that parameter) or one flat vector over all parameters (the result is a flat vector, zeros
    where there is no dependence). The graph is retained, so products can be repeated.
    """
    params = list(params)
    flat = isinstance(vectors, torch.Tensor)
    if flat:
        sizes = [p.numel() for p in params]
        vectors = [v.view_as(p) for v, p in zip(torch.split(vectors, sizes), params, strict=True)]
    dot = sum((g * v).sum() for g, v in zip(grads, vectors, strict=True) if g is not None)
    hv = torch.autograd.grad(dot, params, retain_graph=True, allow_unused=True)
    if not flat:
        return hv
    return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(hv, params, strict=True)])
