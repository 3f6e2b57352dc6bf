"""Cell diagrams: Graphviz through the Python ``graphviz`` package, and the matplotlib fallback when the
package or the ``dot`` binary is missing."""

from __future__ import annotations

import shutil
import sys

import matplotlib.image as mpimg
import pytest
import torch

from pyronas.analysis import plots
from pyronas.nn.spaces import Genotype, get_space

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz `dot` (apt-get install graphviz)")


def _darts_genotype() -> Genotype:
    return get_space("darts").random_genotype(torch.Generator().manual_seed(3))


def _assert_drawn_png(path):
    assert path.read_bytes()[:8] == PNG
    img = mpimg.imread(path)
    assert img.shape[0] > 50 and img.shape[1] > 50 and img[..., :3].std() > 0.01


@pytest.fixture
def count_matplotlib(monkeypatch):
    """Counts the fallback drawings."""
    calls = []
    original = plots._cell_figure_matplotlib

    def spy(*args):
        calls.append(args[1])
        return original(*args)

    monkeypatch.setattr(plots.cells, "_cell_figure_matplotlib", spy)  # where render_cell reads it
    return calls


@needs_dot
@pytest.mark.parametrize("name", ["darts", "nb201"])
def test_graphviz_lays_out_exactly_the_genotype(name):
    """Graphviz's own layout (``-Tplain``) has one node per cell node + output and one labelled edge per op."""
    space = get_space(name)
    g = space.random_genotype(torch.Generator().manual_seed(1))
    kind = space.cell_kinds[0]
    plain = plots.cell_graph(g, kind, space).pipe(format="plain").decode()
    edges = [line.split() for line in plain.splitlines() if line.startswith("edge ")]
    # edge tail head n x1 y1 ... xn yn [label xl yl] style color
    labelled = sorted((e[1], e[2], e[-5]) for e in edges if len(e) == 4 + 2 * int(e[3]) + 5)
    expected = sorted((f"n{s}", f"n{t}", op) for op, s, t in g.cells[kind])
    assert labelled == expected
    outputs = plots._cell_outputs(g, kind, space)
    assert sorted(e[1] for e in edges if e[2] == "out") == sorted(f"n{n}" for n in outputs)
    n_nodes = len({i for _, s, t in g.cells[kind] for i in (s, t)} | set(range(space.n_inputs))) + 1
    assert sum(line.startswith("node ") for line in plain.splitlines()) == n_nodes


@needs_dot
def test_graphviz_renders_png_and_pdf(tmp_path, count_matplotlib):
    space, g = get_space("darts"), _darts_genotype()
    png = plots.plot_cell(g, "normal", space, tmp_path / "cell.png")
    pdf = plots.plot_cell(g, "reduce", space, tmp_path / "cell.pdf")
    _assert_drawn_png(png)
    assert pdf.read_bytes()[:4] == PDF
    assert count_matplotlib == []  # drawn by Graphviz, not by the fallback


def test_fallback_without_the_python_package(tmp_path, monkeypatch, count_matplotlib):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` raises ImportError
    space, g = get_space("darts"), _darts_genotype()
    _assert_drawn_png(plots.plot_cell(g, "normal", space, tmp_path / "cell.png"))
    assert plots.plot_cell(g, "normal", space, tmp_path / "cell.pdf").read_bytes()[:4] == PDF
    assert count_matplotlib == ["normal", "normal"]
    with pytest.raises(ImportError):
        plots.cell_dot(g, "normal", space)


def test_fallback_without_the_dot_binary(tmp_path, monkeypatch, count_matplotlib):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on PATH: graphviz.ExecutableNotFound
    space = get_space("nb201")
    g = Genotype.from_nb201_string(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    )
    _assert_drawn_png(plots.plot_cell(g, "cell", space, tmp_path / "cell.png"))
    assert count_matplotlib == ["cell"]


def test_use_graphviz_false_forces_matplotlib(tmp_path, count_matplotlib):
    space, g = get_space("darts"), _darts_genotype()
    _assert_drawn_png(plots.plot_cell(g, "normal", space, tmp_path / "cell.png", use_graphviz=False))
    assert count_matplotlib == ["normal"]
