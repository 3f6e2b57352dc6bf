"""The ``pyronas`` sub-commands, one function each (``cmd_search``, ``cmd_train``, ...): a parsed
``argparse.Namespace`` in, an exit status out, as thin wrappers over the Python API. Each imports what it
runs inside its body, so building the parser (``pyronas.cli``) imports no torch.
"""

from __future__ import annotations

import argparse

from pyronas.config import load_config
from pyronas.errors import ConfigError

__all__ = [
    "cmd_bo",
    "cmd_compare",
    "cmd_configs",
    "cmd_diagnose",
    "cmd_export",
    "cmd_random",
    "cmd_search",
    "cmd_sweep",
    "cmd_train",
]


def _require_run_dir(path: str, config_name: str = "config.yaml"):
    """``--resume`` must name an existing run folder holding its config (checked before anything is written)."""
    from pathlib import Path

    if not Path(path).is_dir():
        raise ConfigError(f"--resume: {path} is not a run folder")
    if not (Path(path) / config_name).is_file():
        raise ConfigError(f"--resume: {path} holds no {config_name}: not a pyronas run folder of this command")
    return Path(path)


def _config_and_run_dir(args: argparse.Namespace):
    """The config (``--config`` + ``--set``, or the run's own with ``--resume``) and the run folder."""
    from pathlib import Path

    from pyronas.runfolder import load_folder_config

    if args.resume:
        _require_run_dir(args.resume)
        return load_folder_config(load_config, Path(args.resume) / "config.yaml", args.set), args.resume
    if not args.config:
        raise ConfigError("--config: a config file is required (or --resume RUN_DIR)")
    cfg = load_config(args.config, args.set)
    return cfg, args.out or cfg.output.dir or str(Path("runs") / cfg.name)


def cmd_search(args: argparse.Namespace) -> int:
    """``pyronas search``: an architecture search from a config (or ``--resume`` a run).

    With ``--resume`` the folder is locked and logged before its config is read, so a failed resume is
    the last line of its ``search.log``."""
    from pyronas.infer import run_search
    from pyronas.runfolder import writing

    if args.resume and args.overwrite:
        raise ConfigError("--overwrite: not with --resume (--resume continues the run, --overwrite deletes it)")
    if args.resume:
        run = _require_run_dir(args.resume)
        with writing(run, "search.log", resume=True, kind="search"):
            cfg, out = _config_and_run_dir(args)
            genotype = run_search(cfg, out, resume=True, progress_bar=not args.quiet)
    else:
        from pyronas.preflight import preflight

        cfg, out = _config_and_run_dir(args)
        preflight(cfg, log_notes=False)  # a bad config fails here, before the run folder is made (notes: its log)
        genotype = run_search(cfg, out, progress_bar=not args.quiet, overwrite=args.overwrite)
    from pyronas.summary import search_summary

    print(search_summary(out, genotype))  # the cell, its accuracies (NB201: transfer) and where the files are
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    """``pyronas configs``: the packaged configs, one line each (name and the file's first comment line)."""
    from pyronas.config_files import listing

    print(listing())
    return 0


def cmd_bo(args: argparse.Namespace) -> int:
    """``pyronas bo``: Bayesian-optimisation NAS baseline (GP surrogate, EI/PI/UCB) from the ``bo:`` section."""
    from pyronas.bo.loop import run_bo
    from pyronas.runfolder import writing

    if args.resume and args.overwrite:
        raise ConfigError("--overwrite: not with --resume (--resume continues the run, --overwrite deletes it)")
    if args.resume:
        run = _require_run_dir(args.resume)
        with writing(run, "bo.log", resume=True, kind="bo"):  # a failed resume is the last line of bo.log
            cfg, out = _config_and_run_dir(args)
            genotype = run_bo(cfg, out, resume=True)
    else:
        cfg, out = _config_and_run_dir(args)
        with writing(out, "bo.log", overwrite=args.overwrite, kind="bo"):
            genotype = run_bo(cfg, out)
    print(f"genotype: {genotype}")
    print(f"run folder: {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``pyronas train``: retrain a found genotype from scratch (pyronas.train.protocol)."""
    from pathlib import Path

    from pyronas.runfolder import load_folder_config, writing
    from pyronas.runtime import set_threads
    from pyronas.train.config import load_train_config
    from pyronas.train.protocol import load_genotype, run_train
    from pyronas.train.trainer import CHECKPOINT

    set_threads()  # $OMP_NUM_THREADS, else half the CPUs (at most 4)

    if args.resume and args.overwrite:
        raise ConfigError("--overwrite: not with --resume (--resume continues the run, --overwrite deletes it)")
    if args.resume:
        run = out = _require_run_dir(args.resume, "train_config.yaml")
        with writing(run, "train.log", resume=True, kind="train"):
            cfg = load_folder_config(load_train_config, run / "train_config.yaml", args.set)
            genotype = load_genotype(run)
            if not (run / CHECKPOINT).is_file():
                raise ConfigError(
                    f"--resume: {run / CHECKPOINT} does not exist (the retraining stopped before its first "
                    f"epoch ended): nothing to resume; start it again with `pyronas train --config "
                    f"{run / 'train_config.yaml'} --genotype {run / 'genotype.json'} --out {run} --overwrite`"
                )
            result = run_train(cfg, genotype, run, resume=True, progress=not args.quiet)
    else:
        if not args.config or not args.genotype:
            raise ConfigError("--genotype and --config are required (or --resume RUN_DIR)")
        cfg = load_train_config(args.config, args.set)
        genotype = load_genotype(args.genotype)
        out = Path(args.out or cfg.output.dir or Path("runs") / cfg.name)
        result = run_train(cfg, genotype, out, progress=not args.quiet, overwrite=args.overwrite)
    print(f"genotype: {genotype}")
    if result.val_acc == result.val_acc:  # not NaN: a validation split was held out (train.val_portion)
        print(f"validation accuracy {result.val_acc:.4f}")
    print(f"{result.test_note}: {result.test_acc:.4f}, params {result.params_M:.3f} M, MACs {result.macs_M:.2f} M")
    print(f"metrics: {out / 'train_metrics.json'}")
    return 0


def cmd_random(args: argparse.Namespace) -> int:
    """``pyronas random``: random-search baseline, every genotype retrained with the same config."""
    from pathlib import Path

    from pyronas.nn.spaces import get_space
    from pyronas.train.config import load_train_config
    from pyronas.train.protocol import load_train_data, run_train
    from pyronas.train.random_cells import SUMMARY, random_search

    cfg = load_train_config(args.config, args.set)
    space = get_space(args.space)
    out = Path(args.out or cfg.output.dir or Path("runs") / f"random-{args.space}")
    data = load_train_data(cfg)

    if not cfg.train.val_portion > 0:
        raise ConfigError("train.val_portion: `pyronas random` selects on a validation split; set it > 0 (e.g. 0.1)")

    def train_one(genotype, run_dir):  # no test evaluation: the candidates are compared on validation only
        return run_train(cfg, genotype, run_dir, resume=True, data=data, progress=not args.quiet, test=False)

    def test_one(genotype, run_dir):  # the chosen one, finished: resumes its checkpoint and reports the test once
        return run_train(cfg, genotype, run_dir, resume=True, data=data, progress=False, test=True)

    summary = random_search(space, args.n, train_one, out, seed=args.seed, test_one=test_one)
    acc, best = summary["val_acc"], summary["best"]
    print(f"{summary['n']} random {args.space} architectures: validation accuracy {acc['mean']:.4f} "
          f"+- {acc['std']:.4f}")
    print(f"chosen by validation accuracy: arch_{best['index']:02d} {best['val_acc']:.4f}; "
          f"{best['test_note']}: {best['test_acc']:.4f}")
    print(f"summary: {out / SUMMARY}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``pyronas diagnose RUN [RUN ...]``: posterior netcdf + summary CSV + R-hat verdict + figures."""
    from pathlib import Path

    from pyronas.analysis import diagnostics as diagnostics
    from pyronas.analysis import plots

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not r.exists():
            raise ConfigError(f"RUN_DIR: {r} does not exist (a run folder or a checkpoint file)")
    folders = [r.parent if r.is_file() else r for r in runs]
    out = Path(args.out) if args.out else (folders[0] if len(runs) == 1 else folders[0] / "diagnostics")
    if args.reference and len(runs) > 1:
        raise ConfigError("--reference nuts: give one RUN_DIR (the reference is per run)")
    searches = [diagnostics.load_search(r) for r in runs]
    result = diagnostics.diagnose_searches(searches, args.samples, out, args.seed, [str(r) for r in runs])
    print(f"op probabilities over {len(runs)} run(s) x {args.samples} draws (chains = runs):")
    print(diagnostics.format_table(result.table))
    if not result.unstable.empty:
        print(f"edges with R-hat > {diagnostics.RHAT_THRESHOLD}:")
        print(diagnostics.format_table(result.unstable))
    for name, path in result.files.items():
        print(f"{name}: {path}")
    if not args.no_plots:
        for i, (folder, search) in enumerate(zip(folders, searches, strict=True)):
            fig_dir = folder if not args.out else out / (f"run{i}_{folder.name}" if len(runs) > 1 else "")
            figures = plots.plot_run(
                folder, search.space, fig_dir, guide=search.guide, edges=args.edges,
                history=search.history, metrics=search.metrics,
            )
            print(f"figures of {folder}: {', '.join(str(p) for p in figures.values())}")
    print(f"verdict: {result.verdict}")
    if args.reference:  # NUTS on the posterior q(alpha) approximates (pyronas.analysis.calibration)
        from pyronas.analysis.calibration import reference_check

        check = reference_check(
            runs[0], args.out, args.reference_images, args.reference_chains, args.reference_warmup,
            args.reference_draws, args.reference_tree_depth, seed=args.seed,
        )
        print(f"NUTS reference: max R-hat {check.max_rhat:.3f}, min ESS bulk {check.min_ess_bulk:.0f} tail "
              f"{check.min_ess_tail:.0f}, {check.divergences} divergent, {check.nuts_wall_s:.0f} s")
        print(", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in check.calibration.row().items()))
        print(f"reference: {check.files['json']}")
        print(f"reference verdict: {check.verdict}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``pyronas export RUN_DIR --format pt2|onnx|state_dict``: the found network for deployment."""
    from pyronas.export import export

    result = export(args.run, args.format, args.out, untrained=args.untrained)
    if args.untrained:
        print("UNTRAINED network: fresh weights of the found genotype (its metadata says so)")
    print(f"{args.format}: {', '.join(str(p) for p in result.files)}")
    print(f"max |logit difference| to the PyTorch network: {result.max_abs_diff:.3g} ({result.seconds:.1f}s)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``pyronas compare RUN_DIR...``: runs side by side (method, genotype, arch-split accuracy, benchmark, time)."""
    from pyronas.analysis.compare_runs import compare_runs, format_rows

    rows = compare_runs(args.runs, args.csv)
    print(format_rows(rows))
    if args.csv:
        print(f"csv: {args.csv}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """``pyronas sweep``: one search per seed as Ray tasks (local Ray, or a cluster with ``--address``)."""
    from pathlib import Path

    from pyronas.infer.checks import check_config
    from pyronas.sweep import parse_seeds, sweep

    cfg = load_config(args.config, args.set)  # validated here, before any job starts
    check_config(cfg)  # names and combinations too (extras and data files are the workers': checked by each job)
    out = Path(args.out or cfg.output.dir or Path("runs") / f"{cfg.name}-sweep")
    results = sweep(args.config, parse_seeds(args.seeds), out, args.set, args.address, args.num_cpus,
                    args.cpus_per_job)
    for r in results:
        print(f"{r.name}: {r.value}" if r.ok else f"{r.name}: FAILED {(r.error or '').splitlines()[0]}")
    print(f"run folders: {out}/seed<k>  ({sum(r.ok for r in results)}/{len(results)} ok)")
    return 0 if all(r.ok for r in results) else 1
