"""Command line: ``pyronas search | ...`` -- thin wrappers over the Python API."""

from __future__ import annotations

import argparse
import logging
import sys

from pyronas.config import ConfigError, load_config

log = logging.getLogger("pyronas")


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)


def cmd_search(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pyronas.search import run_search

    if args.resume:
        cfg = load_config(Path(args.resume) / "config.yaml", args.set)
        out = args.resume
    else:
        if not args.config:
            raise ConfigError("--config: a config file is required (or --resume RUN_DIR)")
        cfg = load_config(args.config, args.set)
        out = args.out or cfg.output.dir or str(Path("runs") / cfg.name)
    genotype = run_search(cfg, out, resume=bool(args.resume), progress_bar=not args.quiet)
    print(f"genotype: {genotype}")
    print(f"run folder: {out}")
    return 0


def cmd_bo(args: argparse.Namespace) -> int:
    """``pyronas bo``: Bayesian-optimisation NAS baseline (GP surrogate, EI/PI/UCB) from the ``bo:`` section."""
    from pathlib import Path

    from pyronas.bo import run_bo

    if args.resume:
        cfg = load_config(Path(args.resume) / "config.yaml", args.set)
        out = args.resume
    else:
        if not args.config:
            raise ConfigError("--config: a config file is required (or --resume RUN_DIR)")
        cfg = load_config(args.config, args.set)
        out = args.out or cfg.output.dir or str(Path("runs") / cfg.name)
    genotype = run_bo(cfg, out, resume=bool(args.resume))
    print(f"genotype: {genotype}")
    print(f"run folder: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyronas", description="Bayesian differentiable NAS as Pyro programs")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors, no progress bar")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("search", help="run an architecture search from a YAML config")
    p.add_argument("--config", help="YAML config file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run folder (default: output.dir or runs/<name>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("bo", help="Bayesian-optimisation NAS baseline (GP surrogate) from a YAML config")
    p.add_argument("--config", help="YAML config file (section bo:)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run folder (default: output.dir or runs/<name>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the BO run in RUN_DIR")
    p.set_defaults(func=cmd_bo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    from pyronas.search import NonFiniteLossError

    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, NonFiniteLossError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # registry / parameter validation errors name their config key
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from pyronas.data import DataError

        if isinstance(e, DataError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("interrupted; checkpoint written, continue with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
