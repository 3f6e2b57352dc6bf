"""Every generator a search draws from is seeded together and comes back bit-exactly from a checkpoint."""

from __future__ import annotations

import random

import numpy as np
import pyro.distributions as dist
import torch

from pyronas.rng import rng_state, seed_everything, set_rng_state


def _draws() -> tuple:
    return random.random(), float(np.random.standard_normal()), float(torch.rand(())), float(dist.Normal(0, 1)())


def test_seed_everything_seeds_python_numpy_torch_and_pyro():
    seed_everything(7)
    first = _draws()
    seed_everything(7)
    assert _draws() == first
    seed_everything(8)
    assert all(a != b for a, b in zip(_draws(), first, strict=True))


def test_a_saved_state_restores_every_generator_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(3)
    np.random.standard_normal()  # a cached Gaussian in NumPy's legacy state (has_gauss = 1)
    path = tmp_path / "rng.pt"
    torch.save(rng_state(torch.device("cpu")), path)
    expected = _draws()
    _draws()
    set_rng_state(torch.load(path, weights_only=True), torch.device("cpu"))
    assert _draws() == expected
