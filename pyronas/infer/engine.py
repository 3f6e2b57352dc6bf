"""The bilevel engine: ``BilevelSVI``, one iteration of differentiable NAS, read like ``pyro.infer.SVI``::

    svi = BilevelSVI(model, guide, objective, weight_optim, arch_optim, weight_size=N_w, arch_size=N_a)
    for (xw, yw), (xa, ya) in zip(weight_batches, arch_batches):
        result = svi.step((xw, yw), (xa, ya), progress=epoch + i / steps)

One ``step`` is one iteration of DARTS' Algorithm 1 (Liu et al. 2019) over the Pyro program:

* weight step on a batch of the weight split:        w ← w − η_w ∇_w L(w, q)
* architecture step on a batch of the architecture split:  φ ← φ − η_α ∇_φ L(w, q_φ),
  with the unrolled 2nd-order gradient of DARTS eq. 7-8 when ``order=2``.

``arch_first=True`` runs the architecture step first (on the current w), as DARTS Alg. 1, the DrNAS
code and BaLeNAS Alg. 1 do; ``arch_first=False`` runs the weight step first, as VINNAS and VIM-NAS do.
``L`` is ``Objective.loss`` (per-datum negative ELBO + extra terms). Each level takes the gradient of
its loss w.r.t. its own parameters only (the parameters its optimizer holds), so no gradient leaks
from one level into the other. All forward passes run under ``runtime.autocast()``, gradients come
from ``runtime.grad(loss, params, level)`` and updates from ``runtime.step(optimizer, level)``
(``pyronas.runtime``). The engine knows no method by name and writes no files: epochs, evaluation,
outputs and checkpoints are ``pyronas.infer.runner``'s. ``SharedDraw`` and ``StepResult`` are
``pyronas.infer.iteration``'s (re-exported here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from pyronas.errors import NonFiniteLossError
from pyronas.infer.iteration import Loss, SharedDraw, StepResult
from pyronas.infer.objectives import Objective, SiteRecorder
from pyronas.infer.program import ArchGuide, SupernetModel
from pyronas.runtime import Runtime

__all__ = ["BilevelSVI", "Loss", "NonFiniteLossError", "SharedDraw", "StepResult"]

Batch = tuple[torch.Tensor, torch.Tensor]


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The parameters an optimizer updates, in order."""
    return [p for group in optimizer.param_groups for p in group["params"]]


class BilevelSVI:
    """Bilevel stochastic variational inference over a (model, guide, objective) triple.

    Args:
        model: the ``SupernetModel`` (prior + supernet + likelihood).
        guide: the ``ArchGuide``; its ``bind_optimizer`` receives ``arch_optim``.
        objective: the ``Objective`` (per-datum negative ELBO + extra terms).
        weight_optim: optimizer of the network weights (and the guide's q(w) parameters).
        arch_optim: optimizer of the guide's architecture parameters.
        weight_size, arch_size: sizes N of the two data splits (the likelihood is scaled to N).
        order: 1 (first order) or 2 (DARTS' unrolled gradient, eq. 7-8; needs an SGD ``weight_optim``
            without Nesterov or dampening, and a guide with ``supports_second_order``).
        arch_first: architecture step before the weight step (DARTS, DrNAS, BaLeNAS) instead of after
            (VINNAS, VIM-NAS).
        weight_clip, arch_clip: gradient-norm clipping per level (None: off).
        fd_scale: ε = fd_scale / ‖∇_{w'} L_val‖ of the finite-difference Hessian-vector product of
            ``order=2`` (DARTS: 0.01).
        runtime: the ``Runtime`` doing autocast, gradients and optimizer steps (default fp32 eager).
    """

    def __init__(
        self,
        model: SupernetModel,
        guide: ArchGuide,
        objective: Objective,
        weight_optim: torch.optim.Optimizer,
        arch_optim: torch.optim.Optimizer,
        *,
        weight_size: int,
        arch_size: int,
        order: int = 1,
        arch_first: bool = False,
        weight_clip: float | None = None,
        arch_clip: float | None = None,
        runtime: Runtime | None = None,
        fd_scale: float = 0.01,
    ):
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        if order == 2 and not guide.supports_second_order:
            raise ValueError(
                f"order 2 is not supported by guide {type(guide).__name__} (its samples are not twice differentiable)"
            )
        self.model, self.guide, self.objective = model, guide, objective
        self.weight_size, self.arch_size = weight_size, arch_size
        self.order, self.arch_first = order, arch_first
        self.weight_clip, self.arch_clip = weight_clip, arch_clip
        self.fd_scale = fd_scale
        self.runtime = runtime if runtime is not None else Runtime()
        self._seed: int | None = None  # the current iteration's shared-draw seed (guides with shared_draw)
        self.set_optimizers(weight_optim, arch_optim)

    # --- optimizers and parameters ---------------------------------------------------------
    def set_optimizers(self, weight_optim: torch.optim.Optimizer, arch_optim: torch.optim.Optimizer) -> None:
        """Use new optimizers (e.g. after the network's structure changed); binds ``arch_optim`` to the guide."""
        if self.order == 2:
            check_second_order_optimizer(weight_optim)
        self.weight_optim, self.arch_optim = weight_optim, arch_optim
        self.guide.bind_optimizer(arch_optim)

    @property
    def weight_params(self) -> list[torch.Tensor]:
        """The parameters the weight optimizer updates."""
        return optimizer_params(self.weight_optim)

    @property
    def arch_params(self) -> list[torch.Tensor]:
        """The parameters the architecture optimizer updates."""
        return optimizer_params(self.arch_optim)

    # --- the loss --------------------------------------------------------------------------
    def loss(
        self, x: torch.Tensor, y: torch.Tensor, n_data: int, progress: float = 0.0
    ) -> tuple[torch.Tensor, SiteRecorder]:
        """``Objective.loss`` under the runtime's autocast (and the iteration's shared draw, if any)."""
        draw = SharedDraw(self._seed) if self._seed is not None else contextlib.nullcontext()
        try:
            with self.runtime.autocast(), draw:
                return self.objective.loss(self.model, self.guide, x, y, n_data, progress)
        except ValueError as e:  # Pyro's validation rejects NaN/Inf parameters of a distribution
            if "invalid values" not in str(e):
                raise
            raise NonFiniteLossError("the loss became nan") from e  # the cause names the distribution

    @staticmethod
    def _check(loss: torch.Tensor, level: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{level} loss became {loss.item()}")

    @contextlib.contextmanager
    def _iteration(self) -> Iterator[None]:
        """One iteration's scope: guides with ``shared_draw`` get one seed for all its losses."""
        self._seed = int(torch.randint(0, 2**31 - 1, (1,))) if self.guide.shared_draw else None
        try:
            yield
        finally:
            self._seed = None

    def _apply(self, grads: Sequence[torch.Tensor | None], optimizer, clip: float | None, level: str) -> None:
        params = optimizer_params(optimizer)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip)
        self.runtime.step(optimizer, level)

    # --- one iteration ---------------------------------------------------------------------
    def step(self, weight_batch: Batch, arch_batch: Batch | None = None, progress: float = 0.0,
             update_arch: bool = True) -> StepResult:
        """One bilevel iteration: a weight step on ``weight_batch`` and (if ``update_arch``) an
        architecture step on ``arch_batch``, in the configured order. ``progress`` is the fractional
        epoch seen by the objective's schedules."""
        xw, yw = (self.runtime.prepare_batch(weight_batch[0]), weight_batch[1])
        update_arch = update_arch and arch_batch is not None
        if update_arch:
            xa, ya = (self.runtime.prepare_batch(arch_batch[0]), arch_batch[1])
        result = StepResult()
        with self._iteration():
            if update_arch and self.arch_first:
                result.arch_loss_tensor, result.samples["arch"] = self.arch_step((xa, ya), (xw, yw), progress)
            result.weight_loss_tensor, rec = self.weight_step((xw, yw), progress)
            result.logits, result.samples["weights"] = rec.logits, rec.values
            if update_arch and not self.arch_first:
                result.arch_loss_tensor, result.samples["arch"] = self.arch_step((xa, ya), (xw, yw), progress)
        return result

    def weight_step(self, batch: Batch, progress: float = 0.0) -> tuple[torch.Tensor, SiteRecorder]:
        """w ← w − η_w ∇_w L(w, q) on a batch of the weight split; returns (loss, recorder)."""
        loss, rec = self.loss(*batch, self.weight_size, progress)
        self._check(loss, "weight-split")
        grads = self.runtime.grad(loss, self.weight_params, "weights")
        self._apply(grads, self.weight_optim, self.weight_clip, "weights")
        return loss.detach(), rec

    def arch_step(self, batch: Batch, weight_batch: Batch | None = None, progress: float = 0.0):
        """φ ← φ − η_α g_φ on a batch of the architecture split, g_φ of ``arch_gradients``;
        returns (loss, the latent values drawn)."""
        loss, grads, values = self.arch_gradients(batch, weight_batch, progress)
        self._apply(grads, self.arch_optim, self.arch_clip, "arch")
        return loss, values

    def arch_gradients(self, batch: Batch, weight_batch: Batch | None = None, progress: float = 0.0):
        """The architecture gradient at the current state, without updating anything:
        ∇_φ L_arch(w, φ) (order 1), or DARTS' unrolled gradient (order 2, see ``unrolled_gradients``).
        Returns (loss, gradients in ``arch_params`` order, latent values drawn)."""
        if self.order == 2:
            if weight_batch is None:
                raise ValueError("order 2 needs the weight batch for the virtual step")
            return self.unrolled_gradients(batch, weight_batch, progress)
        loss, rec = self.loss(*batch, self.arch_size, progress)
        self._check(loss, "architecture-split")
        return loss.detach(), self.runtime.grad(loss, self.arch_params, "arch"), rec.values

    def unrolled_gradients(self, arch_batch: Batch, weight_batch: Batch, progress: float = 0.0):
        """DARTS' 2nd-order architecture gradient (Liu et al. 2019, eq. 7-8):

            ∇_α L_val(w', α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w'} L_val(w', α),
            w' = w − ξ (∇_w L_train(w, α) + λ w + μ b)        (the SGD step, momentum buffer b, decay λ)

        with ξ the weight learning rate. The Hessian-vector product is the central finite difference
        [∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)] / 2ε, w^± = w ± ε ∇_{w'} L_val(w', α),
        ε = ``fd_scale`` / ‖∇_{w'} L_val‖ (eq. 8: 0.01). The weights are restored exactly afterwards, also
        when a loss is non-finite or the step is interrupted. The three train-loss evaluations share their
        random draws (forked RNG with one seed).
        Returns (loss, gradients in ``arch_params`` order, latent values drawn)."""
        xw, yw = weight_batch
        w, a = self.weight_params, self.arch_params
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        devices = [xw.device] if xw.is_cuda else []

        def train_grads(params: list[torch.Tensor], level: str):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                loss, _ = self.loss(xw, yw, self.weight_size, progress)
            self._check(loss, "weight-split")
            return self.runtime.grad(loss, params, level)

        backup = [p.detach().clone() for p in w]
        try:  # from the virtual step on, the weights are restored however this ends (a non-finite loss, Ctrl-C)
            virtual_sgd_step(self.weight_optim, train_grads(w, "weights"))
            loss, rec = self.loss(*arch_batch, self.arch_size, progress)
            self._check(loss, "architecture-split")
            grads = self.runtime.grad(loss, a + w, "arch")
            d_alpha, d_w = list(grads[: len(a)]), grads[len(a) :]
            norm = torch.sqrt(sum((g**2).sum() for g in d_w if g is not None))
            eps = self.fd_scale / (norm + 1e-12)
            xi = self.weight_optim.param_groups[0]["lr"]

            def shift(sign: float) -> None:
                with torch.no_grad():
                    for p, b, g in zip(w, backup, d_w, strict=True):
                        p.copy_(b if g is None else b + sign * eps * g)

            shift(+1.0)
            g_pos = train_grads(a, "arch")
            shift(-1.0)
            g_neg = train_grads(a, "arch")
        finally:
            with torch.no_grad():
                for p, b in zip(w, backup, strict=True):
                    p.copy_(b)
        for i, (gp, gn) in enumerate(zip(g_pos, g_neg, strict=True)):
            if gp is not None and d_alpha[i] is not None:
                d_alpha[i] = d_alpha[i] - xi * (gp - gn) / (2 * eps)
        return loss.detach(), d_alpha, rec.values


def check_second_order_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """The unrolled step of ``order=2`` is SGD's (momentum and weight decay included); refuse others."""
    if not isinstance(optimizer, torch.optim.SGD):
        name = type(optimizer).__name__
        raise ValueError(f"order 2 needs an SGD weight optimizer (its virtual step is SGD's), got {name}")
    for group in optimizer.param_groups:
        if group.get("nesterov") or group.get("dampening", 0) or group.get("maximize"):
            raise ValueError("order 2 supports SGD without nesterov, dampening or maximize")


@torch.no_grad()
def virtual_sgd_step(optimizer: torch.optim.SGD, grads: Sequence[torch.Tensor | None]) -> None:
    """w ← w − ξ (g + λ w + μ b) in place, the step ``optimizer`` would take with gradients ``grads``
    (b its momentum buffer, absent before the first step), without changing its state."""
    params = optimizer_params(optimizer)
    grad_of = {id(p): g for p, g in zip(params, grads, strict=True)}
    for group in optimizer.param_groups:
        lr, mom, wd = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        for p in group["params"]:
            g = grad_of[id(p)]
            if g is None:
                continue
            d = g + wd * p
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if mom and buf is not None:
                d = d + mom * buf
            p.sub_(lr * d)
