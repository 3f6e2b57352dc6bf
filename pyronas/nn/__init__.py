"""Search spaces, the weight-sharing supernet and its surgery, discrete networks and variational-dropout weights."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SPACES": "spaces",
        "SearchSpace": "spaces",
        "Genotype": "spaces",
        "get_space": "spaces",
        "layout_for": "spaces",
        "Supernet": "supernet",
        "MixedOp": "supernet",
        "SearchCell": "supernet",
        "widen_supernet": "surgery",
        "prune_supernet": "surgery",
        "Network": "network",
        "count_parameters": "network",
        "OPS": "ops",
        "make_op": "ops",
        "NormalWeights": "bayesian",
        "LocalReparameterization": "bayesian",
        "PRUNE_THRESHOLD": "bayesian",
        "sparsity": "bayesian",
    },
)
