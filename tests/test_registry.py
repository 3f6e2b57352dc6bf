"""Registries: names found by file, by decorator, from a plug-in outside the repository and from an
entry point; unknown names reported at their config key."""

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

import pyronas.models
import pyronas.plugins as plugins
from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.errors import ConfigError, RegistryError
from pyronas.infer import Search
from pyronas.registry import PRIORS, Registry, available, build

TINY = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
    "search.epochs=1", "search.steps_per_epoch=3",
]

PLUGIN = '''
"""A researcher's own NAS pieces, registered from outside the pyronas tree."""
import pyro.distributions as dist
import torch

from pyronas.callbacks.base import CALLBACKS, Callback
from pyronas.infer.objectives import register_term
from pyronas.infer.program import AlphaPrior
from pyronas.registry import PRIORS
from pyronas.select.rules import register_selector

CALLS = {"prior": 0, "term": 0, "selector": [], "callback": 0}


@PRIORS.register("plugin_normal")
class PluginNormal(AlphaPrior):
    def __init__(self, supernet, scale: float = 1.0):
        super().__init__(supernet)
        self.scale = scale

    def alpha_dist(self, kind):
        CALLS["prior"] += 1
        return dist.Normal(torch.zeros(self.arch_shapes[kind], device=self.device), self.scale).to_event(2)


@register_term("plugin_l1")
def plugin_l1(ctx):
    CALLS["term"] += 1
    return sum(p.abs().sum() for p in ctx.guide.arch_parameters())


@register_selector("plugin_argmax")
def plugin_argmax(search, tag: str = ""):
    CALLS["selector"].append(tag)
    return search.space.derive(search.op_probs())


@CALLBACKS.register("plugin_counter")
class PluginCounter(Callback):
    def __init__(self, every: int = 1):
        self.every = every

    def on_step_end(self, search, step):
        if step % self.every == 0:
            CALLS["callback"] += 1
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """``my_nas_plugin.py`` in a folder outside the repository, on ``sys.path`` for this test only."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "my_nas_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    yield "my_nas_plugin"
    sys.modules.pop("my_nas_plugin", None)


def test_plugin_named_in_imports_provides_prior_term_selector_and_callback(plugin, tmp_path, one_thread):
    cfg_file = tmp_path / "plugin.yaml"
    cfg_file.write_text(textwrap.dedent(f"""\
        imports: [{plugin}]
        model: {{name: plugin_normal, params: {{scale: 2.0}}}}
        objective: {{terms: [{{name: plugin_l1, weight: 0.01}}]}}
        select: {{rule: plugin_argmax, params: {{tag: chosen}}}}
        search: {{callbacks: [{{name: plugin_counter, params: {{every: 1}}}}]}}
    """))
    cfg = load_config(cfg_file, TINY)
    calls = sys.modules[plugin].CALLS
    search = Search(cfg, tmp_path / "run", data=load_dataset("digits"))
    alpha_prior = search.model.prior.alpha  # the composite prior holds the plug-in as its alpha group
    assert type(alpha_prior).__name__ == "PluginNormal" and alpha_prior.scale == 2.0
    genotype = search.run(progress_bar=False)
    assert calls["prior"] > 0 and calls["term"] >= 3 and calls["callback"] == 3
    assert calls["selector"] == ["chosen"]
    assert str(genotype) == str(search.space.derive(search.op_probs()))


def test_unimportable_plugin_names_the_key():
    with pytest.raises(ConfigError, match=r"^imports\[1\]: cannot import 'no_such_pyronas_plugin'"):
        load_config(overrides=["imports=[json, no_such_pyronas_plugin]"])


def test_entry_point_plugin_is_loaded_once_on_first_lookup(tmp_path, monkeypatch):
    (tmp_path / "ep_plugin_mod.py").write_text(textwrap.dedent("""\
        from pyronas.infer.objectives import register_term
        LOADS = []
        LOADS.append(1)

        @register_term("ep_zero")
        def ep_zero(ctx):
            return 0.0
    """))
    info = tmp_path / "ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pyronas.plugins]\nep = ep_plugin_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_plugins_loaded", False)
    from pyronas.infer.objectives import TERMS

    try:
        assert "ep_zero" in TERMS
        assert TERMS.get("ep_zero", "objective.terms[0].name").__name__ == "ep_zero"
        assert sys.modules["ep_plugin_mod"].LOADS == [1]
    finally:
        sys.modules.pop("ep_plugin_mod", None)


@pytest.fixture
def dropped_prior():
    """A prior file written into the models/ source folder, removed afterwards."""
    path = Path(pyronas.models.__path__[0]) / "house_probe_prior.py"
    path.write_text(textwrap.dedent('''\
        """A prior dropped into models/ by a test."""
        import pyro.distributions as dist
        import torch

        from pyronas.infer.program import AlphaPrior


        class ProbePrior(AlphaPrior):
            def __init__(self, supernet, width: float = 1.0):
                super().__init__(supernet)
                self.width = width

            def alpha_dist(self, kind):
                return dist.Normal(torch.zeros(self.arch_shapes[kind]), self.width).to_event(2)
    '''))
    importlib.invalidate_caches()
    yield "house_probe_prior"
    path.unlink()
    sys.modules.pop("pyronas.models.house_probe_prior", None)
    PRIORS._entries.pop("house_probe_prior", None)


def test_new_file_in_models_is_found_by_its_name(dropped_prior):
    from pyronas.nn.spaces import get_space
    from pyronas.nn.supernet import Supernet

    assert dropped_prior in available("models")
    prior = build("models", dropped_prior, {"width": 3.0}, Supernet(get_space("nb201"), 4, 1, 1, 10),
                  where="model.params")
    assert type(prior).__name__ == "ProbePrior" and prior.width == 3.0
    with pytest.raises(ConfigError, match=r"^model\.params\.height: unknown parameter"):
        build("models", dropped_prior, {"height": 1}, Supernet(get_space("nb201"), 4, 1, 1, 10), where="model")


def test_registry_contract():
    reg = Registry("widget", "a function widget(x, **params) -> int", positional=1)

    @reg.register("double")
    def double(x, factor: int = 2):
        return factor * x

    assert "double" in reg and list(reg) == ["double"] and reg["double"] is double
    assert reg.build("double", {"factor": 3}, 5, where="widgets[0]") == 15
    with pytest.raises(RegistryError, match=r"^widgets\[0\]\.name: unknown widget 'triple' \(known: double\)"):
        reg.build("triple", {}, 5, where="widgets[0]")
    with pytest.raises(ConfigError, match=r"^widgets\[0\]\.params\.scale: unknown parameter"):
        reg.build("double", {"scale": 1}, 5, where="widgets[0]")
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("double", lambda x: x)
    with pytest.raises(KeyError):
        reg["triple"]
