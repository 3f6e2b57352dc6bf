"""Per-method work at step/epoch boundaries (one file per callback)."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Callback": "base",
        "CALLBACKS": "base",
        "load_callback": "base",
        "Benchmark": "benchmark",
        "Exploration": "exploration",
        "HessianTracker": "hessian",
        "OneHotRecord": "onehot",
        "Progressive": "progressive",
        "TensorBoard": "tensorboard",
        "VinnasSelect": "vinnas_select",
    },
)
