"""Posterior diagnostics (ArviZ), figures and the Hessian eigenvalue."""

from pyronas._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "diagnose_searches": "diagnostics",
        "load_search": "diagnostics",
        "draw_posterior": "diagnostics",
        "to_inference_data": "diagnostics",
        "summary_table": "diagnostics",
        "format_table": "diagnostics",
        "RHAT_THRESHOLD": "diagnostics",
        "plot_run": "plots",
        "dominant_eigenvalue": "hessian",
        "arch_hessian_eig": "hessian",
        "arch_hessian": "hessian",
        "power_iteration": "hessian",
        "compare_runs": "compare_runs",
        "summarize_run": "compare_runs",
    },
)
