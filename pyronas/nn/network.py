"""The discrete network built from a ``Genotype``, for retraining from scratch (plain PyTorch, no Pyro).

One class covers every space of ``pyronas.nn.spaces``:

* DARTS-like spaces (``darts``, ``vinnas_*``, ``rdarts_*``): stem (3x3 conv + BN, ``3 C`` channels),
  ``layers`` cells with reductions at 1/3 and 2/3 of the depth, each cell taking the outputs of the
  two previous cells, concatenation of its intermediate nodes, optional auxiliary head after the
  cell at 2/3 depth, global average pooling and a linear classifier (DARTS, Liu et al. 2019, sec. 3.1;
  the construction of the reference ``NetworkCIFAR``).
* NAS-Bench-201: stem, 3 stages of ``layers`` cells joined by residual reduction blocks, BN + ReLU,
  global average pooling, linear classifier (Dong & Yang 2020, fig. 1).
* VINNAS layouts (Ferianc et al., sec. V.A): M is a single reduction cell, F is ``NNRNNRNN`` with the
  channels scaled by 6.4 for evaluation, C is searched as ``NNRNNRNN`` and evaluated with 20 cells
  (``6N R 6N R 6N``) and three times the channels; ``evaluation_scale`` gives these settings.

Drop-path (Larsson et al. 2017, as used by DARTS) zeroes each non-identity edge output of a sample
with probability ``drop_path_prob`` during training and rescales the survivors by ``1 / (1 - p)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.nn.ops import FactorizedReduce, Identity, ReLUConvBN, ResNetBasicBlock, Zero, make_op
from pyronas.nn.spaces import Genotype, SearchSpace, get_space, layout_for

# VINNAS (Ferianc et al., sec. V.A): (channel factor, cells) of the evaluation network.
VINNAS_EVALUATION = {"vinnas_m": (1.0, 1), "vinnas_f": (6.4, 8), "vinnas_c": (3.0, 20)}


def evaluation_scale(space: SearchSpace | str, C: int, layers: int) -> tuple[int, int]:
    """Channels and cells of the evaluation network of a search run at ``(C, layers)``.

    VINNAS scales the searched network for evaluation: ×6.4 channels for F, ×3 channels and 20 cells
    for C (sec. V.A). The scaled channel count is rounded to the nearest even number (factorized
    reductions split channels in two). Other spaces are returned unchanged: their evaluation
    settings (e.g. DARTS C = 36, 20 cells) are given explicitly in the training config.
    """
    name = space if isinstance(space, str) else space.name
    if name not in VINNAS_EVALUATION:
        return C, layers
    factor, cells = VINNAS_EVALUATION[name]
    return max(2, 2 * round(C * factor / 2)), cells


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Drop a whole path per sample: ``x * m / (1 - p)``, ``m ~ Bernoulli(1 - p)`` per sample.

    The rescaling keeps the expectation: ``E[drop_path(x)] = x``.
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class DiscreteCell(nn.Module):
    """A cell of a genotype: node ``j = Σ_{(op, i, j) kept} op(state_i)``.

    Args:
        space: the search space (number of inputs, output rule).
        edges: kept edges ``(op, source, target)`` of this cell kind.
        concat: nodes concatenated into the output (``output == "concat"``); ignored for ``"last"``.
        C_pp, C_p: channels of the outputs of the cells ``c - 2`` and ``c - 1``.
        C: channels of every node of this cell.
        reduction: whether edges from the cell inputs have stride 2.
        reduction_prev: whether cell ``c - 1`` halved the resolution (then input ``c - 2`` is
            reduced with a ``FactorizedReduce``).
    """

    def __init__(
        self,
        space: SearchSpace,
        edges: list[tuple[str, int, int]],
        concat: list[int],
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ):
        super().__init__()
        self.space, self.reduction = space, reduction
        if space.n_inputs == 2:
            self.pre0: nn.Module = FactorizedReduce(C_pp, C) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0)
            self.pre1: nn.Module = ReLUConvBN(C_p, C, 1, 1, 0)
        elif C_p != C:
            raise ValueError("single-input cells keep their channel count")
        n_states = space.n_inputs + space.n_nodes
        for op, i, j in edges:
            if not (0 <= i < j and space.n_inputs <= j < n_states):
                raise ValueError(f"edge ({op!r}, {i}, {j}) does not fit space {space.name!r}")
        edges = sorted(edges, key=lambda e: e[2])  # nodes in topological order
        fed = {j for _, _, j in edges}
        if fed != set(range(space.n_inputs, n_states)):
            raise ValueError(f"every intermediate node needs an incoming edge; got edges {edges}")
        self.edge_list = [(i, j) for _, i, j in edges]
        self.ops = nn.ModuleList(
            make_op(op, C, C, 2 if reduction and i < space.n_inputs else 1, affine=True, track=True)
            for op, i, _ in edges
        )
        if space.output == "last":
            self.concat = [n_states - 1]
        else:
            self.concat = list(concat) if concat else list(range(space.n_inputs, n_states))
        self.C_out = C * len(self.concat)

    def forward(self, s0: torch.Tensor | None, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        """The cell's output from the previous two states (``drop_prob``: drop-path probability)."""
        states: list = [self.pre0(s0), self.pre1(s1)] if self.space.n_inputs == 2 else [s1]
        states += [None] * self.space.n_nodes
        for op, (i, j) in zip(self.ops, self.edge_list, strict=True):
            h = op(states[i])
            if self.training and drop_prob > 0.0 and not isinstance(op, (Identity, Zero)):
                h = drop_path(h, drop_prob)
            states[j] = h if states[j] is None else states[j] + h
        out = [states[n] for n in self.concat]
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier after the cell at 2/3 depth (DARTS / NASNet ``AuxiliaryHeadCIFAR``).

    ReLU -> 5x5 average pooling with stride 3 -> 1x1 conv (128) -> BN -> ReLU -> 2x2 conv (768) -> BN
    -> ReLU -> linear. The reference assumes an 8x8 input (CIFAR); for smaller feature maps (e.g. 7x7
    from 28x28 images) the pooling is adaptive to 2x2 instead, which keeps the parameters unchanged.
    """

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Auxiliary logits from the features after the last reduction (DARTS)."""
        x = F.relu(x)
        if min(x.shape[-2:]) >= 8:
            x = F.avg_pool2d(x, 5, stride=3, padding=0, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        x = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Network(nn.Module):
    """Discrete network of a genotype, trained from scratch.

    Args:
        genotype: the architecture (cells per kind).
        space: its search space (or its name).
        C: initial channels.
        layers: cells per stage (NAS-Bench-201 skeleton) or total cells (DARTS-like).
        in_channels, num_classes: data shape.
        auxiliary: add the auxiliary head after the cell at 2/3 depth (after the last reduction).
        layout: optional explicit macro layout (``N``/``R``/``B`` letters, see ``layout_for``).

    ``forward(x)`` returns logits; in training mode with ``auxiliary`` it returns
    ``(logits, aux_logits)``. Set ``drop_path_prob`` before each epoch.
    """

    def __init__(
        self,
        genotype: Genotype,
        space: SearchSpace | str,
        C: int,
        layers: int,
        in_channels: int = 3,
        num_classes: int = 10,
        auxiliary: bool = False,
        layout: str | None = None,
    ):
        super().__init__()
        space = get_space(space) if isinstance(space, str) else space
        missing = set(space.cell_kinds) - set(genotype.cells)
        if missing:
            raise ValueError(f"genotype has no cell of kind(s) {sorted(missing)} of space {space.name!r}")
        self.space, self.genotype = space, genotype
        self.layout = layout or layout_for(space, layers)
        if set(self.layout) - set("NRB"):
            raise ValueError(f"layout {self.layout!r} may only contain N, R and B")
        self.drop_path_prob = 0.0
        kind_of = {"N": space.cell_kinds[0], "R": space.cell_kinds[-1]}
        C_stem = space.stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        reductions = [n for n, letter in enumerate(self.layout) if letter in "RB"]
        self.aux_index = reductions[-1] if reductions else 2 * len(self.layout) // 3
        C_pp, C_p, C_cur = C_stem, C_stem, C
        reduction_prev = False
        C_aux = C_p
        self.cells = nn.ModuleList()
        for n, letter in enumerate(self.layout):
            if letter == "B":
                C_cur *= 2
                self.cells.append(ResNetBasicBlock(C_p, C_cur, 2))
                C_pp, C_p, reduction_prev = C_p, C_cur, True
            else:
                reduction = letter == "R"
                if reduction:
                    C_cur *= 2
                kind = kind_of[letter]
                cell = DiscreteCell(
                    space,
                    genotype.cells[kind],
                    genotype.concat.get(kind, []),
                    C_pp,
                    C_p,
                    C_cur,
                    reduction,
                    reduction_prev,
                )
                self.cells.append(cell)
                C_pp, C_p, reduction_prev = C_p, cell.C_out, reduction
            if n == self.aux_index:
                C_aux = C_p
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes) if auxiliary else None
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_p), nn.ReLU(inplace=False)) if space.n_inputs == 1 else None
        self.classifier = nn.Linear(C_p, num_classes)

    @classmethod
    def from_genotype(
        cls,
        genotype: Genotype,
        space: SearchSpace | str | None = None,
        C: int = 16,
        layers: int = 5,
        in_channels: int = 3,
        num_classes: int = 10,
        auxiliary: bool = False,
        layout: str | None = None,
    ) -> Network:
        """Build the network of ``genotype`` (space defaults to ``genotype.space``)."""
        return cls(genotype, space or genotype.space, C, layers, in_channels, num_classes, auxiliary, layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits, and the auxiliary logits when training with an auxiliary head."""
        aux_logits = None
        s0 = s1 = self.stem(x)
        for n, cell in enumerate(self.cells):
            if isinstance(cell, DiscreteCell):
                s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            else:
                s0, s1 = s1, cell(s1)
            if n == self.aux_index and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        if self.lastact is not None:
            s1 = self.lastact(s1)
        logits = self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))
        if aux_logits is not None:
            return logits, aux_logits
        return logits


def count_parameters(module: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Number of parameters; by default without the auxiliary head (as papers report it)."""
    return sum(p.numel() for name, p in module.named_parameters() if not (exclude_auxiliary and "auxiliary" in name))
