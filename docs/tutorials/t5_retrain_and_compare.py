# %% [markdown]
# # 5. Retrain what was found, compare it with random cells, look it up in NAS-Bench-201
#
# A supernet's architecture-split accuracy says little about the cell it derives: the cell has to be
# trained from scratch, alone, and compared with what chance would have given at the same cost. This
# tutorial
#
# 1. searches a cell (DrNAS' preset at the CPU budget on Fashion-MNIST, as in tutorial 1);
# 2. retrains it with the **reference protocol** (``configs/train_reference_fmnist.yaml``: C = 8, one
#    cell per stage, 6,000 training images at 16 px, 3 epochs, the test accuracy on a fixed 2,000-image
#    subset of the Fashion-MNIST test set; a few seconds per cell on a CPU);
# 3. retrains random cells of the same space with the same protocol and seeds (the random-search
#    baseline of Li & Talwalkar 2019), and ranks the found cell among them;
# 4. looks every cell up in the NAS-Bench-201 CIFAR-10 validation table (``pip install 'pyronas[bench]'``):
#    the same cell trained 200 epochs on CIFAR-10 by the benchmark's authors. That is a *transfer*
#    figure, not a Fashion-MNIST result, and is labelled so.
#
# ``python docs/tutorials/t5_retrain_and_compare.py`` takes a few minutes on a CPU;
# ``PYRONAS_TUTORIAL_TINY=1`` shrinks the search, the protocol and the number of random cells.

# %%
import os
import statistics
from pathlib import Path

import pyronas
from pyronas.bench.nb201 import load_table
from pyronas.bench.reference import evaluate_against_reference, load_protocol, percentile, train_cell
from pyronas.train.random_cells import random_genotypes

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
OUT = Path(os.environ.get("PYRONAS_TUTORIAL_OUT", "runs/tutorials")) / "t5_retrain_and_compare"
SEARCH_SIZE = ["data.portion=0.02", "supernet.C=4", "search.epochs=2", "search.steps_per_epoch=3",
               "search.eval_batches=2", "search.callbacks=[]"] if TINY else []
PROTOCOL_SIZE = ["data.portion=0.01", "train.epochs=1", "train.eval_every=1"] if TINY else []
N_RANDOM = 2 if TINY else 8
SEEDS = (0,) if TINY else (0, 1)

# %% [markdown]
# ## 1. Search

# %%
search = pyronas.methods.drnas(budget="cpu", overrides=SEARCH_SIZE).search(OUT / "search")
found = search.run(progress_bar=False)
print(f"found: {found}")

# %% [markdown]
# ## 2 and 3. Retrain the found cell and random cells with one protocol
#
# ``load_protocol()`` is the reference protocol as a ``TrainConfig`` (its keys can be overridden like a
# search config's); ``train_cell(cell, seed, protocol)`` trains one cell from scratch with one training
# seed and returns its test accuracy. ``random_genotypes`` draws cells uniformly under the space's
# derivation rule (for NAS-Bench-201: one of the 5 ops on each of the 6 edges).

# %%
protocol = load_protocol(overrides=PROTOCOL_SIZE)


def test_accuracy(cell) -> float:
    """Mean Fashion-MNIST test accuracy of ``cell`` over the training seeds."""
    return statistics.fmean(train_cell(cell, seed, protocol)["test_acc"] for seed in SEEDS)


found_acc = test_accuracy(found)
randoms = random_genotypes(search.space, N_RANDOM, seed=1)
random_acc = [test_accuracy(cell) for cell in randoms]
print(f"found cell: test accuracy {found_acc:.4f}")
print(f"{N_RANDOM} random cells: {statistics.fmean(random_acc):.4f} mean, {max(random_acc):.4f} best")
print(f"the found cell beats {percentile(found_acc, random_acc):.0f} % of the random cells")

# %% [markdown]
# At the full protocol the found cell can also be ranked among the package's **reference set**: 105
# NAS-Bench-201 cells (the five single-op cells and 100 random ones) trained once with exactly this
# protocol (``pyronas/bench/data/fmnist_reference_v1.json``). ``evaluate_against_reference`` retrains the
# cell with the stored protocol and seeds and refuses a protocol that differs from the stored one, which
# is why the tiny run leaves it out.

# %%
if not TINY:
    ref = evaluate_against_reference(found)
    print(f"reference set: test accuracy {ref['test_acc_mean']:.4f}, percentile {ref['percentile']:.1f}")

# %% [markdown]
# ## 4. NAS-Bench-201: the same cells on CIFAR-10 (transfer)
#
# ``query`` accepts a ``Genotype``, its NAS-Bench-201 string or its op indices and returns the per-seed
# and mean 200-epoch validation accuracy, parameters, latency, rank, percentile and regret.

# %%
table = load_table("cifar10")
record = table.query(found)
print(f"found cell on NAS-Bench-201 CIFAR-10 (valid, transfer): {record.val_acc_mean:.2f} %, "
      f"percentile {record.percentile:.1f}, rank {record.rank} of {len(table)}")
for cell, acc in zip(randoms, random_acc, strict=True):
    print(f"  random {str(cell):<96} Fashion-MNIST {acc:.4f}   NB201 CIFAR-10 {table.query(cell).val_acc_mean:.2f}")

# %% [markdown]
# The table's record is that of the found cell itself (its NAS-Bench-201 string), and the percentile is
# the share of the other 15,624 cells it beats (a tie counts one half).

# %%
assert record.string == found.nb201_string()
below = (table.mean < record.val_acc_mean).sum()
ties = (table.mean == record.val_acc_mean).sum() - 1
assert abs(record.percentile - 100 * (below + ties / 2) / (len(table) - 1)) < 1e-9
