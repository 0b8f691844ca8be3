import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.native import dataset_info, read_dataset, sample_ids
from ndtwin.data.topology_io import write_gml
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.generate import GenerationSpec, draw_run_scenario, generate_sample, resolve_sources, sample_id
from ndtwin.scenario import Scheduling, Topology
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.sim.revision import simulator_revision

runner = CliRunner()
TINY = ["-t", "powerlaw:4-6", "--packets-per-flow", "20", "--workers", "1"]


def flat(text: str) -> str:
    """Console output without the line wrapping."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"intensity": [0.9, 0.2]}, "spec.intensity"),
        ({"intensity": [0.5]}, "spec.intensity"),
        ({"intensity": [1.0, 2.5]}, "spec.intensity"),
        ({"flows_per_pair": [3, 2]}, "spec.flows_per_pair"),
        ({"pair_share": [0.2, 1.5]}, "spec.pair_share"),
        ({"pair_share": [0.0, 0.5]}, "spec.pair_share[0]"),
        ({"bogus": 1}, "spec.bogus"),
        ({"tos_probs": [0.5, -1]}, "spec.tos_probs[1]"),
        ({"size_profiles": [[0.5, 0.5]]}, "spec.size_profiles[0]"),
        ({"scheduling_probs": {"FIFO": 1, "RED": 1}}, "spec.scheduling_probs.RED"),
        ({"wfq_weights": [[50, 50]]}, "spec.wfq_weights[0]"),
        ({"packets_per_flow": 0}, "spec.packets_per_flow"),
        ({"topologies": []}, "spec.topologies"),
    ],
)
def test_spec_errors_name_the_field(values, field):
    with pytest.raises(ScenarioError) as error:
        GenerationSpec.from_dict(values)
    assert error.value.field == field and str(error.value).startswith(field)


def test_spec_files_and_overrides(tmp_path):
    toml = tmp_path / "spec.toml"
    toml.write_text('topologies = ["powerlaw:5-7"]\nintensity = [0.4, 0.6]\n[time_probs]\ncbr = 1\n')
    spec = GenerationSpec.load(toml)
    assert spec.intensity == (0.4, 0.6) and spec.time_probs == (("cbr", 1.0),)
    assert spec.with_overrides(intensity=(0.2, 0.3), packets_per_flow=None).intensity == (0.2, 0.3)
    assert GenerationSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    bad = tmp_path / "bad.json"
    bad.write_text('{"intensity": [2, 3]}')
    with pytest.raises(DatasetError, match=r"bad.json: spec.intensity"):
        GenerationSpec.load(bad)


def test_topology_sources(tmp_path):
    write_gml(Topology.from_edges(3, [(0, 1, 1e6), (1, 2, 1e6)]), tmp_path / "line.gml")
    write_gml(Topology.from_edges(3, [(0, 1, 1e6)], bidirectional=False), tmp_path / "broken.gml")
    assert len(resolve_sources(("powerlaw:10-25", str(tmp_path)))) == 3
    with pytest.raises(ScenarioError, match=r"spec.topologies\[1\]"):
        resolve_sources(("powerlaw:10", "nowhere.graphml"))
    with pytest.raises(ScenarioError, match=r"spec.topologies\[0\]"):
        resolve_sources(("powerlaw:9-3",))
    spec = GenerationSpec(topologies=(str(tmp_path / "broken.gml"),), packets_per_flow=10)
    with pytest.raises(DatasetError, match="broken.gml: expected a strongly connected topology"):
        draw_run_scenario(spec, 0, 0)


@pytest.mark.parametrize("n", [3, 11, 40])
def test_backbone_graphs_are_sparse_connected_and_reproducible(n):
    (source,) = resolve_sources((f"backbone:{n}",))
    name, topology = source.draw(np.random.default_rng(4))
    again = source.draw(np.random.default_rng(4))[1]
    links = {tuple(sorted((link.src, link.dst))) for link in topology.links}
    assert name.startswith(f"backbone-{n}-") and topology.n_nodes == n
    assert nx.is_connected(nx.Graph(list(links)))
    assert len(links) == min(round(1.35 * n), n * (n - 1) // 2)
    assert topology.links == again.links
    degree = Counter(node for link in links for node in link)
    assert max(degree.values()) <= 6  # no hubs, unlike powerlaw:N
    with pytest.raises(ScenarioError, match=r"spec.topologies\[0\]: expected backbone:NMIN-NMAX"):
        resolve_sources(("backbone:2",))


def test_same_seed_and_index_give_the_same_scenario():
    spec = GenerationSpec(topologies=("powerlaw:6-12",))
    first, again, other = (draw_run_scenario(spec, 3, i) for i in (7, 7, 8))
    assert first[0] == again[0] and first[2] == again[2]
    assert repr(first[1].scenario) == repr(again[1].scenario) and first[1].intensity == again[1].intensity
    assert repr(first[1].scenario) != repr(other[1].scenario)


def test_drawn_scenarios_follow_the_spec():
    spec = GenerationSpec(topologies=("powerlaw:8-14",), intensity=(0.5, 0.7))
    for index in range(5):
        _, drawn, _ = draw_run_scenario(spec, 1, index)
        scenario = drawn.scenario
        topology = scenario.topology
        n = topology.n_nodes
        assert scenario.n_flows == n * (n - 1)
        utilization = link_loads_bps(scenario) / topology.capacity_bps
        assert 0.5 <= drawn.intensity <= 0.7 and utilization.max() == pytest.approx(drawn.intensity)
        assert set(topology.capacity_bps) <= set(spec.capacities_bps)
        for link in topology.links:
            assert topology.links[topology.link_id(link.dst, link.src)].capacity_bps == link.capacity_bps
            assert link.port == next(lk.port for lk in topology.links if lk.src == link.src)
            assert link.port.buffer_unit == "bits" and link.port.buffers[0] in spec.buffers_bits
            if link.port.scheduling is Scheduling.WFQ:
                assert link.port.weights in spec.wfq_weights
        assert set(scenario.traffic.tos) <= {0, 1, 2}


def test_generated_sample_carries_its_parameters():
    spec = GenerationSpec(topologies=("powerlaw:4-5",), packets_per_flow=20)
    sample = generate_sample(spec, 5, 2)
    assert sample.sample_id == sample_id(5, 2) == "gen-5-000002"
    assert sample.meta["topology"].startswith("powerlaw-") and 0.3 <= sample.meta["intensity"] <= 1.0
    assert np.isfinite(sample.flow_labels["delay_s"]).mean() > 0.8  # a short ON-OFF flow may send nothing
    again = generate_sample(spec, 5, 2)
    assert again.flow_labels.equals(sample.flow_labels)


def test_cli_writes_resumes_and_refuses_another_seed(tmp_path):
    out = tmp_path / "gen"
    first = runner.invoke(app, ["generate", str(out), "-n", "3", *TINY])
    assert first.exit_code == 0, first.output
    assert "wrote 3 samples" in flat(first.output)
    more = runner.invoke(app, ["generate", str(out), "-n", "5", *TINY])
    assert more.exit_code == 0 and "3 of 5 samples present" in flat(more.output)
    samples = list(read_dataset(out))
    assert sorted(s.sample_id for s in samples) == [sample_id(0, i) for i in range(5)]
    provenance = dataset_info(out)["provenance"]
    assert provenance["seed"] == 0 and provenance["spec"]["packets_per_flow"] == 20
    assert "generate" in provenance["command"]
    other = runner.invoke(app, ["generate", str(out), "-n", "5", "--seed", "1", *TINY])
    assert other.exit_code == 2 and "different settings: seed is 0 there, 1 here; use a new folder" in flat(
        other.output
    )
    clash = runner.invoke(app, ["generate", str(out), "-n", "5", "--intensity", "0.5-0.9", *TINY])
    message = flat(clash.output)
    assert clash.exit_code == 2 and "spec.intensity is [0.3, 1.0] there, [0.5, 0.9] here; use" in message
    assert "seed is" not in message and "tos_probs" not in message and "packets_per_flow" not in message
    assert provenance["simulator"] == simulator_revision()
    manifest = out / "dataset.json"
    stored = json.loads(manifest.read_text())
    stored["provenance"]["simulator"] = "000000000000"
    manifest.write_text(json.dumps(stored))
    stale = runner.invoke(app, ["generate", str(out), "-n", "6", *TINY])
    assert stale.exit_code == 2 and "simulator is '000000000000' there" in flat(stale.output)
    bad = runner.invoke(app, ["generate", str(tmp_path / "x"), "-n", "1", "--intensity", "high"])
    assert bad.exit_code == 2 and "--intensity" in bad.output


def test_ray_without_ray_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = runner.invoke(app, ["generate", str(tmp_path / "gen"), "-n", "1", "--ray", *TINY])
    assert result.exit_code == 2 and "--ray: expected the optional 'ray' package" in flat(result.output)
    assert not (tmp_path / "gen").exists()


@pytest.mark.slow
def test_restart_after_sigkill_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "gen"
    total = 24
    command = [
        sys.executable,
        "-m",
        "ndtwin",
        "generate",
        str(out),
        "-n",
        str(total),
        "--chunk-size",
        "2",
        "-t",
        "powerlaw:4-6",
        "--packets-per-flow",
        "100",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "dataset.json").exists() and len(sample_ids(out)) >= 4:
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    interrupted = len(sample_ids(out))
    assert 4 <= interrupted < total, "the run should be killed mid-way"
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    ids = Counter(s.sample_id for s in read_dataset(out))
    assert set(ids) == {sample_id(0, i) for i in range(total)} and max(ids.values()) == 1


@pytest.mark.slow
def test_ctrl_c_keeps_the_samples_and_prints_one_line(tmp_path):
    out = tmp_path / "gen"
    command = [sys.executable, "-m", "ndtwin", "generate", str(out), "-n", "200", "--chunk-size", "2"]
    command += ["-t", "powerlaw:4-6", "--packets-per-flow", "100", "--workers", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "dataset.json").exists() and len(sample_ids(out)) >= 2:
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the parent and its workers
        _, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    kept = len(sample_ids(out))
    assert process.returncode == 130 and 2 <= kept < 200
    assert f"interrupted: {kept} samples kept in {out}; run the same command to resume" in flat(errors)
    assert "Traceback" not in errors and "SpawnPoolWorker" not in errors and "KeyboardInterrupt" not in errors


def test_onoff_sources_can_send_as_the_bnn_upc_simulator():
    spec = GenerationSpec(topologies=("powerlaw:4-5",), time_probs={"onoff": 1.0}, onoff_periodic=True)
    drawn = draw_run_scenario(spec, 0, 0)[1].scenario
    assert all(flow.time.params.get("periodic_on") == 1.0 for flow in drawn.traffic.flows)
    with pytest.raises(ScenarioError, match="spec.onoff_periodic: expected true or false"):
        GenerationSpec(onoff_periodic="yes")


def test_several_flows_per_pair_share_the_pair_path():
    spec = GenerationSpec(topologies=("powerlaw:6-7",), flows_per_pair=(2, 4), packets_per_flow=20)
    scenario = draw_run_scenario(spec, 0, 0)[1].scenario
    n = scenario.topology.n_nodes
    per_pair = Counter((flow.src, flow.dst) for flow in scenario.traffic.flows)
    assert len(per_pair) == n * (n - 1) and set(per_pair.values()) <= {2, 3, 4} and len(set(per_pair.values())) > 1
    sample = generate_sample(spec, 0, 0)
    assert len(sample.flow_labels) == scenario.n_flows and np.isfinite(sample.flow_labels.delay_s).mean() > 0.8
    one = GenerationSpec(topologies=("powerlaw:6-7",))
    assert draw_run_scenario(one, 0, 0)[1].scenario.n_flows == n * (n - 1)
    with pytest.raises(ScenarioError, match=r"spec.flows_per_pair\[0\]"):
        GenerationSpec(flows_per_pair=(0, 2))


def test_pair_share_draws_sparse_traffic_matrices():
    spec = GenerationSpec(topologies=("powerlaw:20",), pair_share=(0.05, 0.2), packets_per_flow=20)
    pairs = 20 * 19
    counts = [draw_run_scenario(spec, 0, i)[1].scenario.n_flows for i in range(5)]
    assert all(1 <= c <= 0.3 * pairs for c in counts) and len(set(counts)) > 1
    drawn = draw_run_scenario(spec, 0, 0)[1]
    assert len({(f.src, f.dst) for f in drawn.scenario.traffic.flows}) == drawn.scenario.n_flows
    tiny = GenerationSpec(topologies=("powerlaw:4",), pair_share=(1e-6, 1e-6), packets_per_flow=20)
    assert draw_run_scenario(tiny, 0, 0)[1].scenario.n_flows == 1
