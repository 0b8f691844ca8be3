"""Tests of the GraphML / GML topology readers and the GML writer."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ndtwin.data.topology_io import DEFAULT_CAPACITY_BPS, TopologyWarning, read_topology, write_gml
from ndtwin.errors import DatasetError
from ndtwin.scenario import Link, PortConfig, Scheduling, Topology

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ZOO = DATA / "topologies" / "topology-zoo"
ROBUST = DATA / "robust_ndt" / "topologies"
ALL_FILES = sorted(ZOO.glob("*.graphml")) + sorted(ROBUST.glob("*.gml"))
needs_shared_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")

# (nodes, undirected edges) as stated in topologies/README.md.
README_SIZES = {
    "5G_crosshaul_51.gml": (52, 63),
    "germany_50.gml": (50, 88),
    "PASSION_128.gml": (129, 224),
    "HPASSION_128.gml": (129, 224),
    "nsfnet_14.gml": (14, 21),
}


def read_quietly(path: Path, **kwargs) -> Topology:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        return read_topology(path, **kwargs)


def read_with_warnings(path: Path, **kwargs) -> tuple[Topology, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        topology = read_topology(path, **kwargs)
    assert all(issubclass(w.category, TopologyWarning) for w in caught)
    return topology, [str(w.message) for w in caught]


def gml_file(tmp_path: Path, body: str, *, directed: bool = False, name: str = "t.gml") -> Path:
    """A GML file with nodes a, b, c (ids 0, 1, 2) and the given edge blocks."""
    nodes = "".join(f'  node [ id {i} label "{label}" ]\n' for i, label in enumerate("abc"))
    path = tmp_path / name
    path.write_text(f"graph [\n  directed {int(directed)}\n  multigraph 1\n{nodes}{body}]\n")
    return path


def edge(source: int, target: int, **attrs: object) -> str:
    fields = " ".join(f'{k} "{v}"' if isinstance(v, str) else f"{k} {v}" for k, v in attrs.items())
    return f"  edge [ source {source} target {target} {fields} ]\n"


# --- shared data ------------------------------------------------------------------------------------------------


@needs_shared_data
def test_shared_topology_files_exist():
    assert len(list(ZOO.glob("*.graphml"))) >= 2 and len(list(ROBUST.glob("*.gml"))) >= 2


@needs_shared_data
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_shared_file_loads(path):
    topology = read_quietly(path)
    assert topology.n_nodes > 0 and topology.n_links > 0
    assert (topology.capacity_bps > 0).all() and (topology.prop_delay_s >= 0).all()
    if path.name in README_SIZES:
        nodes, edges = README_SIZES[path.name]
        assert (topology.n_nodes, topology.n_links) == (nodes, 2 * edges)


@needs_shared_data
def test_nsfnet_values_in_si_units():
    topology, messages = read_with_warnings(ROBUST / "nsfnet_14.gml")
    assert messages == []
    assert topology.n_nodes == 14 and topology.n_links == 42
    assert topology.node_names[:3] == ("0", "1", "2")
    forward, backward = topology.links[0], topology.links[1]
    assert (forward.src, forward.dst, backward.src, backward.dst) == (0, 1, 1, 0)
    for link in (forward, backward):
        assert link.capacity_bps == pytest.approx(1.5e8)
        assert link.prop_delay_s == pytest.approx(0.0012)
        assert link.weight == 1.0


@needs_shared_data
def test_synth_1000_reads_the_capacities_spelling():
    topology = read_quietly(ROBUST / "synth_topology_1000.gml")
    assert topology.n_nodes == 1000
    assert topology.capacity_bps.min() >= 1e8  # from the file (Mbit/s), not the 10 Gbit/s default
    assert topology.capacity_bps.max() < DEFAULT_CAPACITY_BPS


@needs_shared_data
def test_directed_gml_keeps_the_given_direction():
    topology = read_quietly(ROBUST / "toy_topology_4.gml")
    assert [(lk.src, lk.dst) for lk in topology.links] == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert topology.links[0].prop_delay_s == pytest.approx(0.323e-3)


@needs_shared_data
def test_abilene_default_capacity_and_geographic_delay():
    topology, messages = read_with_warnings(ZOO / "Abilene.graphml")
    assert topology.n_nodes == 11 and topology.n_links == 28
    assert topology.node_names[:2] == ("New York", "Chicago")
    assert (topology.capacity_bps == DEFAULT_CAPACITY_BPS).all()
    new_york_chicago = topology.links[topology.link_id(0, 1)]
    assert new_york_chicago.prop_delay_s == pytest.approx(1145e3 / 2e8, rel=0.01)  # about 1145 km
    assert len(messages) == 1
    assert "14 of 14 edges have no capacity" in messages[0] and "1e+10 bit/s" in messages[0]
    assert "Abilene.graphml" in messages[0]


@needs_shared_data
def test_default_capacity_can_be_chosen():
    topology = read_quietly(ZOO / "Abilene.graphml", default_capacity_bps=1e9)
    assert (topology.capacity_bps == 1e9).all()


@needs_shared_data
def test_graphml_link_speed_raw_is_used():
    topology, messages = read_with_warnings(ZOO / "Geant2012.graphml")
    assert {155e6, 1e9, 2.5e9, 10e9} <= set(topology.capacity_bps)
    assert any("22 of 61 edges have no capacity" in m for m in messages)
    assert any("3 of 61 edges have neither a delay nor coordinates" in m for m in messages)


@needs_shared_data
def test_duplicated_labels_are_made_unique():
    names = read_quietly(ZOO / "Dfn.graphml").node_names
    assert "DeCix (8)" in names and "DeCix (12)" in names and "DeCix" not in names


def test_graphml_link_speed_with_units(tmp_path):
    path = tmp_path / "speed.graphml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
        '  <key attr.name="label" attr.type="string" for="node" id="n0"/>\n'
        '  <key attr.name="LinkSpeed" attr.type="string" for="edge" id="e0"/>\n'
        '  <key attr.name="LinkSpeedUnits" attr.type="string" for="edge" id="e1"/>\n'
        '  <graph edgedefault="undirected">\n'
        '    <node id="x"><data key="n0">X</data></node>\n'
        '    <node id="y"><data key="n0">Y</data></node>\n'
        '    <node id="z"><data key="n0">Z</data></node>\n'
        '    <edge source="x" target="y"><data key="e0">2.5</data><data key="e1">G</data></edge>\n'
        '    <edge source="y" target="z"><data key="e0">155</data><data key="e1">M</data></edge>\n'
        "  </graph>\n</graphml>\n"
    )
    topology, messages = read_with_warnings(path)
    assert topology.node_names == ("X", "Y", "Z")
    assert list(topology.capacity_bps) == [2.5e9, 2.5e9, 155e6, 155e6]
    assert len(messages) == 1 and "2 of 2 edges have neither a delay nor coordinates" in messages[0]


def test_graphml_key_default_applies_to_edges_without_data(tmp_path):
    path = tmp_path / "default.graphml"
    path.write_text(
        '<graphml><key id="c" for="edge" attr.name="LinkSpeedRaw" attr.type="double"><default>5e9</default></key>'
        '<graph edgedefault="directed"><node id="a"/><node id="b"/><edge source="a" target="b"/></graph></graphml>'
    )
    topology = read_quietly(path)
    assert [(lk.src, lk.dst, lk.capacity_bps) for lk in topology.links] == [(0, 1, 5e9)]


# --- merging, dropping, weights and ports --------------------------------------------------------------------------


def test_parallel_edges_are_merged(tmp_path):
    body = edge(0, 1, capacity=100, delay=2.0) + edge(1, 0, capacity=50, delay=1.0) + edge(1, 2, capacity=10, delay=3.0)
    topology, messages = read_with_warnings(gml_file(tmp_path, body))
    assert [(lk.src, lk.dst) for lk in topology.links] == [(0, 1), (1, 0), (1, 2), (2, 1)]
    for link in topology.links[:2]:
        assert link.capacity_bps == pytest.approx(1.5e8)
        assert link.prop_delay_s == pytest.approx(1e-3)
    assert messages == [
        f"{tmp_path / 't.gml'}: merged 1 parallel edges into the edge they duplicate "
        "(capacities summed, minimum delay and weight kept)"
    ]


def test_directed_opposite_edges_are_not_merged(tmp_path):
    body = edge(0, 1, capacity=100, delay=2.0) + edge(1, 0, capacity=50, delay=1.0) + edge(0, 1, capacity=1, delay=5.0)
    topology, messages = read_with_warnings(gml_file(tmp_path, body, directed=True))
    assert [(lk.src, lk.dst, lk.capacity_bps) for lk in topology.links] == [(0, 1, 101e6), (1, 0, 50e6)]
    assert len(messages) == 1 and "merged 1 parallel edges" in messages[0]


def test_self_loops_are_dropped(tmp_path):
    body = edge(0, 0, capacity=100, delay=1.0) + edge(0, 1, capacity=100, delay=1.0)
    topology, messages = read_with_warnings(gml_file(tmp_path, body))
    assert topology.n_links == 2
    assert len(messages) == 1 and "dropped 1 self-loop edges" in messages[0]


def test_weight_is_used_only_when_positive_and_numeric(tmp_path):
    body = edge(0, 1, capacity=1, delay=1, weight=3) + edge(1, 2, capacity=1, delay=1, weight=0)
    body += edge(0, 2, capacity=1, delay=1, weight="heavy")
    topology = read_quietly(gml_file(tmp_path, body))
    assert list(topology.weight) == [3.0, 3.0, 1.0, 1.0, 1.0, 1.0]


def test_given_port_applies_to_every_link(tmp_path):
    port = PortConfig(Scheduling.SP, (10.0, 20.0), tos_to_queue=(0, 1))
    topology = read_quietly(gml_file(tmp_path, edge(0, 1, capacity=1, delay=1)), port=port)
    assert all(link.port == port for link in topology.links)


# --- errors ------------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file") as info:
        read_topology(tmp_path / "nope.gml")
    assert info.value.path == tmp_path / "nope.gml"


def test_gml_syntax_error(tmp_path):
    path = tmp_path / "broken.gml"
    path.write_text('graph [\n  node [ id 0 label "a" \n  edge [ source 0 target ( ]\n')
    with pytest.raises(DatasetError, match="cannot parse as GML") as info:
        read_topology(path)
    assert info.value.path == path and "broken.gml" in str(info.value)


@needs_shared_data
def test_truncated_graphml(tmp_path):
    path = tmp_path / "broken.graphml"
    path.write_text((ZOO / "Abilene.graphml").read_text()[:3000])
    with pytest.raises(DatasetError, match="cannot parse as GraphML") as info:
        read_topology(path)
    assert info.value.path == path


def test_non_numeric_capacity_names_file_and_edge(tmp_path):
    path = gml_file(tmp_path, edge(0, 1, capacity=1, delay=1) + edge(1, 2, capacity="fast", delay=1))
    with pytest.raises(DatasetError) as info:
        read_topology(path)
    message = str(info.value)
    assert str(path) in message and "edge 1 ('b' -- 'c').capacity" in message and "'fast'" in message


def test_negative_delay_is_rejected(tmp_path):
    with pytest.raises(DatasetError, match=r"edge 0 \('a' -> 'b'\)\.delay"):
        read_topology(gml_file(tmp_path, edge(0, 1, capacity=1, delay=-1.0), directed=True))


def test_edge_to_an_unknown_node(tmp_path):
    with pytest.raises(DatasetError, match=r"edge 1: expected a source and target that are node ids"):
        read_topology(gml_file(tmp_path, edge(0, 1, capacity=1) + edge(0, 7, capacity=1)))


def test_unknown_link_speed_unit(tmp_path):
    with pytest.raises(DatasetError, match="LinkSpeedUnits"):
        read_topology(gml_file(tmp_path, edge(0, 1, LinkSpeed=10, LinkSpeedUnits="Q")))


def test_bad_port_attribute_names_the_edge(tmp_path):
    path = gml_file(tmp_path, edge(0, 1, capacity=1, scheduling="WFQ", buffers="10 20", queue_weights="1"))
    with pytest.raises(DatasetError, match=r"edge 0 \('a' -- 'b'\)\.port\.weights"):
        read_topology(path)


# --- round trip --------------------------------------------------------------------------------------------------


def varied_topology() -> Topology:
    fifo = PortConfig()
    strict = PortConfig(Scheduling.SP, (64.0, 32.0, 16.0), tos_to_queue=(2, 1, 0, 0))
    wfq = PortConfig(Scheduling.WFQ, (8e4, 1.6e5), "bits", (30.0, 70.0), (0, 1))
    drr = PortConfig(Scheduling.DRR, (5.0, 7.5, 10.0), weights=(1.0, 2.0, 3.5), tos_to_queue=(0, 1, 2))
    links = (
        Link(2, 0, 0.1 + 0.2, 1e-7, 2.5, wfq),
        Link(0, 1, 1e16, 0.0, 1.0, strict),
        Link(1, 0, 1e10, 0.0123456789, 7.0, drr),
        Link(0, 2, 123456.789, 5e-5, 0.25, fifo),
    )
    return Topology(('Zürich "HQ" & co', "None (3)", "東京"), links)


def test_write_then_read_preserves_everything(tmp_path):
    original = varied_topology()
    path = tmp_path / "out.gml"
    write_gml(original, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_topology(path) == original


def test_written_ports_override_the_default_port(tmp_path):
    path = tmp_path / "out.gml"
    write_gml(varied_topology(), path)
    other = PortConfig(Scheduling.WFQ, (1.0, 2.0), weights=(1.0, 1.0), tos_to_queue=(1,))
    assert read_topology(path, port=other) == varied_topology()


@needs_shared_data
def test_shared_file_round_trip(tmp_path):
    original = read_quietly(ZOO / "Uninett2011.graphml")
    write_gml(original, tmp_path / "uninett.gml")
    assert read_topology(tmp_path / "uninett.gml") == original


positive = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=positive, delay=st.one_of(st.just(0.0), positive), weight=positive)
def test_round_trip_is_exact_for_any_float(tmp_path, capacity, delay, weight):
    original = Topology(("a", "b"), (Link(1, 0, capacity, delay, weight),))
    write_gml(original, tmp_path / "f.gml")
    restored = read_topology(tmp_path / "f.gml")
    assert restored == original
    assert math.copysign(1.0, restored.links[0].prop_delay_s) == 1.0
