"""Datasets, the bilevel split and augmentation."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Dataset": "datasets",
        "Batches": "datasets",
        "load_dataset": "datasets",
        "bilevel_split": "datasets",
        "default_root": "datasets",
        "FASHION_MNIST_ROOT": "datasets",
        "NUM_CLASSES": "datasets",
        "Augment": "augment",
    },
)
