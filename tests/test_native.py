"""The native Parquet dataset format: exact round trips, appending, and safety against interrupted writers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ndtwin.data.native as native
from ndtwin.data.native import (
    SCHEMA_VERSION,
    DatasetWriter,
    dataset_info,
    is_native_dataset,
    read_dataset,
    sample_ids,
    write_dataset,
)
from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS, Sample
from ndtwin.errors import DatasetError
from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    Scheduling,
    TimeDistribution,
    TimeKind,
    Topology,
    Traffic,
)

PORTS = (
    PortConfig(),
    PortConfig(Scheduling.SP, (64_000.0, 32_000.0, 16_000.0), "bits", None, (0, 1, 2)),
    PortConfig(Scheduling.WFQ, (32.0, 16.0), "packets", (60.0, 40.0), (0, 1, 1)),
    PortConfig(Scheduling.DRR, (1e5, 2e5, 3e5), "bits", (1.0, 2.0, 3.0), (2, 1, 0)),
)
TIMES = (TimeDistribution.poisson(), TimeDistribution.cbr(), TimeDistribution.on_off(0.5, 1.5))
SIZES = (
    PacketSizeDistribution.fixed(8000.0),
    PacketSizeDistribution.uniform(800.0, 12_000.0),
    PacketSizeDistribution.discrete((2400.0, 8000.0, 12_000.0), (0.1, 0.2, 0.7)),
)


def make_topology(n_nodes: int = 5) -> Topology:
    """A bidirectional ring whose links cycle through every port configuration."""
    links = []
    for u in range(n_nodes):
        v = (u + 1) % n_nodes
        for src, dst in ((u, v), (v, u)):
            port = PORTS[len(links) % len(PORTS)]
            links.append(Link(src, dst, 1e6 * (1 + len(links)), 1e-3 * len(links), 1.0 + src, port))
    return Topology(tuple(f"router-{i}" for i in range(n_nodes)), tuple(links))


def make_traffic(n_nodes: int, rng: np.random.Generator) -> Traffic:
    """Flows over every pair with every time law and size law, plus random discrete size laws."""
    flows = []
    for i, (src, dst) in enumerate((s, d) for s in range(n_nodes) for d in range(n_nodes) if s != d):
        size = SIZES[i % len(SIZES)]
        if i % 4 == 3:
            probs = rng.random(3) + 0.01
            size = PacketSizeDistribution.discrete(tuple(rng.uniform(400, 12_000, 3)), tuple(probs / probs.sum()))
        flows.append(Flow(src, dst, float(rng.uniform(1e4, 1e5)), i % 3, TIMES[i % len(TIMES)], size))
    return Traffic(tuple(flows))


def make_sample(
    sample_id: str, *, seed: int = 0, link_labels: bool = True, queue_labels: bool = True, all_routes: bool = False
) -> Sample:
    rng = np.random.default_rng(seed)
    topology = make_topology()
    traffic = make_traffic(topology.n_nodes, rng)
    routing = Routing.shortest_paths(topology, None if all_routes else traffic.pairs())
    scenario = Scenario(topology, routing, traffic)
    flow_frame = pd.DataFrame({name: rng.random(scenario.n_flows) for name in FLOW_LABELS})
    link_frame = pd.DataFrame({name: rng.random(topology.n_links) for name in LINK_LABELS})
    queue_frame = pd.DataFrame({name: rng.random(len(scenario.queues.link)) for name in QUEUE_LABELS})
    queue_frame["max_occupancy_pkts"] = np.nan  # measured but undefined everywhere: the column must survive
    meta = {"sample_id": sample_id, "source": "test", "sim_time_s": 10.0, "seed": seed, "stable": True}
    meta["knobs"] = {"load": [0.5, 0.9]}  # not a scalar: stored as JSON
    return Sample(
        scenario,
        flow_frame,
        link_frame if link_labels else None,
        queue_frame if queue_labels else None,
        meta,
    )


def assert_same_sample(got: Sample, expected: Sample) -> None:
    assert got.scenario.topology == expected.scenario.topology
    assert got.scenario.routing == expected.scenario.routing
    assert got.scenario.traffic == expected.scenario.traffic
    assert got.meta == expected.meta
    for name in ("flow_labels", "link_labels", "queue_labels"):
        if getattr(expected, name) is None:
            assert getattr(got, name) is None
        else:
            pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))


@pytest.fixture
def samples() -> list[Sample]:
    return [
        make_sample("a", seed=1),
        make_sample("b", seed=2, link_labels=False),
        make_sample("c", seed=3, queue_labels=False, all_routes=True),
        make_sample("d", seed=4, link_labels=False, queue_labels=False),
        make_sample("e", seed=5),
    ]


def test_round_trip_is_exact(tmp_path: Path, samples: list[Sample]) -> None:
    with DatasetWriter(tmp_path / "ds", provenance={"generator": "test"}, chunk_size=2) as writer:
        for sample in samples:
            writer.write(sample)
    got = list(read_dataset(tmp_path / "ds"))
    assert [s.sample_id for s in got] == ["a", "b", "c", "d", "e"]
    for read_back, written in zip(got, samples):
        assert_same_sample(read_back, written)
    assert sorted(p.name for p in (tmp_path / "ds" / "flows").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]


def test_port_time_and_size_details_survive(tmp_path: Path) -> None:
    sample = make_sample("x")
    write_dataset([sample], tmp_path / "ds")
    (got,) = read_dataset(tmp_path / "ds")
    ports = [link.port for link in got.scenario.topology.links[: len(PORTS)]]
    assert ports == list(PORTS)
    assert ports[0].weights is None and ports[1].weights is None
    assert [port.buffer_unit for port in ports] == ["packets", "bits", "packets", "bits"]
    flows = got.scenario.traffic.flows
    assert {flow.time.kind for flow in flows} == {TimeKind.POISSON, TimeKind.CBR, TimeKind.ONOFF}
    assert next(flow.time for flow in flows if flow.time.kind is TimeKind.ONOFF).params == {"on_s": 0.5, "off_s": 1.5}
    assert [flow.size for flow in flows] == [flow.size for flow in sample.scenario.traffic.flows]


def test_absent_labels_read_back_as_none_and_partial_flow_labels_keep_their_columns(tmp_path: Path) -> None:
    sample = make_sample("x", link_labels=False, queue_labels=False)
    sample.flow_labels = sample.flow_labels[["loss", "delay_s"]]
    write_dataset([sample], tmp_path / "ds")
    (got,) = read_dataset(tmp_path / "ds")
    assert got.link_labels is None and got.queue_labels is None
    assert list(got.flow_labels.columns) == ["loss", "delay_s"]
    flows = pq.read_table(tmp_path / "ds" / "flows" / "part-00000.parquet")
    assert flows.column("delay_var_s2").null_count == flows.num_rows


def test_extra_label_columns_round_trip(tmp_path: Path) -> None:
    sample = make_sample("x")
    sample.flow_labels["hops"] = np.arange(sample.scenario.n_flows)
    write_dataset([sample, make_sample("y")], tmp_path / "ds")
    got = {s.sample_id: s for s in read_dataset(tmp_path / "ds")}
    pd.testing.assert_frame_equal(got["x"].flow_labels, sample.flow_labels)
    assert "hops" not in got["y"].flow_labels.columns


def test_append_across_writer_sessions(tmp_path: Path, samples: list[Sample]) -> None:
    path = tmp_path / "ds"
    assert write_dataset(samples[:2], path, provenance={"run": 1}) == 2
    created = json.loads((path / "dataset.json").read_text())["created"]
    with DatasetWriter(path, provenance={"run": 1}) as writer:
        for sample in samples[2:]:
            writer.write(sample)
    assert [s.sample_id for s in read_dataset(path)] == ["a", "b", "c", "d", "e"]
    assert sample_ids(path) == {"a", "b", "c", "d", "e"}
    info = dataset_info(path)
    assert info["n_samples"] == 5
    assert info["n_flows"] == sum(s.scenario.n_flows for s in samples)
    assert info["n_links"] == sum(s.scenario.topology.n_links for s in samples)
    assert info["provenance"] == {"run": 1} and info["schema_version"] == SCHEMA_VERSION
    assert json.loads((path / "dataset.json").read_text())["created"] == created


def test_append_with_other_provenance_is_refused(tmp_path: Path) -> None:
    write_dataset([make_sample("a")], tmp_path / "ds", provenance={"run": 1})
    with pytest.raises(DatasetError, match="provenance"):
        DatasetWriter(tmp_path / "ds", provenance={"run": 2})
    write_dataset([make_sample("b")], tmp_path / "ds")  # None: keep the stored provenance
    assert dataset_info(tmp_path / "ds")["provenance"] == {"run": 1}


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a")], path)
    with DatasetWriter(path) as writer:
        with pytest.raises(DatasetError, match="'a' is already in the dataset"):
            writer.write(make_sample("a"))
        writer.write(make_sample("b"))
        with pytest.raises(DatasetError, match="'b' is already"):
            writer.write(make_sample("b", seed=9))
    assert [s.sample_id for s in read_dataset(path)] == ["a", "b"]


def test_samples_need_an_id_and_storable_meta(tmp_path: Path) -> None:
    sample = make_sample("a")
    with DatasetWriter(tmp_path / "ds") as writer:
        sample.meta = {"source": "test"}
        with pytest.raises(DatasetError, match="sample_id"):
            writer.write(sample)
        sample.meta = {"sample_id": "a", "handle": object()}
        with pytest.raises(DatasetError, match=r"sample 'a' cannot be stored: meta\['handle'\]"):
            writer.write(sample)
        sample.meta = {"sample_id": "a"}
        writer.write(sample)
    assert sample_ids(tmp_path / "ds") == {"a"}


def test_writer_killed_before_the_samples_part_loses_only_that_chunk(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a"), make_sample("b")], path)
    real_write_part = native.write_part

    def die_before_samples(root: Path, table: str, part: int, data: pa.Table) -> None:
        if table == "samples":
            raise KeyboardInterrupt
        real_write_part(root, table, part, data)

    monkeypatch.setattr(native, "write_part", die_before_samples)
    with pytest.raises(KeyboardInterrupt):
        with DatasetWriter(path, chunk_size=1) as writer:
            writer.write(make_sample("c"))
    assert (path / "flows" / "part-00001.parquet").exists()
    assert [s.sample_id for s in read_dataset(path)] == ["a", "b"]
    assert dataset_info(path)["n_flows"] == 2 * make_sample("a").scenario.n_flows

    monkeypatch.undo()
    write_dataset([make_sample("c", seed=7)], path)  # reuses the orphaned part number, replacing its files
    got = list(read_dataset(path))
    assert [s.sample_id for s in got] == ["a", "b", "c"]
    assert_same_sample(got[-1], make_sample("c", seed=7))


def test_leftover_temporary_files_and_orphan_rows_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a")], path)
    (path / "samples" / ".part-00001.parquet.tmp").write_bytes(b"half a parquet fi")
    flows_part = path / "flows" / "part-00000.parquet"
    flows = pq.read_table(flows_part)
    ghost = flows.set_column(0, flows.schema.field(0), pa.array(["ghost"] * flows.num_rows, pa.string()))
    pq.write_table(pa.concat_tables([ghost, flows]), flows_part)
    (got,) = read_dataset(path)
    assert_same_sample(got, make_sample("a"))
    assert sample_ids(path) == {"a"}
    assert dataset_info(path)["n_flows"] == flows.num_rows


def test_missing_manifest_or_newer_schema_is_rejected_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset.json") as missing:
        read_dataset(tmp_path)
    assert missing.value.path == tmp_path / "dataset.json"
    path = tmp_path / "ds"
    write_dataset([make_sample("a")], path)
    manifest = json.loads((path / "dataset.json").read_text())
    (path / "dataset.json").write_text(json.dumps({**manifest, "schema_version": SCHEMA_VERSION + 1}))
    for action in (read_dataset, sample_ids, dataset_info, DatasetWriter):
        with pytest.raises(DatasetError, match="newer than") as newer:
            action(path)
        assert newer.value.path == path / "dataset.json"


def test_corrupt_or_missing_part_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a")], path)
    shutil.copytree(path, tmp_path / "copy")
    corrupt = path / "flows" / "part-00000.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file") as bad:
        list(read_dataset(path))
    assert bad.value.path == corrupt
    missing = tmp_path / "copy" / "links" / "part-00000.parquet"
    missing.unlink()
    with pytest.raises(DatasetError, match="missing") as gone:
        list(read_dataset(tmp_path / "copy"))
    assert gone.value.path == missing


def test_duplicated_entity_rows_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a")], path)
    links_part = path / "links" / "part-00000.parquet"
    links = pq.read_table(links_part)
    pq.write_table(pa.concat_tables([links, links.slice(0, 1)]), links_part)
    with pytest.raises(DatasetError, match="'link_id' of sample 'a' is not numbered"):
        list(read_dataset(path))


def test_writer_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not an ndtwin dataset"):
        DatasetWriter(tmp_path)


def test_is_native_dataset(tmp_path: Path) -> None:
    assert not is_native_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text("[1, 2]")
    assert not is_native_dataset(tmp_path)
    write_dataset([], tmp_path / "ds")
    assert is_native_dataset(tmp_path / "ds")
    assert list(read_dataset(tmp_path / "ds")) == []
    assert dataset_info(tmp_path / "ds")["n_samples"] == 0


def test_label_presence_is_inferred_when_samples_do_not_list_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    with_links = make_sample("a", queue_labels=False)
    with_links.flow_labels = with_links.flow_labels[["delay_s", "loss"]]
    write_dataset([with_links, make_sample("b", link_labels=False)], path)
    samples_part = path / "samples" / "part-00000.parquet"
    table = pq.read_table(samples_part)
    unlisted = table.drop_columns(["flow_label_columns", "link_label_columns", "queue_label_columns"])
    pq.write_table(unlisted, samples_part)
    a, b = read_dataset(path)
    pd.testing.assert_frame_equal(a.link_labels, with_links.link_labels)
    assert a.queue_labels is None and b.link_labels is None
    assert sorted(a.flow_labels.columns) == ["delay_s", "loss"]
    assert "max_occupancy_pkts" not in b.queue_labels.columns  # all null: indistinguishable from absent


def test_dataset_is_readable_with_plain_pandas(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_dataset([make_sample("a"), make_sample("b", seed=2)], path)
    (path / "flows" / ".part-00009.parquet.tmp").write_bytes(b"")
    samples = pd.read_parquet(path / "samples")
    flows = pd.read_parquet(path / "flows")
    flows = flows[flows["sample_id"].isin(samples["sample_id"])]
    assert len(flows) == 2 * make_sample("a").scenario.n_flows
    assert flows["delay_s"].notna().all()


def test_sample_without_links_or_flows_round_trips(tmp_path: Path) -> None:
    scenario = Scenario(Topology(("solo",), ()), Routing({}), Traffic(()))
    empty = Sample(scenario, pd.DataFrame({"delay_s": np.array([], float)}), meta={"sample_id": "empty"})
    write_dataset([empty], tmp_path / "ds")
    (got,) = read_dataset(tmp_path / "ds")
    assert_same_sample(got, empty)


def test_a_run_failing_before_its_first_sample_leaves_no_dataset(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", provenance={"run": 1}):
            raise RuntimeError("the simulator failed")
    assert not (tmp_path / "ds").exists()
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", provenance={"run": 2}, chunk_size=5) as writer:
            writer.write(make_sample("a"))
            raise RuntimeError("failed after one sample")
    assert sample_ids(tmp_path / "ds") == {"a"}  # what was computed is kept
    assert dataset_info(tmp_path / "ds")["provenance"] == {"run": 2}
