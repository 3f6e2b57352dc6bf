"""Command line: ``pyronas search | ...`` -- thin wrappers over the Python API.

Exit status: 0 success; 2 a usage, config or data error (``ConfigError``, ``DataError``, ...: one
``error:`` line naming the key or file); 1 a runtime failure (``NonFiniteLossError``); 130 Ctrl-C.
Every other exception is a bug and keeps its traceback.

This module holds the parser and ``main``; the sub-commands are the functions of ``pyronas.cli.commands``
(re-exported here: ``build_parser`` reads them from this module).
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyronas.cli import commands
from pyronas.cli.commands import (
    cmd_bo,
    cmd_compare,
    cmd_configs,
    cmd_diagnose,
    cmd_export,
    cmd_random,
    cmd_search,
    cmd_sweep,
    cmd_train,
)
from pyronas.errors import PyronasError

log = logging.getLogger("pyronas")


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    for old in [h for h in log.handlers if getattr(h, "pyronas_cli", False)]:  # main() called again in-process
        log.removeHandler(old)
    handler = logging.StreamHandler()
    handler.pyronas_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)  # the console follows --quiet/--verbose; the run's log file keeps INFO
    log.addHandler(handler)
    log.setLevel(min(level, logging.INFO))

__all__ = ["build_parser", "main", *commands.__all__]


def _compare_parser(sub) -> None:
    """The ``compare`` sub-command (``pyronas.analysis.compare_runs``)."""
    p = sub.add_parser("compare", help="one table of run folders side by side (terminal and --csv)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="search, train or bo run folders")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV to FILE")
    p.set_defaults(func=cmd_compare)


def _export_parser(sub) -> None:
    """The ``export`` sub-command (formats of ``pyronas.export.FORMATS``, checked there: building the parser
    imports no torch, so a bad config of any command fails before torch loads)."""
    p = sub.add_parser("export", help="export the found network (torch.export .pt2, ONNX, state dict + genotype)")
    p.add_argument("run", metavar="RUN_DIR", help="`pyronas train` folder (trained weights) or search/bo run folder")
    p.add_argument("--format", required=True, help="pt2, onnx or state_dict")
    p.add_argument("--out", help="output file (default RUN_DIR/network.<pt2|onnx|pt>)")
    p.add_argument("--untrained", action="store_true",
                   help="a search/bo folder: export the genotype's network with fresh, untrained weights")
    _import_args(p)
    p.set_defaults(func=cmd_export)


def _config_args(p: argparse.ArgumentParser, config_help: str, resume: bool = True) -> None:
    """--config, --set, --out (and --resume) shared by the commands that run from a config."""
    p.add_argument("--config", help=config_help)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run folder (default: output.dir or runs/<name>)")
    if resume:
        p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
        p.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --out that already holds a run (deletes that run's files)")
        _import_args(p)


def _import_args(p: argparse.ArgumentParser) -> None:
    """--imports / --trust-imports of the commands that read a run folder (its config's ``imports:``)."""
    p.add_argument("--imports", nargs="+", default=[], metavar="MODULE",
                   help="plug-in modules the run folder's config names that you allow to be imported")
    p.add_argument("--trust-imports", action="store_true",
                   help="import every plug-in module the run folder's config names (only for folders you trust)")


def build_parser() -> argparse.ArgumentParser:
    """The ``pyronas`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="pyronas", description="Bayesian differentiable NAS as Pyro programs")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors, no progress bar")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("search", help="run an architecture search from a YAML config")
    _config_args(p, "YAML config file, or a packaged config's name (`pyronas configs` lists them)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("configs", help="list the packaged configs (usable by name: --config drnas_nb201_fmnist)")
    p.set_defaults(func=cmd_configs)

    p = sub.add_parser("bo", help="Bayesian-optimisation NAS baseline (GP surrogate) from a YAML config")
    _config_args(p, "YAML config file (section bo:)")
    p.set_defaults(func=cmd_bo)

    p = sub.add_parser("train", help="retrain a found architecture from scratch")
    p.add_argument("--genotype", help="genotype JSON file or search run folder")
    _config_args(p, "YAML retraining config (configs/train_*.yaml)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("random", help="random-search baseline: train N random genotypes")
    p.add_argument("--space", required=True, help="search space (nb201, darts, vinnas_m, ...)")
    p.add_argument("--n", type=int, default=10, help="number of random architectures (VINNAS: 10)")
    p.add_argument("--config", required=True, help="YAML retraining config (configs/random_*.yaml)")
    p.add_argument("--seed", type=int, default=0, help="seed of the genotype sampling")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="output folder (default: output.dir or runs/random-<space>)")
    p.set_defaults(func=cmd_random)

    p = sub.add_parser("sweep", help="one search per seed, run as Ray tasks (pip install 'pyronas[ray]')")
    p.add_argument("--config", required=True, help="YAML search config")
    p.add_argument("--seeds", required=True, help="seeds, e.g. 0-7 or 0,3,5")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="output folder (default: output.dir or runs/<name>-sweep); one seed<k>/ per seed")
    p.add_argument("--address", help="Ray cluster address (ray://host:10001 or auto); default: a local Ray")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--cpus-per-job", type=int, default=1, help="CPUs (torch threads) per search (default 1)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("diagnose", help="architecture posterior diagnostics (ArviZ) and figures of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (or checkpoint files); several = chains")
    p.add_argument("--samples", type=int, default=1000, help="posterior draws per run (default 1000)")
    p.add_argument("--out", help="output folder (default: the run folder; RUN_DIR/diagnostics for several runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior draws (run i uses seed + i)")
    p.add_argument("--edges", nargs="+", metavar="EDGE", help="edges for the anytime plot, e.g. 2<-0 (default all)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--reference", choices=["nuts"], help="also check q(alpha) against a NUTS reference (one run)")
    p.add_argument("--reference-draws", type=int, default=500, help="NUTS draws per chain (default 500)")
    p.add_argument("--reference-warmup", type=int, default=300, help="NUTS warm-up steps per chain (default 300)")
    p.add_argument("--reference-chains", type=int, default=4, help="NUTS chains (default 4)")
    p.add_argument("--reference-images", type=int, default=64, help="images of the arch split (default 64)")
    p.add_argument("--reference-tree-depth", type=int, default=6, help="NUTS tree depth cap (default 6)")
    _import_args(p)
    p.set_defaults(func=cmd_diagnose)

    _export_parser(sub)
    _compare_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``pyronas`` command; returns the exit code (2: config or data error, 1: runtime failure, 130: Ctrl-C)."""
    from pyronas.runfolder import allow_imports

    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        if getattr(args, "config", None):  # a file, or a packaged config by name (pyronas.config_files)
            from pyronas.config_files import find_packaged

            args.config = str(find_packaged(args.config) or args.config)
        with allow_imports(getattr(args, "imports", ()), getattr(args, "trust_imports", False)):
            return args.func(args)
    except PyronasError as e:  # the project's own errors name the key or file to fix; anything else is a bug
        log.debug("%s", type(e).__name__, exc_info=True)  # --verbose shows where it came from
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; checkpoint written, continue with --resume", file=sys.stderr)
        return 130

