"""Augmentations on batched tensors: cutout area, crop content, flip, erasing."""

import torch

from pyronas.data.augment import Augment, cutout, cutout_mask, random_crop, random_erasing, random_flip


def test_cutout_masks_the_right_area():
    g = torch.Generator().manual_seed(0)
    H = W = 32
    mask = cutout_mask((2000, H, W), 16, g)
    zeros = mask == 0
    # every masked region is one axis-aligned rectangle of at most 16 x 16 pixels
    for m in zeros[:200]:
        r, c = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert r.numel() <= 16 and c.numel() <= 16
        assert r.numel() > 0 and c.numel() > 0
        assert m.sum() == r.numel() * c.numel()  # full rectangle
        assert (r.diff() == 1).all() and (c.diff() == 1).all()
        assert m[r[0] : r[-1] + 1, c[0] : c[-1] + 1].all()
    # expected masked fraction with a uniformly placed centre clipped at the borders: the covered
    # rows per centre y are |[y-8, y+8) ∩ [0, 32)|, so E = (mean covered rows / 32)^2.
    covered = torch.tensor([min(y + 8, 32) - max(y - 8, 0) for y in range(32)], dtype=torch.float)
    expected = (covered.mean() / 32) ** 2
    assert abs(zeros.float().mean() - expected) < 0.01
    x = torch.ones(3, 3, H, W)
    y = cutout(x, 16, torch.Generator().manual_seed(1))
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])  # same square on every channel
    assert torch.equal(cutout(x, 0), x)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float).view(2, 1, 8, 8) + 1
    y = random_crop(x, 2, g)
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        hits = [(t, s) for t in range(5) for s in range(5) if torch.equal(padded[b, :, t : t + 8, s : s + 8], y[b])]
        assert len(hits) == 1


def test_flip_and_erasing():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 1, 4, 5)
    y = random_flip(x, 0.5, g)
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    same = (y == x).flatten(1).all(1)
    assert (flipped | same).all() and 0.4 < flipped.float().mean() < 0.6
    z = random_erasing(torch.ones(1000, 3, 32, 32), p=0.5, generator=g)
    erased = (z == 0).flatten(1).any(1).float().mean()
    assert 0.45 < erased < 0.55
    frac = (z == 0).float().mean(dim=(1, 2, 3))
    frac = frac[frac > 0]
    assert frac.min() > 0.01 and frac.max() < 0.4  # area fraction within scale (0.02, 0.33), rounding aside


def test_augment_pipeline_is_reproducible():
    x = torch.randn(8, 3, 32, 32)
    aug = Augment(crop_padding=4, flip=True, cutout=16, erasing=0.5)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
