"""One edge and op naming wherever op probabilities are stored: history records, the ArviZ netcdf coords, the
summary CSV and the plots' labels all use the space's `1<-0` edge labels and its op names."""

from __future__ import annotations

import pandas as pd
import torch

from pyronas.analysis.diagnostics import diagnose_guides, read_netcdf
from pyronas.analysis.plots import edge_names, op_names
from pyronas.infer.program import SupernetModel, as_arch_guide
from pyronas.infer.runner import _record
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build


def test_history_netcdf_csv_and_plots_share_the_edge_and_op_names(tmp_path):
    space = get_space("nb201")
    torch.manual_seed(0)
    net = Supernet(space, 2, 1, 1, 3)
    model = SupernetModel(net, build("models", "flat", {}, net, where="m"))
    guide = as_arch_guide(build("guides", "delta", {}, model, where="g"), model)
    labels, ops = ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"], list(space.ops)
    rec = _record({k: net.to_full(k, v) for k, v in guide.op_probs().items()}, space)
    assert rec["edges"] == labels and rec["ops"] == ops and len(rec["op_probs"]["cell"]) == 6
    result = diagnose_guides([guide], space, num_samples=8, out_dir=tmp_path)
    idata = read_netcdf(result.files["netcdf"])
    assert list(idata.posterior.coords["edge"].values) == labels and list(idata.posterior.coords["op"].values) == ops
    table = pd.read_csv(result.files["csv"])
    assert list(dict.fromkeys(table["edge"])) == labels and list(dict.fromkeys(table["op"])) == ops
    assert edge_names(space, 6) == labels and op_names(space, 5) == ops
    # the netcdf value of an (edge, op) is the history's op probability of the same names
    for e, edge in enumerate(labels):
        for o, op in enumerate(ops):
            value = float(idata.posterior["op_probs"].sel(cell="cell", edge=edge, op=op).mean())
            assert abs(value - rec["op_probs"]["cell"][e][o]) < 1e-6
