"""The datanetAPI reader: exact values from FORMAT.md §13, every shared sample, synthetic features, bad input."""

from __future__ import annotations

import io
import math
import tarfile
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from ndtwin.data.datanet import (
    ReadReport,
    find_datanet_dirs,
    is_datanet_tree,
    read_datanet,
    read_datanet_graph,
)
from ndtwin.data.datanet_records import parse_traffic
from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.errors import DatasetError
from ndtwin.scenario import Scheduling, SizeKind, TimeKind

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GNNET = SHARED / "gnnet"
needs_shared = pytest.mark.skipif(not GNNET.is_dir(), reason="shared gnnet data not available")

V2022_50 = GNNET / "2022" / "validation" / "50"
TRAIN_2021 = GNNET / "2021" / "train"
SAMPLE_11 = "results_400-2000_11_11.tar.gz"
TRAIN_0_24 = "results_30_400-2000_0_24.tar.gz"


# ---------------------------------------------------------------------------------------------- helpers


def flow_index(sample, src: int, dst: int) -> int:
    pairs = [(f.src, f.dst) for f in sample.scenario.traffic.flows]
    return pairs.index((src, dst))


def hop_queues(sample, flow: int) -> list[tuple[int, int, int]]:
    """(link src, link dst, global queue id) of each hop of ``flow``."""
    hops = sample.scenario.hops
    links = sample.scenario.topology.links
    chosen = hops.flow == flow
    return [(links[lid].src, links[lid].dst, int(q)) for lid, q in zip(hops.link[chosen], hops.queue[chosen])]


def read_all(root: Path) -> tuple[list, ReadReport]:
    report = ReadReport()
    return list(read_datanet(root, report)), report


def rewrite_archive(source: Path, target: Path, change: Callable[[str, str], str] = lambda name, text: text) -> Path:
    """Copy a .tar.gz archive, passing each member file's text through ``change(file name, text)``."""
    out = io.BytesIO()
    with tarfile.open(source, "r:gz") as old, tarfile.open(fileobj=out, mode="w:gz") as new:
        for member in old:
            if not member.isfile():
                new.addfile(member)
                continue
            name = member.name.rsplit("/", 1)[-1]
            data = change(name, old.extractfile(member).read().decode()).encode()
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    target.write_bytes(out.getvalue())
    return target


def dataset_copy(tmp_path: Path, source_dir: Path) -> Path:
    """An empty dataset directory sharing ``source_dir``'s graphs and routings (symlinks)."""
    directory = tmp_path / "dataset"
    directory.mkdir()
    for sub in ("graphs", "routings"):
        (directory / sub).symlink_to(source_dir / sub, target_is_directory=True)
    return directory


def write_archive(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        top = tarfile.TarInfo(path.name.removesuffix(".tar.gz"))
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        for name, text in files.items():
            info = tarfile.TarInfo(f"{top.name}/{name}")
            data = text.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def replace_cell(line: str, k: int, cell: str) -> str:
    """A traffic/results line with cell ``k`` of its body replaced."""
    header, body = line.split("|", 1)
    cells = body.split(";")
    cells[k] = cell
    return f"{header}|{';'.join(cells)}"


# ---------------------------------------------------------------------------------------------- real samples


@pytest.fixture(scope="module")
def sample_2022():
    return next(read_datanet(V2022_50))  # archives are read lazily in name order: _11_11 comes first


@pytest.fixture(scope="module")
def sample_2021():
    return next(read_datanet(TRAIN_2021))


@needs_shared
class TestSample2022:
    """FORMAT.md §13.1: validation/50, sample 11."""

    def test_meta(self, sample_2022):
        meta = sample_2022.meta
        assert meta["sample_id"] == "11" and meta["datanet_id"] == 11
        assert meta["source"] == f"{SAMPLE_11}:1"
        assert meta["sim_time_s"] == 24300
        assert meta["max_avg_lambda_bps"] == pytest.approx(3819.96)
        assert (meta["global_pkts_per_s"], meta["global_drops_per_s"], meta["global_delay_s"]) == pytest.approx(
            (5249.34, 200.433, 0.209775)
        )
        assert (meta["graph_file"], meta["routing_file"]) == ("graph_topo-50-0-1.txt", "Routing-topo-50-0-SP-k-1.txt")

    def test_one_flow_per_ordered_pair(self, sample_2022):
        assert sample_2022.scenario.n_flows == 50 * 49
        assert len(sample_2022.scenario.routing) == 50 * 49

    def test_flow_0_1(self, sample_2022):
        flow = sample_2022.scenario.traffic.flows[flow_index(sample_2022, 0, 1)]
        assert sample_2022.scenario.routing.path(0, 1) == (0, 34, 30, 8, 1)
        assert flow.rate_bps == pytest.approx(2477.84)
        assert flow.tos == 2
        assert flow.time.kind is TimeKind.POISSON and flow.time.params["exp_max_factor"] == 10
        assert flow.size.kind is SizeKind.GENERIC
        assert flow.size.sizes_bits == (500, 750, 1000, 1250, 1500)
        assert flow.size.mean_bits == pytest.approx(1057.5)  # not the truncated 1057 of the file

    def test_flow_labels_0_1(self, sample_2022):
        labels = sample_2022.flow_labels
        assert list(labels.columns) == [c for c in FLOW_LABELS if c not in ("ipdv_s", "delay_p95_s", "delay_p99_s")]
        row = labels.iloc[flow_index(sample_2022, 0, 1)]
        assert row["offered_bps"] == pytest.approx(2475.6)
        assert row["pkts_per_s"] == pytest.approx(2.34132)
        assert row["drops_per_s"] == pytest.approx(0.005596)
        assert row["loss"] == pytest.approx(0.005596 / 2.34132)
        assert row["delay_s"] == pytest.approx(0.088781)
        assert row["log_delay_mean"] == pytest.approx(-2.49507)
        assert row["delay_p10_s"] == pytest.approx(0.050465)
        assert row["delay_p90_s"] == pytest.approx(0.132622)
        assert row["delay_var_s2"] == pytest.approx(0.001161)

    def test_hops_and_queues_0_1(self, sample_2022):
        hops = hop_queues(sample_2022, flow_index(sample_2022, 0, 1))
        assert [(u, v) for u, v, _ in hops] == [(0, 34), (34, 30), (30, 8), (8, 1)]
        queues = sample_2022.queue_labels
        first, second, third, fourth = (queues.iloc[q] for _, _, q in hops)
        assert first["avg_occupancy_bits"] == pytest.approx(1778.326135)
        assert first["max_occupancy_bits"] == 15000 and math.isnan(first["max_occupancy_pkts"])
        assert first["avg_pkt_bits"] == pytest.approx(1006.007979)
        assert tuple(second[["utilization", "loss", "avg_occupancy_bits", "max_occupancy_bits", "avg_pkt_bits"]]) == (
            pytest.approx((0.288052, 0.000013, 1597.456583, 8000.0, 989.661420))
        )
        assert third["utilization"] == pytest.approx(0.727, abs=5e-4)
        assert third["avg_occupancy_bits"] == pytest.approx(2036.3, abs=0.05)
        assert (fourth["avg_occupancy_bits"], fourth["avg_pkt_bits"]) == pytest.approx((1582.8, 1008.1), abs=0.05)
        scenario = sample_2022.scenario
        assert [int(scenario.queues.index[q]) for _, _, q in hops] == [0, 2, 0, 2]  # ToS 2 on 3-queue nodes

    def test_link_and_port_config(self, sample_2022):
        topology = sample_2022.scenario.topology
        first = topology.links[topology.link_id(0, 34)]
        assert first.capacity_bps == 250_000 and first.prop_delay_s == 0
        assert first.port.scheduling is Scheduling.FIFO
        assert (first.port.buffers, first.port.buffer_unit) == ((32000,), "bits")
        assert first.port.queue_of(2) == 0
        drr = topology.links[topology.link_id(34, 30)].port
        assert drr.scheduling is Scheduling.DRR
        assert drr.weights == (60, 30, 10) and drr.buffers == (8000, 8000, 8000)
        assert drr.tos_to_queue == (0, 1, 2)
        link_row = sample_2022.link_labels.iloc[topology.link_id(0, 34)]
        assert tuple(link_row[list(LINK_LABELS)]) == pytest.approx((0.644093, 0.0, 1006.007979))

    def test_on_off_and_cbr_cells(self, sample_2022):
        flows = sample_2022.scenario.traffic.flows
        on_off = flows[flow_index(sample_2022, 0, 5)]
        assert on_off.time.kind is TimeKind.ONOFF
        assert (on_off.time.params["on_s"], on_off.time.params["off_s"]) == (5, 5)
        assert on_off.rate_bps == pytest.approx(2634.8) and on_off.size.mean_bits == pytest.approx(790)
        cbr = flows[flow_index(sample_2022, 1, 0)]
        assert cbr.time.kind is TimeKind.CBR and cbr.rate_bps == pytest.approx(1759.05)
        assert cbr.size.mean_bits == pytest.approx(1040)


@needs_shared
class TestSample2021:
    """FORMAT.md §13.2: train, archive _0_24, line 0."""

    def test_flow_0_1(self, sample_2021):
        assert sample_2021.meta["datanet_id"] == 0 and sample_2021.meta["sim_time_s"] == 15075
        assert sample_2021.scenario.routing.path(0, 1) == (0, 13, 1)
        i = flow_index(sample_2021, 0, 1)
        flow = sample_2021.scenario.traffic.flows[i]
        assert flow.rate_bps == pytest.approx(950.486) and flow.tos == 0
        assert flow.size.kind is SizeKind.BINOMIAL and flow.size.mean_bits == 1000
        row = sample_2021.flow_labels.iloc[i]
        assert row["delay_s"] == pytest.approx(0.134548)
        assert row["offered_bps"] == pytest.approx(944.013)
        assert row["drops_per_s"] == 0 and row["loss"] == 0
        assert row["delay_var_s2"] == pytest.approx(0.007308)

    def test_queue_occupancy_in_packets_becomes_bits(self, sample_2021):
        (_, _, q0), (_, _, q1) = hop_queues(sample_2021, flow_index(sample_2021, 0, 1))
        first = sample_2021.queue_labels.iloc[q0]
        assert first["avg_occupancy_bits"] == pytest.approx(1.864570 * 998.767062)
        assert first["max_occupancy_pkts"] == 15 and math.isnan(first["max_occupancy_bits"])
        second = sample_2021.queue_labels.iloc[q1]
        assert second["avg_occupancy_bits"] == pytest.approx(2.200416 * 1000.55, rel=1e-5)

    def test_port_config(self, sample_2021):
        port = sample_2021.scenario.topology.links[0].port
        assert (port.scheduling, port.buffers, port.buffer_unit) == (Scheduling.FIFO, (32,), "packets")


@needs_shared
def test_find_datanet_dirs():
    dirs = find_datanet_dirs(GNNET)
    assert [d.relative_to(GNNET).as_posix() for d in dirs] == [
        "2021/test/100",
        "2021/test/50",
        "2021/test/75",
        "2021/train",
        "2021/validation",
        "2022/validation/100",
        "2022/validation/130",
        "2022/validation/170",
        "2022/validation/50",
        "2022/validation/75",
    ]
    assert find_datanet_dirs(TRAIN_2021) == [TRAIN_2021]
    assert is_datanet_tree(GNNET)


def test_not_a_datanet_tree(tmp_path):
    assert not is_datanet_tree(tmp_path)
    assert find_datanet_dirs(tmp_path) == []
    with pytest.raises(DatasetError, match="no datanetAPI dataset directory"):
        next(read_datanet(tmp_path))


@needs_shared
@pytest.mark.parametrize("subtree", ["2021", pytest.param("2022/validation", marks=pytest.mark.slow)])
def test_every_shared_sample_reads(subtree):
    samples, report = read_all(GNNET / subtree)
    assert report.errors == [] and report.skipped_unstable == 0
    assert report.samples == len(samples) == {"2021": 130, "2022/validation": 70}[subtree]
    for sample in samples:
        labels = sample.flow_labels
        # the header's global packet rate is the sum over pairs: checks line alignment and cell order
        assert labels["pkts_per_s"].sum() == pytest.approx(sample.meta["global_pkts_per_s"], rel=1e-3)
        assert (labels["delay_s"] > 0).all() and labels["loss"].between(0, 1).all()
        assert len(sample.queue_labels) == len(sample.scenario.queues.link)
        assert not sample.link_labels.isna().any().any()


# ---------------------------------------------------------------------------------------------- bad input


@needs_shared
def test_unstable_sample_is_skipped_in_lock_step(tmp_path):
    directory = dataset_copy(tmp_path, TRAIN_2021)

    def unstable_line_3(name: str, text: str) -> str:
        if name != "stability.txt":
            return text
        lines = text.split("\n")
        lines[3] = lines[3].replace(";OK;", ";KO;")
        return "\n".join(lines)

    rewrite_archive(TRAIN_2021 / TRAIN_0_24, directory / TRAIN_0_24, unstable_line_3)
    samples, report = read_all(directory)
    assert report.skipped_unstable == 1 and report.samples == 24 and report.errors == []
    assert [s.meta["datanet_id"] for s in samples] == [i for i in range(25) if i != 3]
    original = {s.meta["sample_id"]: s for s in islice(read_datanet(TRAIN_2021), 5)}
    for sample in samples[2:4]:  # ids 2 and 4, around the skipped line
        np.testing.assert_array_equal(sample.flow_labels, original[sample.meta["sample_id"]].flow_labels)
    assert samples[3].meta["source"] == f"{TRAIN_0_24}:5"


@needs_shared
def test_truncated_archive_is_reported_and_others_still_load(tmp_path):
    directory = dataset_copy(tmp_path, V2022_50)
    archives = sorted(V2022_50.glob("*.tar.gz"))[:3]
    for archive in archives:
        (directory / archive.name).write_bytes(archive.read_bytes())
    broken = directory / archives[1].name
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    report = ReadReport()
    with pytest.warns(UserWarning, match=broken.name):
        samples = list(read_datanet(directory, report))
    assert len(report.errors) == 1 and report.errors[0].path == broken
    assert report.samples == 2
    assert [s.meta["source"].split(":")[0] for s in samples] == [archives[0].name, archives[2].name]


@needs_shared
def test_malformed_traffic_cell_names_file_and_cell(tmp_path):
    directory = dataset_copy(tmp_path, V2022_50)
    source = V2022_50 / SAMPLE_11
    bad = rewrite_archive(
        source,
        directory / SAMPLE_11,
        lambda name, text: replace_cell(text, 7, "0,abc,1,10,0,1000,2") if name == "traffic.txt" else text,
    )
    good = directory / "results_400-2000_12_12.tar.gz"
    good.write_bytes((V2022_50 / good.name).read_bytes())
    report = ReadReport()
    with pytest.warns(UserWarning):
        samples = list(read_datanet(directory, report))
    assert [s.meta["datanet_id"] for s in samples] == [12]
    (error,) = report.errors
    assert error.path == bad
    assert "line 1" in str(error) and "traffic.txt" in str(error)
    assert "cell 7 (pair 0→7)" in str(error) and "abc" in str(error)


@needs_shared
def test_missing_graph_file_is_reported(tmp_path):
    directory = dataset_copy(tmp_path, V2022_50)
    rewrite_archive(
        V2022_50 / SAMPLE_11,
        directory / SAMPLE_11,
        lambda name, text: text.replace("graph_topo-50-0-1.txt", "nope.txt") if name == "input_files.txt" else text,
    )
    report = ReadReport()
    with pytest.warns(UserWarning):
        assert list(read_datanet(directory, report)) == []
    (error,) = report.errors
    assert error.path == directory / SAMPLE_11 and "nope.txt" in str(error)


# ---------------------------------------------------------------------------------------------- synthetic


GRAPH = """graph [
  directed 1
  multigraph 1
  levelsToS 3
  node [ id 0 label "a" bufferSizes "8000,8000" schedulingPolicy "WFQ" levelsQoS "2"
         schedulingWeights "60, 40" tosToQoSqueue "0;1,2" ]
  node [ id 1 label "b" queueSizes 32 schedulingPolicy "FIFO" levelsQoS 1 ]
  node [ id 2 label "c" bufferSizes 16000 ]
  edge [ source 0 target 1 key 0 port 0 weight 1 bandwidth "10000" ]
  edge [ source 1 target 0 key 0 port 0 weight 1 bandwidth 10000.0 ]
  edge [ source 1 target 2 key 0 port 1 weight 1 bandwidth 20000 ]
  edge [ source 2 target 1 key 0 port 0 weight 1 bandwidth 20000.0 ]
]
"""
PORT_MATRIX = "-1,0,0,\n0,-1,1,\n0,0,-1,\n"
PATH_LIST = "0;1\n0;1;2\n1;0\n1;2\n2;1;0\n2;1\n"
NO_FLOW = "-1,0,-1,0,0"
TRAFFIC_CELLS = [
    NO_FLOW,
    "4,1000,4.17,3,7,10,0,400,1",  # (0,1) ON-OFF: off 3 s, on 7 s; fixed 400-bit packets; ToS 1
    "0,2000,2,10,2,1000,300,1700,2:1,500,0.5,1,1000,800,1200,0",  # (0,2) Poisson binomial ToS 2 + CBR uniform ToS 0
    "2,300,0.2,0.4,3,500,2,400,0.5,600,0.5,0",  # (1,0) uniform 0.2–0.4 pkt/s, generic sizes
    NO_FLOW,
    "3,800,1,0.1,0,800,0",  # (1,2) normal, std 0.1 pkt/s
    NO_FLOW,  # (2,0) carries no flow
    "6,100,0,100,2",  # (2,1) trace
    NO_FLOW,
]
DIAGONAL_RECORD = "0,0,0,-1,-1,-1,-1,-1,-1,-1,-1"


def record(i: int) -> str:
    """A distinguishable 11-field results record."""
    return f"{i + 1},{2 * (i + 1)},{0.5 * (i + 1)},{0.01 * (i + 1)},-4,0.001,0.002,0.003,0.004,0.005,{1e-5 * (i + 1)}"


RESULTS_CELLS = [record(k) if TRAFFIC_CELLS[k] != NO_FLOW else DIAGONAL_RECORD for k in range(9)]
LINK_USAGE_CELLS = ["-1"] * 9
LINK_USAGE_CELLS[1] = "0.5,0.01,900:0.3,0.000000,1000,4000,950:0.2,0.02,2000,8000,850"  # node 0: 2 queues, bits
LINK_USAGE_CELLS[3] = "0.4,0,1000,0.4,0,2.5,10,1000"  # node 1: 2021 flat layout, packets
LINK_USAGE_CELLS[5] = "0.2,0,700,0.2,0,1.5,4,700"
LINK_USAGE_CELLS[7] = "0.1,0,500:0.1,0,500,500,500"  # node 2: bits


def synthetic_dataset(tmp_path: Path, routing: str = PORT_MATRIX, **overrides: str) -> Path:
    directory = tmp_path / "synthetic"
    for sub in ("graphs", "routings", "links_bw"):
        (directory / sub).mkdir(parents=True)
    (directory / "graphs" / "g.txt").write_text(GRAPH)
    (directory / "routings" / "r.txt").write_text(routing)
    (directory / "links_bw" / "bw.txt").write_text("1;2;50000\n")
    files = {
        "input_files.txt": "7;g.txt;r.txt;bw.txt\n",
        "traffic.txt": "1500|" + ";".join(TRAFFIC_CELLS) + ";\n",
        "simulationResults.txt": "12,3,0.05|" + ";".join(RESULTS_CELLS) + ";\n",
        "stability.txt": "1000;0.0009;OK;Mem(KB):1;Time(s):1\n",
        "linkUsage.txt": ";".join(LINK_USAGE_CELLS) + ";\n",
        **overrides,
    }
    write_archive(directory / "results_3_1-2_7_7.tar.gz", files)
    return directory


class TestSynthetic:
    """Features the shared samples lack: several flows per pair, other laws, links_bw, odd GML spellings."""

    @pytest.fixture
    def sample(self, tmp_path):
        (sample,) = read_datanet(synthetic_dataset(tmp_path))
        return sample

    def test_topology(self, sample):
        topology = sample.scenario.topology
        assert topology.node_names == ("a", "b", "c")
        assert [(link.src, link.dst) for link in topology.links] == [(0, 1), (1, 0), (1, 2), (2, 1)]
        assert topology.capacity_bps.tolist() == [10000, 10000, 50000, 20000]  # 1→2 from links_bw
        wfq, fifo_packets, _, fifo_bits = (link.port for link in topology.links)
        assert (wfq.scheduling, wfq.buffers, wfq.buffer_unit) == (Scheduling.WFQ, (8000, 8000), "bits")
        assert wfq.weights == (60, 40) and wfq.tos_to_queue == (0, 1, 1)
        assert (fifo_packets.buffers, fifo_packets.buffer_unit) == ((32,), "packets")
        assert fifo_packets.tos_to_queue == (0, 0, 0)
        assert (fifo_bits.scheduling, fifo_bits.buffers, fifo_bits.buffer_unit) == (Scheduling.FIFO, (16000,), "bits")

    def test_flows(self, sample):
        flows = sample.scenario.traffic.flows
        expected = [(0, 1, 1), (0, 2, 2), (0, 2, 0), (1, 0, 0), (1, 2, 0), (2, 1, 2)]
        assert [(f.src, f.dst, f.tos) for f in flows] == expected
        on_off, poisson, cbr, uniform, normal, trace = flows
        assert dict(on_off.time.params) == {"off_s": 3, "on_s": 7, "exp_max_factor": 10, "periodic_on": 1}
        assert (on_off.size.kind, on_off.size.mean_bits) == (SizeKind.DETERMINISTIC, 400)
        assert poisson.size.sizes_bits == (300, 1700) and poisson.size.probs == (0.5, 0.5)
        assert (cbr.time.kind, cbr.rate_bps) == (TimeKind.CBR, 500)
        assert (cbr.size.kind, cbr.size.mean_bits) == (SizeKind.UNIFORM, 1000)
        assert dict(uniform.time.params) == {"min_pkts_per_s": 0.2, "max_pkts_per_s": 0.4}
        assert uniform.size.mean_bits == 500
        assert (normal.time.kind, dict(normal.time.params)) == (TimeKind.NORMAL, {"std_pkts_per_s": 0.1})
        assert (trace.time.kind, trace.rate_bps) == (TimeKind.TRACE, 100)

    def test_routing_only_for_pairs_with_flows(self, sample):
        assert dict(sample.scenario.routing.paths) == {
            (0, 1): (0, 1),
            (0, 2): (0, 1, 2),
            (1, 0): (1, 0),
            (1, 2): (1, 2),
            (2, 1): (2, 1),
        }

    def test_path_list_routing_gives_the_same_paths(self, sample, tmp_path):
        (other,) = read_datanet(synthetic_dataset(tmp_path / "paths", routing=PATH_LIST))
        assert dict(other.scenario.routing.paths) == dict(sample.scenario.routing.paths)

    def test_flows_of_a_pair_share_the_aggregate_record(self, sample):
        labels = sample.flow_labels
        # the records of cells 1, 2, 2, 3, 5 and 7
        assert labels["offered_bps"].tolist() == [2000, 3000, 3000, 4000, 6000, 8000]
        assert labels["loss"].tolist() == [0.25] * 6

    def test_per_flow_results_file_wins(self, tmp_path):
        per_flow = [DIAGONAL_RECORD] * 9
        per_flow[1], per_flow[2], per_flow[3], per_flow[5], per_flow[7] = (
            record(10),
            f"{record(11)}:{record(12)}",
            record(13),
            record(14),
            record(15),
        )
        directory = synthetic_dataset(tmp_path, **{"flowSimulationResults.txt": ";".join(per_flow) + ";\n"})
        (sample,) = read_datanet(directory)
        assert sample.flow_labels["offered_bps"].tolist() == [11000, 12000, 13000, 14000, 15000, 16000]

    def test_link_and_queue_labels(self, sample):
        assert list(sample.link_labels.columns) == list(LINK_LABELS)
        assert sample.link_labels["avg_pkt_bits"].tolist() == [900, 1000, 700, 500]
        queues = sample.queue_labels
        assert list(queues.columns) == list(QUEUE_LABELS)
        assert len(queues) == 5  # 2 + 1 + 1 + 1
        assert queues["avg_occupancy_bits"].tolist() == [1000, 2000, 2500, 1050, 500]
        assert queues["max_occupancy_bits"].tolist()[:2] == [4000, 8000]
        assert queues["max_occupancy_pkts"].tolist()[2:4] == [10, 4]
        assert queues[["max_occupancy_pkts"]].iloc[[0, 1, 4]].isna().all().all()

    def test_tos_picks_the_queue(self, sample):
        queue_index = sample.scenario.queues.index
        hops = [[int(queue_index[q]) for _, _, q in hop_queues(sample, i)] for i in range(3)]
        assert hops == [[1], [1, 0], [0, 0]]  # ToS 1 and 2 share queue 1 at node a; ToS 0 has queue 0

    def test_meta(self, sample):
        assert sample.meta["links_bw_file"] == "bw.txt"
        assert sample.meta["source"] == "results_3_1-2_7_7.tar.gz:1"

    @pytest.mark.parametrize(
        ("cell", "message"),
        [
            ("7,1000,generate_autosimilar,1,2,3,0,400,1", "not supported"),
            ("4,1000,4.17,3,7,10,0,400,1,9", "10 fields, expected 9"),
            ("0,1000,1", "too few fields"),
            ("0,1000,1,10,3", "too few fields"),
            ("0,1000,1,10,3,1000,2,500,0.5,1", "10 fields, expected 12"),
            ("0,-5,1,10,0,400,1", "EqLambda"),
            ("9,1000,1,0,400,1", "unknown time code"),
            ("0,1000,1,10,4,1000,1", "size code '4' is not supported"),
        ],
    )
    def test_bad_traffic_cell(self, tmp_path, cell, message):
        cells = [cell if k == 1 else c for k, c in enumerate(TRAFFIC_CELLS)]
        directory = synthetic_dataset(tmp_path, **{"traffic.txt": "1500|" + ";".join(cells) + ";\n"})
        report = ReadReport()
        with pytest.warns(UserWarning):
            assert list(read_datanet(directory, report)) == []
        (error,) = report.errors
        assert "traffic.txt" in str(error) and "cell 1 (pair 0→1)" in str(error) and message in str(error)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"simulationResults.txt": "12,3,0.05|" + ";".join(RESULTS_CELLS[:8]) + ";\n"}, "8 cells, expected 9"),
            ({"linkUsage.txt": ";".join(["-1"] * 9) + ";\n"}, "linkUsage.txt: cell 1 (pair 0→1)"),
            ({"input_files.txt": "x;g.txt;r.txt\n"}, "sample_id"),
            ({"stability.txt": ""}, "stability.txt has 0 line(s)"),
        ],
    )
    def test_bad_result_files(self, tmp_path, overrides, message):
        report = ReadReport()
        with pytest.warns(UserWarning):
            assert list(read_datanet(synthetic_dataset(tmp_path, **overrides), report)) == []
        (error,) = report.errors
        assert message in str(error)

    def test_routing_port_unknown_to_the_graph(self, tmp_path):
        report = ReadReport()
        with pytest.warns(UserWarning):
            list(read_datanet(synthetic_dataset(tmp_path, routing="-1,5,0,\n0,-1,1,\n0,0,-1,\n"), report))
        assert "row 0, column 1: node 0 has no port 5" in str(report.errors[0])


def test_parse_traffic_diagonal_and_several_flows():
    line = "100|-1,0,-1,0,0;0,10,1,10,0,10,0:1,20,2,0,10,1;0,30,3,10,0,10,2;-1,0,-1,0,0;"
    traffic = parse_traffic(line, 2)
    assert [(f.src, f.dst, f.rate_bps, f.tos) for f in traffic.flows] == [(0, 1, 10, 0), (0, 1, 20, 1), (1, 0, 30, 2)]
    assert traffic.flow_cells == (1, 1, 2)
    with pytest.raises(ValueError, match=r"cell 0 \(pair 0→0\): a flow from a node to itself"):
        parse_traffic("100|0,10,1,10,0,10,0;-1,0,-1,0,0;-1,0,-1,0,0;-1,0,-1,0,0;", 2)


class TestGraph:
    def write(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "graph.txt"
        path.write_text(text)
        return path

    def test_defaults_without_tos_map(self, tmp_path):
        text = GRAPH.replace(' tosToQoSqueue "0;1,2"', "").replace("levelsToS 3", "levelsToS 4")
        topology, ports = read_datanet_graph(self.write(tmp_path, text))
        assert topology.links[0].port.tos_to_queue == (0, 1, 1, 1)  # ToS i -> queue i, capped at the last queue
        assert topology.links[1].port.tos_to_queue == (0, 0, 0, 0)
        assert ports == {(0, 1): 0, (1, 0): 0, (1, 2): 1, (2, 1): 0}

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            ('bandwidth "10000"', 'bandwidth "fast"', "edge 0→1.bandwidth"),
            ('schedulingPolicy "WFQ"', 'schedulingPolicy "LIFO"', "node 0.schedulingPolicy"),
            ('levelsQoS "2"', 'levelsQoS "3"', "node 0.levelsQoS"),
            ("queueSizes 32 ", "", "node 1: expected a bufferSizes"),
            ("id 2", "id 5", "graph node ids"),
            ("\n]\n", "\n", "'\\[' of 'graph' is never closed"),
        ],
    )
    def test_bad_graph(self, tmp_path, old, new, message):
        path = self.write(tmp_path, GRAPH.replace(old, new, 1))
        with pytest.raises(DatasetError, match=message) as caught:
            read_datanet_graph(path)
        assert caught.value.path == path

    def test_missing_file(self, tmp_path):
        with pytest.raises(DatasetError, match="cannot read the graph file"):
            read_datanet_graph(tmp_path / "absent.txt")
