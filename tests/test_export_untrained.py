"""Exporting a search folder: refused without --untrained, and then an untrained network that says so; every export
carries its input shape and genotype, enough to run it with ONNX Runtime alone (no pyronas)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pyronas.cli import main
from pyronas.config import load_config
from pyronas.export import GENOTYPE_FILE, ExportError, export, export_onnx, load_run_network
from pyronas.nn.spaces import Genotype

NB201_FOUND = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


@pytest.fixture
def search_folder(tmp_path):
    """A search run folder as `pyronas search` leaves it: its config and the found genotype (no network weights)."""
    load_config("configs/vimnas_nb201_fmnist.yaml", ["supernet.C=4"]).save(tmp_path / "config.yaml")
    Genotype.from_nb201_string(NB201_FOUND).save(tmp_path / "genotype.json")
    return tmp_path


def test_search_folder_is_refused_without_untrained(search_folder, capsys):
    with pytest.raises(ExportError, match="no trained weights .* pass --untrained"):
        export(search_folder, "state_dict")
    assert not list(search_folder.glob("network*"))
    assert main(["--quiet", "export", str(search_folder), "--format", "state_dict"]) == 2
    assert "pass --untrained" in capsys.readouterr().err
    assert main(["--quiet", "export", str(search_folder), "--format", "state_dict", "--untrained"]) == 0
    assert "UNTRAINED" in capsys.readouterr().out
    meta = json.loads((search_folder / "network.genotype.json").read_text())
    assert meta["trained"] is False and meta["weights"].startswith("untrained")
    assert meta["input_shape"] == [1, 16, 16] and meta["genotype"]["string"] == NB201_FOUND


def test_untrained_onnx_runs_in_onnxruntime_from_its_own_metadata(search_folder):
    """ONNX Runtime only: the input is built from the input shape stored in the model, the output is [batch, 10]."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = export_onnx(load_run_network(search_folder, untrained=True), search_folder / "net.onnx", dynamo=False).path
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props[GENOTYPE_FILE])
    assert meta["trained"] is False and "untrained" in meta["weights"]
    assert meta["genotype"]["string"] == NB201_FOUND
    x = np.random.default_rng(0).standard_normal((3, *meta["input_shape"])).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x})
    assert logits.shape == (3, meta["network"]["num_classes"]) == (3, 10) and np.isfinite(logits).all()
