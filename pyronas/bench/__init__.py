"""Ground truth for search quality: NAS-Bench-201 tables, black-box baselines, zero-cost proxies on the
table and a Fashion-MNIST reference set of retrained NAS-Bench-201 cells."""
