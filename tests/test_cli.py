import json

from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.load import open_samples
from ndtwin.data.native import write_dataset
from ndtwin.data.sample import Sample
from ndtwin.scenario import Flow, PortConfig, Scenario, Scheduling, TimeDistribution, TimeKind, Topology, Traffic
from ndtwin.sim.resimulate import SimSettings, check_simulable
from ndtwin.twin.qt import QueueingTheoryTwin

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_info_counts_a_datanet_tree(shared_data):
    info = run_json("info", str(shared_data / "gnnet/2021/train"))
    assert info["n_samples"] == 50
    assert info["n_flows"] == 50 * 30 * 29
    assert info["errors"] == [] and info["skipped_unstable"] == 0


def test_info_on_a_corrupt_archive_reports_it_and_fails(shared_data, tmp_path):
    source = shared_data / "gnnet/2022/validation/50"
    tree = tmp_path / "tree"
    tree.mkdir()
    for sub in ("graphs", "routings"):
        (tree / sub).symlink_to(source / sub, target_is_directory=True)
    good, broken = sorted(source.glob("*.tar.gz"))[:2]
    (tree / good.name).write_bytes(good.read_bytes())
    (tree / broken.name).write_bytes(broken.read_bytes()[:5000])
    table = runner.invoke(app, ["info", str(tree)])
    assert table.exit_code == 1 and "unreadable:" in table.output and broken.name in table.output
    summary = runner.invoke(app, ["info", str(tree), "--json"])
    assert summary.exit_code == 1
    info = json.loads(summary.stdout)
    assert info["n_samples"] == 1 and len(info["errors"]) == 1 and broken.name in info["errors"][0]


def test_eval_json_contract_and_native_round_trip(shared_data, tmp_path):
    source = shared_data / "gnnet/2022/validation/50"
    direct = run_json("eval", "--model", "qt", str(source))
    assert direct["n_samples"] == 14
    assert direct["n_flows"] == 14 * 50 * 49
    for target in ("delay", "jitter", "loss"):
        assert set(direct[target]) >= {"mape", "nmse_db", "mae", "r2"}
    assert 0 < direct["delay"]["mape"] < 1000
    assert direct["loss"]["n_lossy_flows"] > 0 and "mape" in direct["loss"]["lossy_flows"]

    converted = runner.invoke(app, ["convert", str(source), str(tmp_path / "native")])
    assert converted.exit_code == 0, converted.output
    native = run_json("eval", "--model", "qt", str(tmp_path / "native"))
    for target in ("delay", "jitter", "loss"):
        assert native[target] == direct[target]
    assert run_json("info", str(tmp_path / "native"))["n_samples"] == 14


def test_eval_table_names_the_targets(shared_data):
    result = runner.invoke(app, ["eval", "--model", "qt", str(shared_data / "gnnet/2021/validation")])
    assert result.exit_code == 0, result.output
    for word in ("delay", "jitter", "loss", "MAPE"):
        assert word in result.output


def test_bad_inputs_give_clear_errors(tmp_path):
    missing = runner.invoke(app, ["info", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such file or directory" in missing.output
    (tmp_path / "empty").mkdir()
    not_a_dataset = runner.invoke(app, ["eval", str(tmp_path / "empty")])
    assert not_a_dataset.exit_code == 2 and "expected a native ndtwin dataset" in not_a_dataset.output
    bad_model = runner.invoke(app, ["eval", "--model", "oracle", str(tmp_path / "empty")])
    assert bad_model.exit_code == 2 and "--model: expected one of ['qt']" in bad_model.output


def test_demo_prints_flows_and_writes_a_plot(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Abilene" in result.output and "most queueing" in result.output and "simulator" in result.output
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_simulate_compares_with_labels_and_stores_samples(shared_data, tmp_path):
    source = shared_data / "gnnet/2021/validation"
    args = (
        "simulate",
        str(source),
        "--compare",
        "--packets-per-flow",
        "50",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "sim"),
    )
    report = run_json(*args)
    assert report["model"] == "sim:ndtwin" and report["n_samples"] == run_json("info", str(source))["n_samples"]
    assert report["delay"]["mape"] < 7.0  # measured 4.5 % at this run length (OMNeT++ labels, 30-node samples)
    assert run_json("info", str(tmp_path / "sim"))["n_samples"] == report["n_samples"]


def test_simulate_needs_an_output_or_compare(tmp_path):
    result = runner.invoke(app, ["simulate", str(tmp_path)])
    assert result.exit_code == 2 and "--out DIR and/or --compare" in result.output


def test_eval_compares_models_side_by_side(shared_data):
    source = str(shared_data / "gnnet/2021/validation")
    single = run_json("eval", "-m", "qt", source)
    both = run_json("eval", "-m", "qt", "-m", "qt", source)["models"]
    assert [r["model"] for r in both] == ["qt", "qt"]
    for target in ("delay", "jitter", "loss"):
        assert both[0][target] == both[1][target] == single[target]


def test_simulate_reports_a_scenario_it_cannot_simulate(tmp_path):
    topology = Topology.from_edges(2, [(0, 1, 1e6)])
    law = TimeDistribution(TimeKind.UNIFORM, {"min_pkts_per_s": 1.0, "max_pkts_per_s": 2.0})
    scenario = Scenario.with_shortest_paths(topology, Traffic((Flow(0, 1, 1e5, 0, law),)))
    samples = [Sample(scenario, QueueingTheoryTwin().predict(scenario), meta={"sample_id": str(i)}) for i in range(3)]
    write_dataset(samples, tmp_path / "data")
    result = runner.invoke(app, ["simulate", str(tmp_path / "data"), "--compare", "--workers", "2"])
    assert (
        result.exit_code == 2 and "traffic.flows[0].time.kind: expected a law the simulator supports" in result.output
    )


def test_ns3_refuses_an_unsupported_scheduler_before_writing(tmp_path):
    drr = PortConfig(Scheduling.DRR, buffers=(64, 64, 64), buffer_unit="packets", weights=(50, 30, 20))
    topologies = [Topology.from_edges(2, [(0, 1, 1e6)], port=port) for port in (PortConfig(), drr)]
    samples = []
    for i, topology in enumerate(topologies):
        scenario = Scenario.with_shortest_paths(topology, Traffic((Flow(0, 1, 1e5),)))
        samples.append(Sample(scenario, QueueingTheoryTwin().predict(scenario), meta={"sample_id": f"s{i}"}))
    write_dataset(samples, tmp_path / "data")
    out = tmp_path / "ns3"
    result = runner.invoke(app, ["simulate", str(tmp_path / "data"), "--backend", "ns3", "--out", str(out)])
    assert result.exit_code == 2
    assert "sample s1: topology.links[0].port.scheduling: expected FIFO or SP" in result.output
    assert "got 'DRR'" in result.output
    assert not out.exists()  # no dataset.json left behind: the next run into out/ns3 is not refused


def test_simulate_counts_the_samples_it_checked(shared_data):
    assert check_simulable(SimSettings(), open_samples(shared_data / "gnnet/2022/validation/50")) == 14
