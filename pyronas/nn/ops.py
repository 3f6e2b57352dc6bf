"""Candidate operations by name (DARTS, NAS-Bench-201, VINNAS, R-DARTS), plain PyTorch.

Every entry of ``OPS`` is ``fn(C_in, C_out, stride, affine, track) -> nn.Module``; search cells use
BatchNorm without affine parameters (``affine=False``), retraining uses ``affine=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def _bn(C: int, affine: bool, track: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, stride, pad, dilation) -> BN (DARTS / NAS-Bench-201 ``nor_conv``)."""

    def __init__(self, C_in, C_out, kernel, stride, padding, dilation=1, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride, padding, dilation=dilation, bias=False),
            _bn(C_out, affine, track),
        )

    def forward_after_relu(self, r: torch.Tensor) -> torch.Tensor:
        """The op on ``r = relu(x)`` already computed (shared by every op that starts with it)."""
        return self[2](self[1](r))


class DilConv(nn.Sequential):
    """ReLU -> depthwise dilated conv -> pointwise conv -> BN (DARTS ``dil_conv``)."""

    def __init__(self, C_in, C_out, kernel, stride, padding, dilation, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            _bn(C_out, affine, track),
        )

    def forward_after_relu(self, r: torch.Tensor) -> torch.Tensor:
        """The op on an input that was already ReLU'd (the fast path computes one ReLU per state)."""
        return self[3](self[2](self[1](r)))


class SepConv(nn.Sequential):
    """Two stacked DilConv(dilation 1) blocks, the first with the stride (DARTS ``sep_conv``)."""

    def __init__(self, C_in, C_out, kernel, stride, padding, affine=True, track=True):
        super().__init__(
            DilConv(C_in, C_in, kernel, stride, padding, 1, affine, track),
            DilConv(C_in, C_out, kernel, 1, padding, 1, affine, track),
        )

    def forward_after_relu(self, r: torch.Tensor) -> torch.Tensor:
        """The op on an input that was already ReLU'd."""
        return self[1](self[0].forward_after_relu(r))


class Conv7x1x1x7(nn.Sequential):
    """ReLU -> conv 1x7 -> conv 7x1 -> BN (the factorised 7x7 conv of NASNet / VINNAS)."""

    def __init__(self, C_in, C_out, stride, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(C_in, C_out, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            _bn(C_out, affine, track),
        )

    def forward_after_relu(self, r: torch.Tensor) -> torch.Tensor:
        """The op on an input that was already ReLU'd."""
        return self[3](self[2](self[1](r)))


class Identity(nn.Module):
    """The ``skip_connect`` op of stride 1: the input itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x``."""
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, C_out: int, stride: int):
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zeros of the output shape (the ``none`` op)."""
        x = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if x.shape[1] != self.C_out:
            x = x.new_zeros(x.shape[0], self.C_out, x.shape[2], x.shape[3])
        return x.mul(0.0)


class Noise(nn.Module):
    """R-DARTS S4 ``noise`` op: standard Gaussian noise of the output shape (zero at eval)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian noise of the output shape in training, zeros in evaluation (the ``noise`` op)."""
        x = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        return torch.randn_like(x) if self.training else x.mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve resolution with two offset stride-2 1x1 convs, concatenated (DARTS)."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True, track: bool = True):
        super().__init__()
        assert C_out % 2 == 0, "FactorizedReduce needs an even number of output channels"
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(C_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU, then two stride-2 1x1 convolutions on offset grids, concatenated, BatchNorm."""
        return self.forward_after_relu(self.relu(x))

    def forward_after_relu(self, x: torch.Tensor) -> torch.Tensor:
        """The op on an input that was already ReLU'd."""
        y = x[:, :, 1:, 1:] if x.shape[2] % 2 == 0 else F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(y)], dim=1))


def avg_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """3x3 average pooling, padding 1, padded pixels not counted (``count_include_pad=False``):
    ``y = (1_{3x3} * x) / (1_{3x3} * 1)``, a depthwise convolution with a ones kernel divided by the
    number of valid pixels of each window. Equal to ``F.avg_pool2d(x, 3, stride, 1,
    count_include_pad=False)`` up to float rounding, and several times faster on CPU (forward and
    backward), where ``avg_pool2d`` without padded counts has no vectorised kernel.
    """
    C = x.shape[1]
    ones = x.new_ones(C, 1, 3, 3)
    count = F.conv2d(x.new_ones(1, 1, x.shape[2], x.shape[3]), ones[:1], stride=stride, padding=1)
    return F.conv2d(x, ones, stride=stride, padding=1, groups=C) / count


class AvgPool3x3(nn.Module):
    """``avg_pool_3x3`` as a module (no parameters)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """3x3 average pooling without counting padding (as a depthwise convolution; the plain op under ONNX export)."""
        if torch.onnx.is_in_onnx_export():  # ONNX has the op itself; a data-shaped kernel does not export
            return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)
        return avg_pool_3x3(x, self.stride)


class Pool(nn.Module):
    """3x3 max/avg pooling (+1x1 ReLUConvBN when channels change, as in NAS-Bench-201)."""

    def __init__(self, mode: str, C_in: int, C_out: int, stride: int, affine: bool, track: bool):
        super().__init__()
        self.pre = ReLUConvBN(C_in, C_out, 1, 1, 0, affine=affine, track=track) if C_in != C_out else None
        if mode == "avg":
            self.pool: nn.Module = AvgPool3x3(stride)
        else:
            self.pool = nn.MaxPool2d(3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooling op (after the preprocessing convolution when channels change)."""
        return self.pool(self.pre(x) if self.pre is not None else x)


def _skip(C_in, C_out, stride, affine, track) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return Identity()
    return FactorizedReduce(C_in, C_out, affine, track)


OpFactory = Callable[[int, int, int, bool, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    "none": lambda Ci, Co, s, a, t: Zero(Co, s),
    "noise": lambda Ci, Co, s, a, t: Noise(s),
    "skip_connect": _skip,
    "avg_pool_3x3": lambda Ci, Co, s, a, t: Pool("avg", Ci, Co, s, a, t),
    "max_pool_3x3": lambda Ci, Co, s, a, t: Pool("max", Ci, Co, s, a, t),
    "nor_conv_1x1": lambda Ci, Co, s, a, t: ReLUConvBN(Ci, Co, 1, s, 0, 1, a, t),
    "nor_conv_3x3": lambda Ci, Co, s, a, t: ReLUConvBN(Ci, Co, 3, s, 1, 1, a, t),
    "sep_conv_3x3": lambda Ci, Co, s, a, t: SepConv(Ci, Co, 3, s, 1, a, t),
    "sep_conv_5x5": lambda Ci, Co, s, a, t: SepConv(Ci, Co, 5, s, 2, a, t),
    "sep_conv_7x7": lambda Ci, Co, s, a, t: SepConv(Ci, Co, 7, s, 3, a, t),
    "dil_conv_3x3": lambda Ci, Co, s, a, t: DilConv(Ci, Co, 3, s, 2, 2, a, t),
    "dil_conv_5x5": lambda Ci, Co, s, a, t: DilConv(Ci, Co, 5, s, 4, 2, a, t),
    "conv_7x1_1x7": lambda Ci, Co, s, a, t: Conv7x1x1x7(Ci, Co, s, a, t),
}


def make_op(name: str, C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    """Build the candidate operation ``name``."""
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPS)}") from None
    return factory(C_in, C_out, stride, affine, track)


class ResNetBasicBlock(nn.Module):
    """Fixed residual reduction block of the NAS-Bench-201 skeleton (stride 2, C_in -> C_out)."""

    def __init__(self, C_in: int, C_out: int, stride: int = 2, affine: bool = True, track: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine, track)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two 3x3 ReLU-Conv-BN layers plus the shortcut (NAS-Bench-201's residual block)."""
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channels across ``groups`` (PC-DARTS partial-channel connections)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)
