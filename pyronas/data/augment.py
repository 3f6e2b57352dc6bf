"""Data augmentation on batched image tensors ``[B, C, H, W]`` (plain torch, no Pyro).

The retraining protocol of DARTS and its successors: random crop with zero padding and horizontal
flip, cutout (DeVries & Taylor 2017, one ``length x length`` square per image, length 16 on CIFAR),
and random erasing (Zhong et al. 2020, used by VINNAS for F and C). Every function draws its
randomness from an optional ``torch.Generator`` so a run is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


def _randint(high: torch.Tensor | int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform integers in ``[0, high)`` (``high`` may differ per sample)."""
    u = torch.rand(n, generator=generator)
    return (u * torch.as_tensor(high, dtype=torch.float)).floor().long()


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad by ``padding`` on each side and crop a random ``H x W`` window per image."""
    if padding <= 0:
        return x
    B, C, H, W = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = _randint(2 * padding + 1, B, generator).to(x.device)
    left = _randint(2 * padding + 1, B, generator).to(x.device)
    rows = (top[:, None] + torch.arange(H, device=x.device)[None, :])[:, None, :, None].expand(B, C, H, W + 2 * padding)
    out = padded.gather(2, rows)
    cols = (left[:, None] + torch.arange(W, device=x.device)[None, :])[:, None, None, :].expand(B, C, H, W)
    return out.gather(3, cols)


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image horizontally with probability ``p``."""
    flip = _uniform(x.shape[0], generator, x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def cutout_mask(
    shape: tuple[int, int, int], length: int = 16, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """Masks ``[B, H, W]`` of cutout: 0 inside a ``length x length`` square centred uniformly in the
    image (clipped at the borders, as in DeVries & Taylor 2017), 1 elsewhere."""
    B, H, W = shape
    cy = _randint(H, B, generator).to(device)
    cx = _randint(W, B, generator).to(device)
    half = length // 2
    rows = torch.arange(H, device=device)[None, :]
    cols = torch.arange(W, device=device)[None, :]
    in_rows = (rows >= (cy[:, None] - half)) & (rows < (cy[:, None] + length - half))
    in_cols = (cols >= (cx[:, None] - half)) & (cols < (cx[:, None] + length - half))
    return (~(in_rows[:, :, None] & in_cols[:, None, :])).float()


def cutout(x: torch.Tensor, length: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one ``length x length`` square per image (all channels)."""
    if length <= 0:
        return x
    mask = cutout_mask((x.shape[0], x.shape[2], x.shape[3]), length, generator, x.device)
    return x * mask[:, None].to(x.dtype)


def random_erasing(
    x: torch.Tensor,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    value: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability ``p`` replace a rectangle of area
    ``s * H * W``, ``s ~ U(scale)``, aspect ratio ``r ~ logU(ratio)``, by ``value``."""
    B, C, H, W = x.shape
    area = torch.empty(B).uniform_(*scale, generator=generator) * H * W
    log_r = torch.empty(B).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    h = (area * log_r.exp()).sqrt().round().long().clamp(1, H)
    w = (area / log_r.exp()).sqrt().round().long().clamp(1, W)
    top = _randint(H - h + 1, B, generator)
    left = _randint(W - w + 1, B, generator)
    apply = torch.rand(B, generator=generator) < p
    rows = torch.arange(H)[None, :]
    cols = torch.arange(W)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])
    erase = (in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]).to(x.device)
    return torch.where(erase[:, None], torch.full_like(x, value), x)


@dataclass
class Augment:
    """The training-time augmentation pipeline: crop + flip, then random erasing, then cutout.

    Args:
        crop_padding: zero padding of the random crop (0 = no crop).
        flip: random horizontal flip.
        cutout: cutout length (0 = off).
        erasing: probability of random erasing (0 = off).
    """

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 16
    erasing: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = random_crop(x, self.crop_padding, generator)
        if self.flip:
            x = random_flip(x, 0.5, generator)
        if self.erasing > 0:
            x = random_erasing(x, self.erasing, generator=generator)
        if self.cutout > 0:
            x = cutout(x, self.cutout, generator)
        return x
