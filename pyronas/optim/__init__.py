"""Optimizers by name, VAdam, learning-rate / weight schedules, and optimizer state across supernet surgery."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "OPTIMIZERS": "factory",
        "make_optimizer": "factory",
        "lr_at": "factory",
        "set_lr": "factory",
        "VAdam": "vadam",
        "cosine_annealing": "schedules",
        "linear_ramp": "schedules",
        "carry_optimizer_state": "carry",
    },
)
