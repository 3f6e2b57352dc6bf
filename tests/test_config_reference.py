"""docs/config_reference.md is generated from the schema: every key has a description, every key a packaged
config sets is listed, the probed ranges are the validation's, and the committed page is up to date."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyronas.config import Config, load_config
from pyronas.errors import ConfigError
from pyronas.train.config import TrainConfig, load_train_config

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", ROOT / "scripts" / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()


@pytest.fixture(scope="module")
def search_rows():
    return gen.rows(Config, load_config, "search")


@pytest.fixture(scope="module")
def train_rows():
    return gen.rows(TrainConfig, load_train_config, "train")


def test_every_key_has_a_description(search_rows, train_rows):
    undocumented = [r.key for r in search_rows + train_rows if not r.description.strip()]
    assert not undocumented, f"add a `#:` comment above these fields: {undocumented}"


def test_every_key_of_every_packaged_config_is_listed(search_rows, train_rows):
    keys = {r.key for r in search_rows}, {r.key for r in train_rows}
    assert len(keys[0]) > 140 and {"search.steps_per_epoch", "bo.objective.n_val", "objective.terms[i].name"} <= keys[0]
    for kind, listed in zip(("search", "train"), keys, strict=True):
        for key in gen.packaged_keys(kind):
            assert key in listed, f"{kind} key {key} is set by a packaged config but missing from the reference"


def test_probed_ranges_are_the_validations(search_rows):
    """A range in the table is a ConfigError message: values outside it are refused, values inside accepted."""
    ranges = {r.key: r.allowed for r in search_rows}
    assert ranges["search.steps_per_epoch"].startswith("must be >= 1")
    assert ranges["data.split"] == "must be in (0, 1)"
    assert ranges["space"].startswith("names: ") and "`nb201`" in ranges["space"]
    with pytest.raises(ConfigError, match="search.steps_per_epoch"):
        load_config(search={"steps_per_epoch": 0})
    assert load_config(search={"steps_per_epoch": 1}).search.steps_per_epoch == 1
    assert gen.probed_range("search.keep", str, load_config, {}) == ""  # no numeric probe for a string key


def test_committed_reference_is_up_to_date():
    """In a fresh process: names that other tests register (a test's objective term) are not the package's."""
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_reference.py"), "--check"],
                           cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert check.returncode == 0, f"docs/config_reference.md is stale: run python scripts/gen_config_reference.py\n" \
        f"{check.stdout}{check.stderr}"
