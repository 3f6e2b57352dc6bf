import torch

from pyronas.nn.spaces import SPACES, Genotype, get_space, layout_for


def test_space_sizes():
    nb = get_space("nb201")
    assert nb.num_edges == 6 and nb.num_ops == 5 and nb.size() == 5**6 == 15625
    d = get_space("darts")
    assert d.num_edges == 14 and d.num_ops == 8
    # per cell: prod_j C(j, 2) * 7^2 over j = 2..5 -> (1*3*6*10) * 7^8; two cell kinds
    assert d.size() == (180 * 7**8) ** 2
    assert get_space("vinnas_m").num_edges == 2 + 3
    assert get_space("vinnas_f").num_edges == 2 + 3 + 4
    assert get_space("vinnas_c").num_ops == 10


def test_nb201_derivation_and_string():
    nb = get_space("nb201")
    w = torch.zeros(6, 5)
    picks = [1, 3, 0, 2, 4, 3]
    for e, o in enumerate(picks):
        w[e, o] = 1.0
    g = nb.derive({"cell": w})
    assert str(g) == "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    assert Genotype.from_nb201_string(str(g)).cells == g.cells


def test_darts_derivation_keeps_two_strongest_non_none():
    d = get_space("darts")
    w = torch.full((14, 8), 0.01)
    none = d.ops.index("none")
    w[:, none] = 10.0  # 'none' never counts
    # node 2 (edges 0, 1): both kept; node 3 (edges 2, 3, 4): strongest are sources 2 and 0
    w[0, d.ops.index("sep_conv_3x3")] = 0.5
    w[1, d.ops.index("skip_connect")] = 0.4
    w[2, d.ops.index("max_pool_3x3")] = 0.9
    w[3, d.ops.index("dil_conv_5x5")] = 0.1
    w[4, d.ops.index("sep_conv_5x5")] = 0.8
    g = d.derive({"normal": w, "reduce": w})
    node2 = [t for t in g.cells["normal"] if t[2] == 2]
    node3 = [t for t in g.cells["normal"] if t[2] == 3]
    assert node2 == [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2)]
    assert node3 == [("max_pool_3x3", 0, 3), ("sep_conv_5x5", 2, 3)]
    assert len(g.cells["normal"]) == 8 and all(op != "none" for op, _, _ in g.cells["normal"])
    assert g.concat["normal"] == [2, 3, 4, 5]
    assert "normal=[('sep_conv_3x3', 0), ('skip_connect', 1)" in str(g)


def test_genotype_json_roundtrip(tmp_path):
    d = get_space("darts")
    g = d.random_genotype(torch.Generator().manual_seed(1))
    g.save(tmp_path / "g.json")
    assert Genotype.load(tmp_path / "g.json") == g


def test_encode_one_hot():
    nb = SPACES["nb201"]
    g = nb.random_genotype(torch.Generator().manual_seed(0))
    enc = nb.encode(g)
    assert enc.shape == (30,) and enc.sum() == 6
    assert torch.equal(enc.view(6, 5).sum(1), torch.ones(6))


def test_layouts():
    assert layout_for(get_space("darts"), 8) == "NNRNNRNN"
    assert layout_for(get_space("nb201"), 2) == "NNBNNBNN"
