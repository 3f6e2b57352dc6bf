"""Second-order autodiff shared by VAdam's Hessian diagonal, GraSP and the Hessian eigenvalue tracker."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["flatten", "hessian_vector_product", "unflatten"]


def flatten(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``tensors`` (one per parameter of ``like``) into one vector; ``None`` (no dependence)
    becomes zeros of that parameter's shape."""
    pairs = zip(tensors, like, strict=True)
    return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in pairs])


def unflatten(vec: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Cut the flat ``vec`` into views shaped like the parameters of ``like`` (the inverse of ``flatten``)."""
    return [v.view_as(p) for v, p in zip(torch.split(vec, [p.numel() for p in like]), like, strict=True)]


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
        vectors = unflatten(vectors, params)
    dot = sum((g * v).sum() for g, v in zip(grads, vectors, strict=True) if g is not None)
    hv = torch.autograd.grad(dot, params, retain_graph=True, allow_unused=True)
    if not flat:
        return hv
    return flatten(hv, params)
