"""From a trained guide to a genotype: selection rules and training-free proxies."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SELECTORS": "rules",
        "register_selector": "rules",
        "select": "rules",
        "PROXIES": "proxies",
        "register_proxy": "proxies",
        "get_proxy": "proxies",
        "snip": "proxies",
        "grasp": "proxies",
        "synflow": "proxies",
        "zero_cost_nas": "proxies",
    },
)
