"""A plain-PyTorch reimplementation of the official NAS-Bench-201 search loop of DARTS / DrNAS.

Written from the papers and the public descriptions of their code (Dong & Yang 2020, NAS-Bench-201
``TinyNetwork`` + ``SearchCell``; Chen et al. 2021, DrNAS ``train()`` for the 201 space), to time
pyronas against what the papers ran:

- the cell: node ``j = Σ_{i<j} MixedOp_{j<-i}(node_i)``, ``MixedOp(x) = Σ_o w_o · op_o(x)`` over all
  five ops, ``none`` included (``x.mul(0.)`` is computed and multiplied), each conv op its own
  ``ReLU -> Conv -> BN(affine=False, no running stats)``, average pooling without BatchNorm;
- the skeleton: stem conv + BN, ``N`` cells, residual block (stride 2), ``N`` cells, residual block,
  ``N`` cells, BN + ReLU, global average pooling, linear classifier;
- mixing weights: ``softmax(α)`` (DARTS) or a reparameterised Dirichlet sample
  ``θ ~ Dir(elu(β) + 1)`` (DrNAS eq. 3);
- one iteration (first order): the architecture step ``loss.backward()`` + Adam on α, then the
  weight step ``loss.backward()``, gradient clipping at 5 and SGD on w -- ``.backward()`` on each
  level computes the gradients of every leaf, as the official code does.

Module and parameter order mirror ``pyronas.nn.Supernet`` on the nb201 space, so
``copy_weights(supernet, net)`` loads the same initial weights into both.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class ReLUConvBN(nn.Module):
    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool, track: bool):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class AvgPooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def make_op(name: str, C: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, affine=False, track=False)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, affine=False, track=False)
    if name == "avg_pool_3x3":
        return AvgPooling()
    raise ValueError(name)


class ResNetBasicblock(nn.Module):
    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1, affine=True, track=True)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine=True, track=True)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(C_in, C_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class SearchCell(nn.Module):
    """NAS-Bench-201 search cell with 4 nodes (6 edges ``j<-i``, sorted as in ``edge2index``)."""

    def __init__(self, C: int, max_nodes: int = 4):
        super().__init__()
        self.max_nodes = max_nodes
        self.edges = nn.ModuleDict()
        for j in range(1, max_nodes):
            for i in range(j):
                self.edges[f"{j}<-{i}"] = nn.ModuleList(make_op(name, C) for name in OPS)
        self.edge2index = {key: e for e, key in enumerate(sorted(self.edges.keys()))}

    def forward(self, x: torch.Tensor, weightss: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, self.max_nodes):
            inter_nodes = []
            for i in range(j):
                key = f"{j}<-{i}"
                weights = weightss[self.edge2index[key]]
                inter_nodes.append(sum(layer(nodes[i]) * w for layer, w in zip(self.edges[key], weights, strict=True)))
            nodes.append(sum(inter_nodes))
        return nodes[-1]


class TinyNetwork(nn.Module):
    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for stage in range(3):
            if stage > 0:
                self.cells.append(ResNetBasicblock(C_prev, 2 * C_prev))
                C_prev *= 2
            for _ in range(N):
                self.cells.append(SearchCell(C_prev))
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, weights) if isinstance(cell, SearchCell) else cell(feature)
        out = self.global_pooling(self.lastact(feature)).flatten(1)
        return self.classifier(out)


def mixing_weights(alpha: torch.Tensor, method: str) -> torch.Tensor:
    """``softmax(α)`` (DARTS eq. 2) or ``θ ~ Dir(elu(β) + 1)`` reparameterised (DrNAS eq. 3)."""
    if method == "darts":
        return F.softmax(alpha, dim=-1)
    if method == "drnas":
        return torch.distributions.Dirichlet(F.elu(alpha) + 1).rsample()
    raise ValueError(method)


class OfficialLoop:
    """One first-order bilevel iteration exactly as the official ``train()`` body runs it."""

    def __init__(self, method: str, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 edges: int = 6, ops: int = 5, grad_clip: float = 5.0):
        self.method = method
        self.net = TinyNetwork(C, N, num_classes, in_channels)
        self.alpha = (1e-3 * torch.randn(edges, ops)).requires_grad_(True)
        self.opt_w = torch.optim.SGD(self.net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.opt_a = torch.optim.Adam([self.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.grad_clip = grad_clip

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.net(x, mixing_weights(self.alpha, self.method)), y)

    def step(self, xw: torch.Tensor, yw: torch.Tensor, xa: torch.Tensor, ya: torch.Tensor) -> None:
        self.opt_a.zero_grad()  # architect.step (first order)
        self.loss(xa, ya).backward()
        self.opt_a.step()
        self.opt_w.zero_grad()  # weight step
        self.loss(xw, yw).backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.opt_w.step()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy parameters in registration order (both networks register them in the same order)."""
    ps, pd = list(src.parameters()), list(dst.parameters())
    if len(ps) != len(pd):
        raise ValueError(f"{len(ps)} vs {len(pd)} parameter tensors")
    for a, b in zip(ps, pd, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"shape {tuple(a.shape)} vs {tuple(b.shape)}")
        b.copy_(a)
