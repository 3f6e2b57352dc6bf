"""Named extension points: one ``Registry`` class for priors, guides, objective terms, selectors,
proxies, callbacks, optimizers, search spaces and GP kernels.

Every name a config can hold (``model.name``, ``guide.name``, ``objective.terms[i].name``,
``select.rule``, ``search.callbacks[i].name``, ``optim.*.name``, ``space``, ``bo.kernel``) is looked up
in one of these registries. An extension is registered in one of three ways:

1. **One file, named like the extension** -- priors in ``models/``, guides in ``guides/``, callbacks
   in ``pyronas/callbacks/``: the file ``models/foo.py`` defining exactly one ``ArchPrior`` subclass is
   the prior ``foo``. Nothing to register; the file is imported the first time ``foo`` is asked for.
2. **A decorator**, anywhere: ``@PRIORS.register("foo")``, ``@TERMS.register("bar")`` (or the
   older spellings ``register_term``, ``register_selector``, ``register_proxy``).
3. **A plug-in from outside this repository**: a module listed in the config key ``imports:``
   (imported before the config is validated), or a module named by an entry point of group
   ``pyronas.plugins`` (``[project.entry-points."pyronas.plugins"] my_nas = "my_package.my_nas"`` in
   the researcher's ``pyproject.toml``), imported once, the first time any registry is consulted
   (``pyronas.plugins``, whose names this module re-exports).

Example, a plug-in module registering a term and a selector::

    from pyronas.infer.objectives import TermContext, register_term
    from pyronas.select.rules import register_selector

    @register_term("l1_anchor")
    def l1_anchor(ctx: TermContext):
        return sum(p.abs().sum() for p in ctx.guide.arch_parameters())

    @register_selector("argmax_first")
    def argmax_first(search):
        return search.space.derive(search.op_probs())
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from pyronas.errors import ConfigError, RegistryError
from pyronas.plugins import ENTRY_POINT_GROUP, import_modules, load_plugins

T = TypeVar("T")

__all__ = [
    "ENTRY_POINT_GROUP",
    "GUIDES",
    "PRIORS",
    "Registry",
    "RegistryError",
    "available",
    "build",
    "check_params",
    "import_modules",
    "load_plugins",
    "lookup",
    "registries",
]


class Registry(Generic[T]):
    """A named set of implementations of one extension point.

    A registry maps names (the strings used in configs) to objects that honour a *contract*: a base
    class to subclass (priors: ``ArchPrior``; guides: ``ArchGuide``; callbacks: ``Callback``) or a call
    signature (terms: ``term(ctx: TermContext) -> Tensor``; selectors: ``rule(search, **params) ->
    Genotype``; ...). It is read like a mapping (``name in R``, ``R[name]``, ``list(R)``) and

    * ``register(name)`` -- decorator registering a class or function under ``name``;
      ``register(name, obj)`` registers ``obj`` directly (e.g. a ``SearchSpace`` instance);
    * ``get(name, where)`` -- the object, or ``RegistryError`` naming the config key ``where`` and
      listing the known names;
    * ``build(name, params, *args, where=section)`` -- ``get`` then ``obj(*args, **params)``, with
      ``params`` checked against the signature first (``section.params.key: unknown parameter``);
    * ``names()`` -- every known name, including files not imported yet.

    Args:
        kind: what an entry is, in error messages ("prior", "objective term", ...).
        contract: one line stating what an entry must be (shown by ``repr`` and in errors).
        base: the base class entries subclass (a class, or ``"module:Class"`` resolved lazily to
            avoid import cycles); ``None`` for function or instance registries.
        package: a package whose modules are entries by file name (``pyronas.models``): module
            ``foo`` is imported when ``foo`` is asked for, and its one ``base`` subclass registered.
        key: the config field holding the name inside a section (``name``; ``rule`` for selectors).
        positional: leading call arguments that are not config params (the supernet for a prior,
            the model for a guide, the search for a selector); ``build`` does not check them.
        exclude: module names of ``package`` that are not entries (``base``).
    """

    def __init__(
        self,
        kind: str,
        contract: str,
        *,
        base: type | str | None = None,
        package: str | None = None,
        key: str = "name",
        positional: int = 0,
        exclude: Sequence[str] = (),
    ):
        self.kind, self.contract, self.key, self.positional = kind, contract, key, positional
        self._base, self.package, self.exclude = base, package, set(exclude)
        self._entries: dict[str, T] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.contract}; names: {', '.join(self.names())})"

    # --- registration -----------------------------------------------------------------------------
    @property
    def base(self) -> type | tuple[type, ...] | None:
        """The base class entries subclass; ``"a:A,b:B"`` names several, in order of preference
        (priors: a composite ``ArchPrior``, else an ``AlphaPrior``)."""
        if isinstance(self._base, str):
            bases = []
            for spec in self._base.split(","):
                module, _, name = spec.partition(":")
                bases.append(getattr(importlib.import_module(module), name))
            self._base = bases[0] if len(bases) == 1 else tuple(bases)
        return self._base

    def _base_name(self) -> str:
        base = self.base
        return " or ".join(b.__name__ for b in base) if isinstance(base, tuple) else getattr(base, "__name__", "")

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, a decorator doing so and returning it.

        Re-registering the same object (or a reloaded module's version of it) replaces it; another
        object under a taken name raises ``RegistryError`` naming both.
        """

        def add(o: T) -> T:
            base = self.base
            if base is not None and not (isinstance(o, type) and issubclass(o, base)):
                raise RegistryError(f"{self.kind} {name!r}: {o!r} is not a subclass of {self._base_name()}")
            old = self._entries.get(name)
            if old is not None and old is not o and _origin(old) != _origin(o):
                raise RegistryError(
                    f"{self.kind} {name!r} is registered twice: by {_origin(old)} and by {_origin(o)}"
                )
            self._entries[name] = o
            return o

        return add if obj is None else add(obj)

    # --- look-up ----------------------------------------------------------------------------------
    def files(self) -> list[str]:
        """Names of the modules of this registry's package (one file per entry, e.g. ``models/*.py``)."""
        if self.package is None:
            return []
        path = importlib.import_module(self.package).__path__
        return [m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_") and m.name not in self.exclude]

    def names(self) -> list[str]:
        """Registered names plus the not-yet-imported files of ``package``, sorted."""
        load_plugins()
        return sorted(set(self._entries) | set(self.files()))

    def _discover(self, name: str, where: str | None) -> None:
        """Import ``package.name`` and register its one ``base`` subclass under ``name``."""
        if name in self._entries or name not in self.files():
            return
        module = importlib.import_module(f"{self.package}.{name}")
        if name in self._entries:  # the module registered itself with the decorator
            return
        bases = self.base if isinstance(self.base, tuple) else (self.base,)
        classes: list[type] = []
        for base in bases:  # in order of preference: the first base with a subclass here decides
            classes = [
                c
                for _, c in inspect.getmembers(module, inspect.isclass)
                if base is not None and issubclass(c, base) and c not in bases and c.__module__ == module.__name__
            ]
            if classes:
                break
        if len(classes) != 1:
            at = f"{where}: " if where else ""
            raise RegistryError(
                f"{at}{module.__name__} must define exactly one {self._base_name()} subclass (found {len(classes)})"
            )
        self._entries[name] = classes[0]

    def get(self, name: str, where: str | None = None) -> T:
        """The entry ``name``; ``RegistryError`` naming the config key ``where`` if there is none."""
        load_plugins()
        if not isinstance(name, str):
            raise RegistryError(f"{where or self.kind}: expected a {self.kind} name, got {name!r}")
        self._discover(name, where)
        if name not in self._entries:
            at = f"{where}: " if where else ""
            raise RegistryError(f"{at}unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'})")
        return self._entries[name]

    def build(self, name: str, params: dict[str, Any] | None, *args: Any, where: str) -> Any:
        """``get(name)(*args, **params)`` with ``params`` checked against its signature.

        ``where`` is the config section (``model``, ``search.callbacks[0]``): an unknown name is reported
        at ``<where>.<key>``, an unknown parameter at ``<where>.params.<param>``, and a ``ValueError``
        raised by a class's constructor (a parameter out of range) becomes a ``ConfigError`` at
        ``<where>.params``.
        """
        params = dict(params or {})
        obj = self.get(name, f"{where}.{self.key}")
        check_params(obj, params, f"{where}.params", self.positional)
        if not isinstance(obj, type):
            return obj(*args, **params)
        try:
            return obj(*args, **params)
        except ConfigError:
            raise
        except ValueError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(f"{where}.") else f"{where}.params: {msg}") from e

    # --- mapping interface ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        try:
            return self.get(name)
        except RegistryError as e:
            raise KeyError(str(e)) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def keys(self) -> list[str]:
        """Every known name (as ``names()``)."""
        return self.names()

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` for every known name."""
        return [(n, self.get(n)) for n in self.names()]

    def values(self) -> list[T]:
        """Every known entry."""
        return [self.get(n) for n in self.names()]


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def check_params(obj: Callable[..., Any], params: dict[str, Any], where: str, positional: int = 1) -> None:
    """Reject parameters ``obj`` (a class's ``__init__`` or a function) does not accept, naming the key.

    ``positional``: leading arguments (after ``self``) that are not config params (1 for priors/guides:
    the supernet/model; 0 for callbacks). Only named parameters count: ``**kwargs`` accepts nothing more.
    """
    sig = inspect.signature(obj.__init__ if isinstance(obj, type) else obj)
    skip = (1 if isinstance(obj, type) else 0) + positional
    names = [p for p in list(sig.parameters)[skip:] if sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for key in params:
        if key not in names:
            raise ConfigError(
                f"{where}.{key}: unknown parameter for {getattr(obj, '__name__', obj)} "
                f"(accepts: {', '.join(names) or 'none'})"
            )


# --- priors and guides: one file each in models/ and guides/ -------------------------------------
PRIORS: Registry = Registry(
    "prior",
    "an ArchPrior (or AlphaPrior) subclass; __init__(supernet, **params); alpha_dist(kind): law of alpha/<kind>",
    base="pyronas.infer.program:ArchPrior,pyronas.infer.program:AlphaPrior",
    package="pyronas.models",
    positional=1,
)
GUIDES: Registry = Registry(
    "guide",
    "an ArchGuide (or AlphaGuide) subclass; __init__(model, **params); samples the latent sites of its groups",
    base="pyronas.infer.program:ArchGuide,pyronas.infer.program:AlphaGuide",
    package="pyronas.guides",
    positional=1,
)
_BY_KIND = {"models": PRIORS, "guides": GUIDES}

# registries defined next to their contracts, reachable from here without import cycles
_ELSEWHERE = {
    "TERMS": "pyronas.infer.objectives",
    "SELECTORS": "pyronas.select.rules",
    "PROXIES": "pyronas.select.proxies",
    "CALLBACKS": "pyronas.callbacks.base",
    "OPTIMIZERS": "pyronas.optim.factory",
    "SPACES": "pyronas.nn.spaces",
    "KERNELS": "pyronas.bo.gp",
}


def __getattr__(name: str) -> Registry:
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def registries() -> dict[str, Registry]:
    """Every registry of the project by its module-level name."""
    return {"PRIORS": PRIORS, "GUIDES": GUIDES, **{n: __getattr__(n) for n in _ELSEWHERE}}


# --- backwards-compatible helpers over PRIORS / GUIDES -------------------------------------------
def available(kind: str) -> list[str]:
    """Names of the priors (kind="models") or guides (kind="guides")."""
    return _BY_KIND[kind].names()


def lookup(kind: str, name: str, where: str | None = None) -> type:
    """The ``ArchPrior`` (kind="models") or ``ArchGuide`` (kind="guides") class called ``name``."""
    return _BY_KIND[kind].get(name, where)


def build(kind: str, name: str, params: dict[str, Any], *args: Any, where: str) -> Any:
    """Instantiate prior/guide ``name`` with ``*args`` and validated ``params``; ``where`` is the
    config key of the params (``model.params``) or of the section (``model``)."""
    return _BY_KIND[kind].build(name, params, *args, where=where.removesuffix(".params"))
