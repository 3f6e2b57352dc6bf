"""Search callbacks: per-method work at step/epoch boundaries without touching the search loop.

A callback named ``X`` in a config is the one ``Callback`` subclass defined in module
``pyronas/callbacks/X.py`` (file name = name, like priors and guides), or a ``Callback`` subclass
registered anywhere with ``@CALLBACKS.register("X")`` (a plug-in, see ``pyronas.registry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyronas.registry import Registry

if TYPE_CHECKING:
    from pyronas.infer.state import SearchState


class Callback:
    """Hooks called by the search runner (``pyronas.infer.runner.Search``) with its ``SearchState``
    (fields: cfg, space, model, supernet, guide, svi, weight_data, arch_data, device, out_dir, epoch,
    step, global_step, history, metrics, row; methods: op_probs, evaluate, predict, loss,
    arch_parameters, rebuild_optimizers). ``on_epoch_end`` may add numbers to ``search.row``, the
    metrics row of the epoch that ends. Stateful callbacks implement ``state_dict``.

    The order of the hooks in a search of ``E`` epochs and ``S`` steps per epoch::

        on_search_start                 once, when the Search is built (a resume loads its checkpoint after)
        load_state_dict, on_resume      only when resuming, for each callback in turn
        for each epoch e:
            on_step_end                 after every step's weight and architecture updates
            on_epoch_end(e)             after the evaluation and the history/metrics rows of epoch e;
                                        before metrics.json, history.json and the checkpoint are written
        on_search_end                   after search.keep and selection, before genotype.json

    Callbacks run in the order of ``search.callbacks``. A subclass's ``__init__`` takes the entry's
    ``params`` as keyword arguments (checked against its signature on load); a new hook method only
    overrides the ones it needs (every default does nothing).

    What a callback may read and change of the ``SearchState`` (see its class docstring):

    * read anything;
    * ``search.row`` during ``on_epoch_end``: add keys (they go to ``metrics.json``, the log and
      TensorBoard); do not remove the runner's;
    * files of its own under ``search.out_dir`` (``exploration.jsonl``, ...) when it is not None; only
      rank 0 writes in a distributed run;
    * the network's and guide's structure (``pyronas.nn.surgery``, as ``progressive`` does), followed by
      ``search.rebuild_optimizers()`` and an ``on_resume`` that re-applies it from its ``state_dict``;
    * not the counters (``epoch``, ``step``, ``global_step``), ``history``, ``metrics`` or ``cfg``: the
      runner owns them and checkpoints them.

    A change that must survive ``--resume`` lives in ``state_dict`` / ``load_state_dict`` (plain data
    and tensors: the checkpoint is loaded with ``weights_only=True``).
    """

    def on_search_start(self, search: SearchState) -> None:
        """Called once when the search is built, before any step: check the config, set up, measure."""

    def on_resume(self, search: SearchState) -> None:
        """Called after ``load_state_dict`` and before the network/guide states are loaded, so a
        callback that changed the network's structure (pruning, widening) can re-apply it."""

    def on_step_end(self, search: SearchState, step: int) -> None:
        """Called after every bilevel step; ``step`` is ``search.global_step`` (steps done in all epochs)."""

    def on_epoch_end(self, search: SearchState, epoch: int) -> None:
        """Called after epoch ``epoch`` was evaluated and recorded; add numbers to ``search.row`` here."""

    def on_search_end(self, search: SearchState) -> None:
        """Called once after selection (the genotype is derived; the guide holds the kept state)."""

    def state_dict(self) -> dict[str, Any]:
        """The callback's state for the checkpoint (plain data and tensors); stateless callbacks return {}."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned, when a run is resumed (before ``on_resume``)."""


CALLBACKS: Registry[type[Callback]] = Registry(
    "callback",
    "a Callback subclass; __init__(**params); hooks on_search_start/on_step_end/on_epoch_end/...",
    base=Callback,
    package="pyronas.callbacks",
    exclude=("base",),
)


def load_callback(name: str, params: dict[str, Any], where: str) -> Callback:
    """Instantiate callback ``name`` with ``params``; ``where`` is its config section
    (``search.callbacks[0]``), named by every error."""
    return CALLBACKS.build(name, params, where=where)
