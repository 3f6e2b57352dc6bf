"""The exploration study of DrNAS section 4.4, written after every epoch.

Draw ``n`` (paper: 100) mixing weights θ from the learnt Dirichlet q(θ | β), take each draw's
argmax architecture (per-edge argmax, then the space's derivation rule), and compare them with
the architecture of the Dirichlet mean (eq. 4): how many distinct architectures, how often a draw
gives the mean's architecture, and how often a single edge agrees with it. Early in the search
β ≈ 1 and the draws explore many architectures; as β concentrates they converge to the mean's.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch

from pyronas.callbacks.base import Callback
from pyronas.io import append_jsonl, atomic_write_text, read_jsonl
from pyronas.nn.spaces import Genotype, SearchSpace
from pyronas.nn.supernet import Supernet

FILENAME = "exploration.jsonl"


def _derive(space: SearchSpace, supernet: Supernet, weights: dict[str, torch.Tensor]) -> Genotype:
    return space.derive({k: supernet.to_full(k, w) for k, w in weights.items()})


@torch.no_grad()
def exploration_study(guide, supernet: Supernet, space: SearchSpace, n: int = 100, seed: int = 0) -> dict:
    """Summary of ``n`` architectures sampled from the guide vs the mean's architecture.

    Sampling happens under a forked RNG seeded with ``seed``, so the study never perturbs the
    search's random stream. Returns a JSON-serialisable dict.
    """
    mean_w = guide.op_probs()
    mean_geno = str(_derive(space, supernet, mean_w))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draws = guide.sample_alpha(n)
    weights = {k: guide.to_weights(v) for k, v in draws.items()}
    genos = [str(_derive(space, supernet, {k: w[s] for k, w in weights.items()})) for s in range(n)]
    counts = Counter(genos)
    agree = torch.cat([(w.argmax(-1) == mean_w[k].argmax(-1)).float().flatten() for k, w in weights.items()])
    return {
        "n": n,
        "distinct": len(counts),
        "match_mean": counts.get(mean_geno, 0) / n,
        "edge_agreement": float(agree.mean()),
        "mean_genotype": mean_geno,
        "top": [{"genotype": g, "count": c, "is_mean": g == mean_geno} for g, c in counts.most_common(5)],
    }


class Exploration(Callback):
    """Append the section 4.4 study of every epoch to ``<run>/exploration.jsonl`` (one JSON object a line).

    Args:
        num_samples: draws from q(θ | β) per epoch (paper: 100).
    """

    def __init__(self, num_samples: int = 100):
        self.num_samples = num_samples
        self.last_epoch = -1

    def on_epoch_end(self, search, epoch: int) -> None:
        """Run the exploration study of the epoch (DrNAS sec. 4.4) and append it to exploration.jsonl."""
        self.last_epoch = epoch
        study = exploration_study(search.guide, search.supernet, search.space, self.num_samples, seed=epoch)
        study = {"epoch": epoch, **study}
        if search.out_dir is not None:
            append_jsonl(Path(search.out_dir) / FILENAME, study)

    def state_dict(self) -> dict:
        """The last epoch studied."""
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore the last epoch studied."""
        self.last_epoch = state["last_epoch"]

    def on_resume(self, search) -> None:
        """Drop lines of epochs after the checkpoint (written before an interruption), so a resumed
        run has exactly one line per epoch."""
        path = Path(search.out_dir) / FILENAME if search.out_dir is not None else None
        if path is None or not path.exists():
            return
        rows = [r for r in read_jsonl(path) if r["epoch"] <= self.last_epoch]  # a torn last line is dropped
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
