"""DrNAS' per-stage warm-up (issue #29 §3.1): the official train_search_progressive.py skips the architecture
step in the first epochs of EVERY stage, which one global ``search.warmup_epochs`` cannot express."""

from __future__ import annotations

import pytest

from pyronas.callbacks.progressive import Progressive
from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import Search

TINY = ["space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
        "model.name=dirichlet", "guide.name=dirichlet", "search.epochs=4", "search.steps_per_epoch=2",
        "search.eval_batches=1"]
PROGRESSIVE = ("search.callbacks=[{name: progressive, params: {epochs: [2, 2], partial_channels: [1, 1], "
               "warmup_epochs: 1, record_memory: false}}]")


def test_each_stage_starts_with_weight_only_epochs(one_thread):
    """The runner's architecture updates per epoch: off in the first epoch of each 2-epoch stage, on after."""
    search = Search(load_config(overrides=[*TINY, PROGRESSIVE]), data=load_dataset("digits"))
    calls, step = [], search.svi.step

    def spy(*args, **kwargs):
        calls.append((search.state.epoch, kwargs["update_arch"]))
        return step(*args, **kwargs)

    search.svi.step = spy
    search.run(progress_bar=False)
    per_epoch = {e: {u for epoch, u in calls if epoch == e} for e in range(4)}
    assert per_epoch == {0: {False}, 1: {True}, 2: {False}, 3: {True}}


def test_the_warm_up_state_comes_back_on_resume():
    """A checkpoint written at the end of a stage's last epoch resumes into the next stage's warm-up."""
    class State:  # what Progressive reads and sets of a SearchState
        update_arch = True

    p = Progressive([2, 2], [1, 1], warmup_epochs=1, record_memory=False)
    p.stage, search = 1, State()
    p._set_update_arch(search, 2)
    assert search.update_arch is False
    q, fresh = Progressive([2, 2], [1, 1], warmup_epochs=1, record_memory=False), State()
    q.load_state_dict(p.state_dict())
    q.on_resume(fresh)
    assert fresh.update_arch is False
    with pytest.raises(ValueError, match="progressive.warmup_epochs"):
        Progressive([2, 2], [1, 1], warmup_epochs=2)
