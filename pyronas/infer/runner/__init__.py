"""The search runner: a config in, a genotype and a run folder out, around ``BilevelSVI``.

``Search(cfg, out_dir).run()`` builds the data split, supernet, Pyro model and guide, objective and
optimizers from the config, then runs epochs of ``BilevelSVI.step`` (``pyronas.infer.engine``),
evaluates the plug-in prediction on the architecture split after every epoch, keeps the history and
metrics, writes the run folder atomically (``pyronas.io``) and checkpoints after every epoch (and on
Ctrl-C), so ``run_search(..., resume=True)`` continues bit-exactly, mid-epoch included.

Plug-ins -- callbacks (``pyronas.callbacks``) and selection rules (``pyronas.select.rules``) -- see a
``SearchState`` (``pyronas.infer.state``), not the runner. The runner knows no method by name.

It is three files: ``search`` (the ``Search`` class and its loop), ``checkpoint`` (what a checkpoint holds,
writing and restoring it) and ``run`` (``run_search`` and ``load_run``: a search into and out of its run folder).
"""

from pyronas.infer.engine import NonFiniteLossError
from pyronas.infer.runner.checkpoint import CHECKPOINT
from pyronas.infer.runner.run import load_run, run_search
from pyronas.infer.runner.search import Search, _record  # noqa: F401 (_record: read by tests)

__all__ = ["CHECKPOINT", "NonFiniteLossError", "Search", "load_run", "run_search"]
