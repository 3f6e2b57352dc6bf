"""Export the discrete network of a run: ``torch.export`` program, ONNX, or state dict + genotype JSON.

The network is ``pyronas.nn.network.Network`` built from the run's genotype:

* a ``pyronas train`` folder (``train_config.yaml``, ``genotype.json``, ``train_checkpoint.pt``): the
  retrained weights, at the ``network:`` section's sizes; a Bayesian retraining (``bayesian.enabled``)
  exports its pruned posterior means (the weights it is evaluated with, VINNAS sec. V.A);
* a search (or BO) run folder (``config.yaml``, ``genotype.json``): refused unless ``untrained=True``
  (CLI ``--untrained``), since a search keeps no weights of the discrete network: it is then freshly
  initialised (seeded by ``seed``) at the supernet's sizes (``supernet.C``, ``supernet.layers``,
  ``supernet.layout``), and its metadata says ``"trained": false`` and ``"weights": "untrained ..."``.

Every export stores its metadata (``RunNetwork.metadata``: genotype, ``input_shape`` ``[C, H, W]``,
``Network.from_genotype`` sizes, whether trained, source folder): inside the ``.pt2`` archive
(``extra_files["genotype.json"]``), in the ONNX model's metadata props (key ``genotype.json``), or
next to a state dict (``<stem>.genotype.json``), so a loader needs no pyronas to build an input.

Every export is of the network in evaluation mode -- batch norm uses its running statistics, no
drop-path, no auxiliary head -- with a dynamic batch dimension, and is checked against the eager
network on a random batch of the run's input shape (``ExportResult.max_abs_diff``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pyronas.config import ConfigError, load_config
from pyronas.data.datasets import NUM_CLASSES, STATS
from pyronas.io import atomic_write_text, check_shapes, load_checkpoint, save_checkpoint
from pyronas.nn.network import Network
from pyronas.nn.spaces import Genotype
from pyronas.runfolder import load_folder_config

logger = logging.getLogger(__name__)

FORMATS = ("pt2", "onnx", "state_dict")
SUFFIX = {"pt2": ".pt2", "onnx": ".onnx", "state_dict": ".pt"}
NATIVE_SIZE = {"fashion_mnist": 28, "mnist": 28, "cifar10": 32, "cifar100": 32, "digits": 8}
GENOTYPE_FILE = "genotype.json"  # name of the genotype inside the .pt2 archive (``extra_files``)
ONNX_TOLERANCE = 1e-4  # max |logit difference| accepted between onnxruntime and eager PyTorch
UNTRAINED = "untrained: freshly initialised weights of the found genotype, not a trained network"


class ExportError(ConfigError):
    """The folder is not an exportable run, or the format is unknown; the message says which."""


@dataclass
class RunNetwork:
    """A run's discrete network in evaluation mode and how to rebuild it.

    ``network_args`` are the keyword arguments of ``Network.from_genotype`` (without the genotype),
    so ``Network.from_genotype(genotype, **network_args)`` rebuilds the architecture.
    """

    network: Network
    genotype: Genotype
    network_args: dict[str, Any]
    input_shape: tuple[int, int, int]
    trained: bool
    source: Path

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        """A seeded standard-normal batch ``[batch, C, H, W]`` (inputs are normalised images)."""
        return torch.randn(batch, *self.input_shape, generator=torch.Generator().manual_seed(seed))

    def metadata(self) -> dict[str, Any]:
        """What the exported files carry besides the weights (genotype, sizes, provenance)."""
        weights = "trained (pyronas train)" if self.trained else UNTRAINED
        return {
            "genotype": self.genotype.to_dict(),
            "network": self.network_args,
            "input_shape": list(self.input_shape),
            "trained": self.trained,
            "weights": weights,
            "source": str(self.source),
        }


@dataclass
class ExportResult:
    """Files written, and the largest |logit| difference between the export and the eager network."""

    path: Path
    fmt: str
    max_abs_diff: float
    seconds: float
    files: list[Path] = field(default_factory=list)


def _input_shape(data) -> tuple[int, int, int]:
    """``(channels, height, width)`` of a ``data:`` config section (``image_size`` resizes)."""
    size = data.image_size or NATIVE_SIZE[data.name]
    return len(STATS[data.name][0]), size, size


def _read_genotype(run: Path) -> Genotype:
    path = run / "genotype.json"
    if not path.is_file():
        raise ExportError(f"{run}: no genotype.json (not a finished search, bo or train run folder)")
    from pyronas.train.protocol import load_genotype

    return load_genotype(path)  # checked against its space: a truncated file or an unknown op is one line


def load_run_network(run_dir: str | os.PathLike, seed: int = 0, untrained: bool = False) -> RunNetwork:
    """The discrete network of a train folder (trained weights) or, with ``untrained=True`` only, of a
    search/bo run folder (fresh weights: a search keeps none of the discrete network's).

    Evaluation mode, auxiliary head removed, ``drop_path_prob = 0``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ExportError(f"{run}: no such run folder")
    genotype = _read_genotype(run)
    if (run / "train_config.yaml").is_file():
        if untrained:
            raise ExportError(f"--untrained: {run} is a `pyronas train` folder with trained weights; drop --untrained")
        net, args, shape = _train_network(run, genotype)
        trained = True
    elif (run / "config.yaml").is_file():
        if not untrained:
            raise ExportError(
                f"{run} is a search/bo run folder: it holds no trained weights of the discrete network, so the "
                f"export would be freshly initialised. Retrain it (pyronas train --genotype {run} --config ...) and "
                "export that folder, or pass --untrained to export the untrained network (its metadata says so)"
            )
        logger.warning("%s: exporting an UNTRAINED network (fresh weights, seed %d) of the found genotype", run, seed)
        cfg = load_folder_config(load_config, run / "config.yaml")  # its imports: only if the user allowed them
        shape = _input_shape(cfg.data)
        sc = cfg.supernet
        args = {"space": genotype.space, "C": sc.C, "layers": sc.layers, "in_channels": shape[0],
                "num_classes": NUM_CLASSES[cfg.data.name], "auxiliary": False, "layout": sc.layout}
        torch.manual_seed(seed)
        net, trained = Network.from_genotype(genotype, **args), False
    else:
        raise ExportError(f"{run}: neither train_config.yaml (pyronas train) nor config.yaml (pyronas search/bo)")
    net.drop_path_prob = 0.0
    return RunNetwork(net.eval(), genotype, args, shape, trained, run)


def _train_network(run: Path, genotype: Genotype) -> tuple[Network, dict[str, Any], tuple[int, int, int]]:
    """Plain ``Network`` with the weights of ``train_checkpoint.pt`` (pruned means of a Bayesian net)."""
    from pyronas.train.bayesian import BayesianNetwork
    from pyronas.train.config import load_train_config
    from pyronas.train.trainer import CHECKPOINT, build_network

    cfg = load_folder_config(load_train_config, run / "train_config.yaml")
    ckpt = run / CHECKPOINT
    if not ckpt.is_file():
        raise ExportError(f"{run}: no {CHECKPOINT} (the retraining has not finished an epoch)")
    shape = _input_shape(cfg.data)
    num_classes = NUM_CLASSES[cfg.data.name]
    trained = build_network(genotype, cfg.network, shape[0], num_classes)
    saved = load_checkpoint(ckpt, map_location="cpu")
    if not isinstance(saved, dict) or "net" not in saved:
        raise ExportError(f"{ckpt}: not a retraining checkpoint (no 'net' state)")
    state = saved["net"]
    if not cfg.bayesian.enabled:
        check_shapes(state, trained.state_dict(), ckpt, "net")
    if cfg.bayesian.enabled:
        bayes = BayesianNetwork(trained, cfg.bayesian.log_sigma2, cfg.bayesian.threshold)
        bayes.load_state_dict(state)
        means = bayes.weights.pruned_means(cfg.bayesian.threshold)
        state = {**trained.state_dict(), **{k: v.detach() for k, v in means.items()}}
    n = cfg.network
    args = {"space": genotype.space, "C": n.C, "layers": n.layers, "in_channels": shape[0],
            "num_classes": num_classes, "auxiliary": False, "layout": n.layout}
    net = Network.from_genotype(genotype, **args)
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("auxiliary_head.")})
    return net, args, shape


@torch.no_grad()
def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _batch_dim() -> tuple[dict[int, Any]]:
    return ({0: torch.export.Dim("batch", min=1, max=65536)},)


def export_pt2(run: RunNetwork, out: str | os.PathLike) -> ExportResult:
    """``torch.export`` program (ATen graph + weights) loadable with plain ``torch.export.load``;
    the genotype and sizes ride along as ``extra_files["genotype.json"]``."""
    out, t0 = Path(out), time.perf_counter()
    x = run.example_input()
    with torch.no_grad():
        program = torch.export.export(run.network, (x,), dynamic_shapes=_batch_dim())
        diff = _max_diff(program.module()(x), run.network(x))
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.pt2")  # one per writer; torch.export.save wants .pt2
    torch.export.save(program, tmp, extra_files={GENOTYPE_FILE: json.dumps(run.metadata())})
    os.replace(tmp, out)
    return ExportResult(out, "pt2", diff, time.perf_counter() - t0, [out])


def onnx_uses_dynamo() -> bool:
    """torch's default ONNX exporter (``dynamo=True``) needs ``onnxscript``; without it the TorchScript
    exporter is used."""
    return importlib.util.find_spec("onnxscript") is not None


def export_onnx(run: RunNetwork, out: str | os.PathLike, dynamo: bool | None = None) -> ExportResult:
    """ONNX model (input ``images`` ``[batch, C, H, W]``, output ``logits``), the genotype in its
    metadata; checked with onnxruntime (when installed) to ``ONNX_TOLERANCE``."""
    try:
        import onnx
    except ImportError:
        raise ExportError("--format onnx needs the onnx package: pip install 'pyronas[export]'") from None
    out, t0 = Path(out), time.perf_counter()
    dynamo = onnx_uses_dynamo() if dynamo is None else dynamo
    x = run.example_input()
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.onnx")  # one per writer
    kwargs: dict[str, Any] = {"input_names": ["images"], "output_names": ["logits"], "verbose": False}
    if dynamo:
        kwargs |= {"dynamo": True, "dynamic_shapes": _batch_dim(), "external_data": False}
    else:
        kwargs |= {"dynamo": False, "dynamic_axes": {"images": {0: "batch"}, "logits": {0: "batch"}}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter announces its deprecation
        torch.onnx.export(run.network, (x,), tmp, **kwargs)
    model = onnx.load(str(tmp))
    onnx.helper.set_model_props(model, {GENOTYPE_FILE: json.dumps(run.metadata())})
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    diff = check_onnx(out, run)
    return ExportResult(out, "onnx", diff, time.perf_counter() - t0, [out])


def check_onnx(path: str | os.PathLike, run: RunNetwork, batch: int = 3) -> float:
    """Max |logit difference| of onnxruntime vs eager PyTorch on a random batch (NaN without onnxruntime);
    raises ``ExportError`` above ``ONNX_TOLERANCE``."""
    try:
        import onnxruntime as ort
    except ImportError:
        logger.warning("onnxruntime not installed: %s is not checked", path)
        return float("nan")
    x = run.example_input(batch, seed=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    with torch.no_grad():
        diff = _max_diff(torch.from_numpy(logits), run.network(x))
    if not diff <= ONNX_TOLERANCE:
        raise ExportError(f"{path}: onnxruntime logits differ from PyTorch's by {diff:.3g} > {ONNX_TOLERANCE}")
    return diff


def export_state_dict(run: RunNetwork, out: str | os.PathLike) -> ExportResult:
    """``out`` (``torch.save`` of the plain state dict, loadable with ``weights_only=True``) and
    ``<out stem>.genotype.json`` (genotype + ``Network.from_genotype`` sizes); checked by a round trip."""
    out, t0 = Path(out), time.perf_counter()
    meta = out.with_name(out.stem + ".genotype.json")
    save_checkpoint({k: v.detach().clone() for k, v in run.network.state_dict().items()}, out)
    atomic_write_text(meta, json.dumps(run.metadata(), indent=1))
    x = run.example_input()
    with torch.no_grad():
        diff = _max_diff(load_state_dict_export(out)(x), run.network(x))
    return ExportResult(out, "state_dict", diff, time.perf_counter() - t0, [out, meta])


def load_state_dict_export(path: str | os.PathLike) -> Network:
    """Rebuild the network of an ``export_state_dict`` file (and its ``.genotype.json``), in eval mode."""
    path = Path(path)
    meta = json.loads(path.with_name(path.stem + ".genotype.json").read_text())
    net = Network.from_genotype(Genotype.from_dict(meta["genotype"]), **meta["network"])
    net.load_state_dict(load_checkpoint(path, map_location="cpu"))
    return net.eval()


EXPORTERS = {"pt2": export_pt2, "onnx": export_onnx, "state_dict": export_state_dict}


def export(
    run_dir: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None, untrained: bool = False
) -> ExportResult:
    """Export the network of ``run_dir`` as ``fmt`` (``pt2``, ``onnx`` or ``state_dict``) to ``out``
    (default ``RUN_DIR/network.<pt2|onnx|pt>``). A search/bo folder needs ``untrained=True``
    (``load_run_network``)."""
    if fmt not in EXPORTERS:
        raise ExportError(f"--format: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    run = load_run_network(run_dir, untrained=untrained)
    path = Path(out) if out is not None else Path(run_dir) / f"network{SUFFIX[fmt]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = EXPORTERS[fmt](run, path)
    logger.info("exported %s as %s to %s in %.1fs (max |logit diff| %.3g)", run_dir, fmt, path,
                result.seconds, result.max_abs_diff)
    return result
