import os

import pyro
import pytest
import torch

from pyronas.data.datasets import FASHION_MNIST_ROOT

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

needs_fmnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_ROOT), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
)


@pytest.fixture(autouse=True)
def _pyro_validation():
    pyro.enable_validation(True)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (much slower on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
