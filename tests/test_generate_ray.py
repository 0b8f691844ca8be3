"""``ndtwin generate --ray``: Ray tasks give the same samples as local processes, resume a run, and report errors
as the local path does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import ray  # the optional 'ray' extra, installed by `make install`

from ndtwin.data.native import read_dataset
from ndtwin.data.topology_io import write_gml
from ndtwin.errors import DatasetError
from ndtwin.generate import GenerationSpec, pending_indices, run_generation
from ndtwin.scenario import Topology
from test_native import assert_same_sample

SPEC = GenerationSpec(topologies=("powerlaw:4-6",), packets_per_flow=20)
SEED = 3
TOTAL = 6


def test_ray_resumes_a_local_run_with_the_same_samples(tmp_path: Path) -> None:
    local, mixed = tmp_path / "local", tmp_path / "mixed"
    run_generation(local, SPEC, SEED, pending_indices(local, SPEC, SEED, TOTAL), workers=1)
    run_generation(mixed, SPEC, SEED, pending_indices(mixed, SPEC, SEED, TOTAL // 2), workers=1)
    todo = pending_indices(mixed, SPEC, SEED, TOTAL)
    assert todo == list(range(TOTAL // 2, TOTAL))
    seen: list[str] = []
    result = run_generation(
        mixed, SPEC, SEED, todo, use_ray=True, chunk_size=2, on_sample=lambda sample: seen.append(sample.sample_id)
    )
    assert result.written == len(seen) == len(todo)
    assert not ray.is_initialized(), "the local cluster started for the run should be shut down"
    expected = {sample.sample_id: sample for sample in read_dataset(local)}
    got = Counter(sample.sample_id for sample in read_dataset(mixed))
    assert got == Counter(list(expected)), "every sample once, none lost or duplicated"
    for sample in read_dataset(mixed):
        assert_same_sample(sample, expected[sample.sample_id])
    assert pending_indices(mixed, SPEC, SEED, TOTAL) == []


def test_task_errors_are_raised_as_is_and_a_callers_cluster_is_left_running(tmp_path: Path) -> None:
    write_gml(Topology.from_edges(3, [(0, 1, 1e6)], bidirectional=False), tmp_path / "broken.gml")
    spec = GenerationSpec(topologies=(str(tmp_path / "broken.gml"),), packets_per_flow=20)
    ray.init(num_cpus=1, log_to_driver=False)
    try:
        with pytest.raises(DatasetError, match=r"^\S*broken.gml: expected a strongly connected topology"):
            run_generation(tmp_path / "gen", spec, SEED, [0, 1], use_ray=True)
        assert ray.is_initialized()
    finally:
        ray.shutdown()
