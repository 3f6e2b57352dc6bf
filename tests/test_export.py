"""Export of the found network: torch.export program loaded without pyronas, ONNX through onnxruntime,
state dict round trip, and clear errors -- each checked against the eager network rebuilt from the checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pyronas.cli import main
from pyronas.config import load_config
from pyronas.export import (
    GENOTYPE_FILE,
    ExportError,
    export,
    export_onnx,
    load_run_network,
    load_state_dict_export,
    onnx_uses_dynamo,
)
from pyronas.io import load_checkpoint
from pyronas.nn.spaces import Genotype
from pyronas.train.bayesian import BayesianNetwork
from pyronas.train.config import load_train_config
from pyronas.train.protocol import run_train
from pyronas.train.trainer import CHECKPOINT, build_network

NB201_FOUND = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
SIZE = 8  # data.image_size of the tiny runs


def _train_folder(root: Path, bayesian: bool = False) -> Path:
    """A real ``pyronas train`` folder: one short epoch on random 1x8x8 images, auxiliary head on."""
    sets = ["data.image_size=8", "network.C=4", "network.auxiliary=true", "train.epochs=1", "train.cutout=0",
            "train.steps_per_epoch=3", "data.batch_size=16", f"bayesian.enabled={str(bayesian).lower()}"]
    cfg = load_train_config("configs/train_nb201_fmnist.yaml", sets)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(48, 1, SIZE, SIZE, generator=g), torch.randint(0, 10, (48,), generator=g),
            torch.randn(16, 1, SIZE, SIZE, generator=g), torch.randint(0, 10, (16,), generator=g))
    out = root / ("bayes" if bayesian else "plain")
    run_train(cfg, Genotype.from_nb201_string(NB201_FOUND), out, data=(data, 10), progress=False)
    return out


def _reference(run: Path) -> torch.nn.Module:
    """The trained network exactly as the Trainer built it (auxiliary head, Bayesian wrapper), eval mode."""
    cfg = load_train_config(run / "train_config.yaml")
    net = build_network(Genotype.load(run / "genotype.json"), cfg.network, 1, 10)
    if cfg.bayesian.enabled:
        net = BayesianNetwork(net, cfg.bayesian.log_sigma2, cfg.bayesian.threshold)
    net.load_state_dict(load_checkpoint(run / CHECKPOINT)["net"])
    return net.eval()


@pytest.fixture(scope="module")
def train_run(tmp_path_factory, one_thread):
    return _train_folder(tmp_path_factory.mktemp("export"))


def _batch(n: int = 5) -> torch.Tensor:
    return torch.randn(n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(42))


FRESH = r"""
import importlib.util, json, sys
sys.path[:0] = [sys.argv[1]]          # torch's site-packages only: no .pth files, no editable pyronas
assert importlib.util.find_spec("pyronas") is None, "pyronas is importable"
try:
    import pyronas  # noqa: F401
    raise SystemExit("import pyronas succeeded")
except ImportError:
    pass
import torch
extra = {"genotype.json": ""}
program = torch.export.load(sys.argv[2], extra_files=extra)
x = torch.load(sys.argv[3])
with torch.no_grad():
    torch.save(program.module()(x), sys.argv[4])
print(json.loads(extra["genotype.json"])["genotype"]["string"])
"""


def test_pt2_program_equals_the_trained_network(train_run, tmp_path):
    result = export(train_run, "pt2", tmp_path / "net.pt2")
    extra = {GENOTYPE_FILE: ""}
    program = torch.export.load(result.path, extra_files=extra)
    assert json.loads(extra[GENOTYPE_FILE])["genotype"]["string"] == NB201_FOUND
    x = _batch(5)  # another batch size than the traced example: the batch dimension is dynamic
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), _reference(train_run)(x), atol=1e-5, rtol=0)


@pytest.mark.slow  # a second Python process importing torch: ~15 s alone, minutes on a loaded machine
def test_pt2_loads_with_plain_torch_in_a_fresh_process(train_run, tmp_path):
    result = export(train_run, "pt2", tmp_path / "net.pt2")
    assert result.path.stat().st_size > 0 and result.max_abs_diff <= 1e-5
    x = _batch(5)  # another batch size than the traced example: the batch dimension is dynamic
    torch.save(x, tmp_path / "x.pt")
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    site = str(Path(torch.__file__).parents[1])
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(script), site, str(result.path), str(tmp_path / "x.pt"),
         str(tmp_path / "y.pt")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == NB201_FOUND
    with torch.no_grad():
        expected = _reference(train_run)(x)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "dynamo", [pytest.param(True, marks=pytest.mark.slow), False], ids=["dynamo", "torchscript"]
)  # the dynamo exporter traces with torch.export and optimises the graph: ~10 s alone
def test_onnx_through_onnxruntime(train_run, tmp_path, dynamo):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    if dynamo and not onnx_uses_dynamo():
        pytest.skip("onnxscript not installed (torch's dynamo ONNX exporter needs it)")
    result = export_onnx(load_run_network(train_run), tmp_path / "net.onnx", dynamo=dynamo)
    x = _batch(7)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    with torch.no_grad():
        expected = _reference(train_run)(x)
    torch.testing.assert_close(torch.from_numpy(logits), expected, atol=1e-4, rtol=0)
    props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert json.loads(props[GENOTYPE_FILE])["genotype"]["string"] == NB201_FOUND


def test_state_dict_round_trip(train_run, tmp_path):
    result = export(train_run, "state_dict", tmp_path / "net.pt")
    assert [p.name for p in result.files] == ["net.pt", "net.genotype.json"]
    state = torch.load(result.path, weights_only=True)
    reference = _reference(train_run)
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith("auxiliary_head.")}
    assert state.keys() == expected.keys()  # everything but the auxiliary head
    for k, v in expected.items():
        assert torch.equal(state[k], v), k
    meta = json.loads((tmp_path / "net.genotype.json").read_text())
    assert Genotype.from_dict(meta["genotype"]) == Genotype.load(train_run / "genotype.json")
    assert meta["network"] | {"C": 4, "layers": 1, "in_channels": 1, "num_classes": 10} == meta["network"]
    x = _batch()
    with torch.no_grad():
        torch.testing.assert_close(load_state_dict_export(result.path)(x), reference(x), atol=0, rtol=0)


def test_bayesian_retraining_exports_pruned_means(tmp_path, one_thread):
    run = _train_folder(tmp_path, bayesian=True)
    net = load_state_dict_export(export(run, "state_dict").path)
    x = _batch()
    with torch.no_grad():
        torch.testing.assert_close(net(x), _reference(run)(x), atol=1e-5, rtol=1e-5)
    assert not any("log_sigma2" in k for k in net.state_dict())


def test_search_folder_gives_a_fresh_network_at_supernet_size(tmp_path):
    cfg = load_config("configs/vimnas_nb201_fmnist.yaml", ["supernet.C=4"])
    cfg.save(tmp_path / "config.yaml")
    Genotype.from_nb201_string(NB201_FOUND).save(tmp_path / "genotype.json")
    run = load_run_network(tmp_path, untrained=True)
    assert not run.trained and not run.network.training
    assert run.input_shape == (1, 16, 16) and run.network_args["C"] == 4 and run.network_args["num_classes"] == 10
    assert run.network.auxiliary_head is None
    again = load_run_network(tmp_path, untrained=True)  # seeded: the same fresh weights
    x = run.example_input()
    torch.testing.assert_close(run.network(x), again.network(x), atol=0, rtol=0)


def test_bad_folder_or_format_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ExportError, match="no such run folder"):
        export(tmp_path / "nowhere", "pt2")
    with pytest.raises(ExportError, match="no genotype.json"):
        export(tmp_path, "pt2")
    Genotype.from_nb201_string(NB201_FOUND).save(tmp_path / "genotype.json")
    with pytest.raises(ExportError, match="neither train_config.yaml"):
        export(tmp_path, "onnx")
    with pytest.raises(ExportError, match="unknown format 'tflite'"):
        export(tmp_path, "tflite")
    assert main(["--quiet", "export", str(tmp_path), "--format", "tflite"]) == 2
    assert "--format: unknown format 'tflite' (known: pt2, onnx, state_dict)" in capsys.readouterr().err
    assert main(["--quiet", "export", str(tmp_path / "nowhere"), "--format", "pt2"]) == 2


def test_cli_export(train_run, tmp_path, capsys):
    out = tmp_path / "net.pt"
    assert main(["--quiet", "export", str(train_run), "--format", "state_dict", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "max |logit difference|" in printed
    assert out.is_file() and (tmp_path / "net.genotype.json").is_file()
