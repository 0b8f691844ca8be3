import json

import numpy as np
import pytest

from ndtwin.data.topology_io import write_gml
from ndtwin.errors import DatasetError
from ndtwin.scenario import Topology
from ndtwin.whatif.suite_cache import cached_suite, suite_path

RING = Topology.from_edges(4, [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0), (0, 2, 1.0)])
SETTINGS = dict(name="ring", seed=3, per_type=1, loads=(0.6,), packets_per_flow=60, reference_packets=None)


def labels(suite):
    return [s.flow_labels["delay_s"].to_numpy() for s in (*suite.baselines, *(c.sample for c in suite.cases))]


def test_a_suite_is_simulated_once_then_read(tmp_path):
    first, read = cached_suite(tmp_path, RING, **SETTINGS)
    assert not read and suite_path(tmp_path, RING, **SETTINGS).is_file()
    again, read = cached_suite(tmp_path, RING, **SETTINGS)
    assert read
    for a, b in zip(labels(first), labels(again), strict=True):
        np.testing.assert_array_equal(a, b)
    uncached, read = cached_suite(None, RING, **SETTINGS)
    assert not read  # no cache: simulated, and the same suite (seeded)
    for a, b in zip(labels(first), labels(uncached), strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_settings_or_topology_get_another_file():
    base = suite_path("c", RING, **SETTINGS)
    assert suite_path("c", RING, **{**SETTINGS, "seed": 4}) != base
    assert suite_path("c", RING, **{**SETTINGS, "packets_per_flow": 61}) != base
    assert suite_path("c", RING, **{**SETTINGS, "reference_packets": 400}) != base
    faster = Topology.from_edges(4, [(0, 1, 2.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0), (0, 2, 1.0)])
    assert suite_path("c", faster, **SETTINGS) != base
    assert suite_path("c", RING, **SETTINGS) == base


def test_a_suite_of_another_simulator_gets_another_file(monkeypatch):
    base = suite_path("c", RING, **SETTINGS)
    monkeypatch.setattr("ndtwin.whatif.suite_cache.simulator_revision", lambda: "000000000000")
    assert suite_path("c", RING, **SETTINGS) != base


def test_an_unreadable_cache_file_is_named_and_kept(tmp_path):
    path = suite_path(tmp_path, RING, **SETTINGS)
    path.write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="delete it") as error:
        cached_suite(tmp_path, RING, **SETTINGS)
    assert error.value.path == path and path.read_bytes() == b"not a pickle"


def test_cli_validate_reuses_the_cached_suite(tmp_path, validate_qt):
    gml = tmp_path / "ring.gml"
    write_gml(RING, gml)
    cache = tmp_path / "cache"
    options = ("--json", "--reference-packets", "0", "--suite-cache", str(cache))
    first = validate_qt(gml, 60, *options)
    assert first.exit_code == 0, first.output
    assert len(list(cache.glob("*.pkl"))) == 1
    second = validate_qt(gml, 60, *options)
    assert second.exit_code == 0 and json.loads(second.stdout) == json.loads(first.stdout)


def test_a_cache_path_that_is_a_file_is_refused_before_simulating(tmp_path, validate_qt):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("kept")
    with pytest.raises(DatasetError, match="directory to keep simulated suites") as error:
        cached_suite(blocker, RING, **SETTINGS)
    assert error.value.path == blocker and blocker.read_text() == "kept"
    gml = tmp_path / "ring.gml"
    write_gml(RING, gml)
    result = validate_qt(gml, 60, "--suite-cache", str(blocker))
    assert result.exit_code != 0 and "not-a-dir" in result.output and "Traceback" not in result.output
