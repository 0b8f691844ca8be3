import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.topology_io import write_gml
from ndtwin.errors import ScenarioError
from ndtwin.scenario import Flow, PortConfig, Scheduling, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.qt import QueueingTheoryTwin
from ndtwin.whatif import (
    AddFlows,
    Compose,
    FailLink,
    FailNode,
    PerturbationError,
    RemoveFlows,
    ScaleTraffic,
    SetCapacity,
    SetPath,
    SetPort,
    SetWeight,
)
from ndtwin.whatif.analysis import NO_INTERVALS, what_if
from ndtwin.whatif.intervals import Intervals, calibrate, path_utilization
from ndtwin.whatif.report import plot_png, render_table

SP3 = PortConfig(Scheduling.SP, buffers=(32, 32, 32), tos_to_queue=(0, 1, 2))


def ring_with_chord() -> Topology:
    """0-1-2-3-0 ring plus the 0-2 chord, plus node 4 hanging off node 3 (a single link)."""
    edges = [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (0, 2, 1e5), (3, 4, 1e5)]
    return Topology.from_edges(5, edges, port=SP3)


@pytest.fixture
def scenario():
    return all_pairs_scenario(ring_with_chord(), max_utilization=0.6, seed=1)


def pair_index(scenario, src, dst):
    return next(i for i, f in enumerate(scenario.traffic.flows) if (f.src, f.dst) == (src, dst))


def test_scale_traffic_all_or_a_subset(scenario):
    doubled = ScaleTraffic(2.0).apply(scenario)
    assert np.allclose(doubled.traffic.rate_bps, 2 * scenario.traffic.rate_bps)
    assert doubled.routing == scenario.routing and doubled.topology == scenario.topology
    tos0 = ScaleTraffic(3.0, tos=(0,)).apply(scenario)
    is0 = scenario.traffic.tos == 0
    assert np.allclose(tos0.traffic.rate_bps[is0], 3 * scenario.traffic.rate_bps[is0])
    assert np.allclose(tos0.traffic.rate_bps[~is0], scenario.traffic.rate_bps[~is0])
    one = ScaleTraffic(0.5, pairs=(("0", "1"),)).apply(scenario)
    changed = np.flatnonzero(one.traffic.rate_bps != scenario.traffic.rate_bps)
    assert changed.tolist() == [pair_index(scenario, 0, 1)]
    by_index = ScaleTraffic(0.5, flows=(2, 3)).apply(scenario)
    assert np.flatnonzero(by_index.traffic.rate_bps != scenario.traffic.rate_bps).tolist() == [2, 3]


def test_scale_traffic_errors_name_the_field(scenario):
    with pytest.raises(ScenarioError, match="ScaleTraffic.factor"):
        ScaleTraffic(-1.0)
    with pytest.raises(PerturbationError, match="ScaleTraffic.flows/pairs/tos: expected a selection matching"):
        ScaleTraffic(2.0, tos=(7,)).apply(scenario)
    with pytest.raises(PerturbationError, match="ScaleTraffic.pairs"):
        ScaleTraffic(2.0, pairs=(("0", "nowhere"),)).apply(scenario)


def test_add_and_remove_flows_track_the_baseline_flows(scenario):
    extra = Flow(4, 1, 1000.0, tos=0)
    added = AddFlows((extra,)).outcome(scenario)
    assert added.scenario.n_flows == scenario.n_flows + 1
    assert added.origin[-1] == -1 and (added.origin[:-1] == np.arange(scenario.n_flows)).all()
    assert added.scenario.routing.path(4, 1) == scenario.routing.path(4, 1)  # existing pair keeps its path
    removed = RemoveFlows(pairs=((0, 1), (1, 0))).outcome(scenario)
    assert removed.scenario.n_flows == scenario.n_flows - 2
    assert (0, 1) not in removed.scenario.routing.paths
    assert pair_index(scenario, 0, 1) not in removed.origin
    with pytest.raises(PerturbationError, match=r"^AddFlows.flows\[0\].dst: expected an integer >= 0 and <= 4"):
        AddFlows((Flow(0, 9, 1.0),)).apply(scenario)
    with pytest.raises(PerturbationError, match="RemoveFlows.flows/pairs/tos: expected at least one"):
        RemoveFlows()
    with pytest.raises(PerturbationError, match="leaves at least one flow"):
        RemoveFlows(tos=(0, 1, 2)).apply(scenario)


def test_fail_link_reroutes_only_the_flows_that_crossed_it(scenario):
    failed = FailLink(0, 2).apply(scenario)
    topo = failed.topology
    assert topo.link_id(0, 2) is None and topo.link_id(2, 0) is None and topo.n_links == scenario.topology.n_links - 2
    for (src, dst), path in scenario.routing.paths.items():
        new = failed.routing.path(src, dst)
        crossed = any({u, v} == {0, 2} for u, v in zip(path, path[1:]))
        assert (new != path) == crossed
    assert failed.routing.path(0, 2) in ((0, 1, 2), (0, 3, 2))


def test_failures_that_disconnect_flows_name_them_or_drop_them(scenario):
    with pytest.raises(PerturbationError, match=r"FailLink.drop_disconnected: .*flow 3 \(0→4\) and 7 other"):
        FailLink(3, 4).apply(scenario)
    outcome = FailLink(3, 4, drop_disconnected=True).outcome(scenario)
    lost = {(scenario.traffic.flows[i].src, scenario.traffic.flows[i].dst) for i in outcome.dropped}
    assert lost == {(a, b) for a in range(5) for b in range(5) if a != b and 4 in (a, b)}
    assert outcome.scenario.n_flows == scenario.n_flows - len(lost)
    node = FailNode(3, drop_disconnected=True).outcome(scenario)
    assert all(3 not in (f.src, f.dst) and 4 not in (f.src, f.dst) for f in node.scenario.traffic.flows)
    with pytest.raises(PerturbationError, match="FailNode.node"):
        FailNode("X").apply(scenario)
    with pytest.raises(PerturbationError, match=r"FailLink\(u, v\): expected the two ends of a link of the topology"):
        FailLink(1, 3).apply(scenario)


def test_capacity_and_weight_changes(scenario):
    slower = SetCapacity(0, 1, 5e4).apply(scenario)
    assert slower.topology.links[slower.topology.link_id(0, 1)].capacity_bps == 5e4
    assert slower.topology.links[slower.topology.link_id(1, 0)].capacity_bps == 5e4
    assert slower.routing == scenario.routing and slower.traffic == scenario.traffic
    one_way = SetCapacity(0, 1, 5e4, both_directions=False).apply(scenario)
    assert one_way.topology.links[one_way.topology.link_id(1, 0)].capacity_bps == 1e5
    assert scenario.routing.path(0, 2) == (0, 2)
    heavier = SetWeight(0, 2, 5.0).apply(scenario)
    assert heavier.routing.path(0, 2) != (0, 2) and heavier.routing.path(2, 0) != (2, 0)
    with pytest.raises(ScenarioError, match="SetWeight.weight"):
        SetWeight(0, 2, 0.0)


def test_set_path_changes_one_pair_only(scenario):
    moved = SetPath((0, 1, 2)).apply(scenario)
    assert moved.routing.path(0, 2) == (0, 1, 2)
    assert all(moved.routing.path(*pair) == path for pair, path in scenario.routing.paths.items() if pair != (0, 2))
    with pytest.raises(
        PerturbationError, match=r"SetPath.path: expected consecutive nodes joined by links \(no link 1→3\)"
    ):
        SetPath((1, 3)).apply(scenario)


def test_port_changes(scenario):
    fifo = SetPort(scheduling="FIFO").apply(scenario)
    assert all(link.port.scheduling is Scheduling.FIFO and link.port.buffers == (96.0,) for link in fifo.topology.links)
    smaller = SetPort(0, 1, buffer_scale=0.5).apply(scenario)
    assert smaller.topology.links[smaller.topology.link_id(0, 1)].port.buffers == (16.0, 16.0, 16.0)
    assert smaller.topology.links[smaller.topology.link_id(1, 0)].port.buffers == (32, 32, 32)
    wfq = SetPort(scheduling="WFQ", weights=(60, 30, 10)).apply(scenario)
    assert wfq.topology.links[0].port.weights == (60, 30, 10)
    with pytest.raises(PerturbationError, match=r"SetPort: port.weights: expected 3 weights for WFQ"):
        SetPort(scheduling="WFQ").apply(scenario)
    with pytest.raises(ScenarioError, match="SetPort.scheduling"):
        SetPort(scheduling="LIFO")
    with pytest.raises(PerturbationError, match=r"SetPort\(u, v\): expected both link ends"):
        SetPort(u=0, buffer_scale=2.0)


def test_composition_applies_in_order_and_maps_flows(scenario):
    combined = ScaleTraffic(2.0) + RemoveFlows(flows=(0,)) + FailLink(3, 4, drop_disconnected=True)
    assert isinstance(combined, Compose) and len(combined.steps) == 3
    assert combined.describe() == "traffic ×2 + remove flows (flows (0,)) + fail link 3–4"
    outcome = combined.outcome(scenario)
    assert 0 not in outcome.origin and 0 not in outcome.dropped
    for i, o in enumerate(outcome.origin):
        before, after = scenario.traffic.flows[o], outcome.scenario.traffic.flows[i]
        assert (before.src, before.dst) == (after.src, after.dst) and after.rate_bps == 2 * before.rate_bps
    assert all(4 in (scenario.traffic.flows[i].src, scenario.traffic.flows[i].dst) for i in outcome.dropped)
    assert set(outcome.origin) | set(outcome.dropped) | {0} == set(range(scenario.n_flows))
    with pytest.raises(PerturbationError, match=r"Compose.steps\[1\]"):
        Compose((ScaleTraffic(2.0), "fail"))


def test_what_if_without_intervals_says_so(scenario, tmp_path):
    result = what_if(QueueingTheoryTwin(), scenario, SetCapacity(0, 2, 5e4), delay_budget_s=1.0)
    assert result.interval_note == NO_INTERVALS and "delay_s_after_lo" not in result.flows
    through = [
        i
        for i, f in enumerate(scenario.traffic.flows)
        if (0, 2) in zip(*(lambda p: (p, p[1:]))(scenario.routing.path(f.src, f.dst)))
    ]
    assert through and (result.flows.loc[through, "delay_s_delta"] > 0).all()
    assert result.summary["worst_by_delay_increase"][0]["flow"] in through
    assert result.summary["sla"]["violations_before"] == result.summary["sla"]["violations_after"] == 0
    links = pd.DataFrame(result.summary["most_loaded_links"])
    assert links["utilization_after"].iloc[0] == pytest.approx(result.links["utilization_after"].max())
    json.dumps(result.to_dict())
    assert plot_png(result, tmp_path / "w.png").stat().st_size > 0
    render_table(result)
    with pytest.raises(ScenarioError, match="perturbation: expected a Perturbation"):
        what_if(QueueingTheoryTwin(), scenario, "fail link 0-2")
    with pytest.raises(ScenarioError, match="delay_budget_s: expected a finite number > 0"):
        what_if(QueueingTheoryTwin(), scenario, ScaleTraffic(2.0), delay_budget_s=-1)


def test_intervals_calibrate_and_apply_to_perturbed_scenarios(scenario, tmp_path):
    twin = QueueingTheoryTwin()
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(60):
        pred = twin.predict(scenario)
        truth = pred * np.exp(rng.normal(0, 0.1, size=pred.shape))
        runs.append((scenario, pred, truth))
    intervals = calibrate(runs, provenance={"data": "synthetic"})
    lo, hi = intervals.quantiles["delay_s"][0]
    assert -0.2 < lo < -0.12 and 0.12 < hi < 0.2  # ±1.645 σ of the log-normal noise
    intervals.save(tmp_path)
    loaded = Intervals.load(tmp_path / "intervals.json")
    assert loaded == intervals
    perturbed = ScaleTraffic(3.0).apply(scenario)
    assert (path_utilization(perturbed) > 1.0).any()
    bounds = loaded.bounds(perturbed, twin.predict(perturbed))
    assert (bounds["delay_s_lo"] < bounds["delay_s_hi"]).all()
    far = all_pairs_scenario(
        Topology.from_edges(
            5, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 4, 1e5), (4, 0, 1e5)], prop_delay_s=0.01, port=SP3
        ),
        max_utilization=0.6,
        seed=1,
    )
    pred = twin.predict(far)
    hops = np.diff(far.hops.flow_offset)
    bounds = loaded.bounds(far, pred)
    queueing = pred["delay_s"] - 0.01 * hops  # the interval scales the delay beyond propagation only
    assert (bounds["delay_s_lo"] >= 0.01 * hops).all()
    assert ((bounds["delay_s_hi"] - bounds["delay_s_lo"]) < 0.5 * queueing).all()
    (tmp_path / "intervals.json").write_text('{"coverage": 0.9}')
    with pytest.raises(Exception, match="intervals.json: expected an intervals file"):
        Intervals.load(tmp_path / "intervals.json")


runner = CliRunner()


def test_cli_whatif_run_on_a_topology_file(tmp_path):
    gml = tmp_path / "net.gml"
    write_gml(ring_with_chord(), gml)
    png = tmp_path / "w.png"
    result = runner.invoke(
        app,
        [
            "whatif",
            "run",
            str(gml),
            "--model",
            "qt",
            "--scale",
            "1.2",
            "--fail-link",
            "0-2",
            "--capacity",
            "0-1=50000",
            "--weight",
            "1-2=3",
            "--budget-ms",
            "5",
            "--json",
            "--png",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["perturbation"].startswith("traffic ×1.2 + capacity 0–1")
    assert answer["summary"]["sla"]["delay_budget_s"] == 0.005 and png.stat().st_size > 0
    table = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", "--fail-node", "4", "--drop-disconnected"])
    assert table.exit_code == 0, table.output
    assert "8 gone: disconnected" in table.output and NO_INTERVALS in table.output
    bad = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", "--fail-link", "0-9"])
    assert bad.exit_code == 2 and "--fail-link: expected U-V with two nodes" in bad.output
    cut = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", "--fail-link", "3-4"])
    assert cut.exit_code == 2 and "--drop-disconnected" in cut.output


def test_what_if_with_intervals_brackets_the_predictions(scenario):
    twin = QueueingTheoryTwin()
    pred = twin.predict(scenario)
    rng = np.random.default_rng(1)
    intervals = calibrate([(scenario, pred, pred * np.exp(rng.normal(0, 0.2, size=pred.shape))) for _ in range(40)])
    result = what_if(
        twin, scenario, ScaleTraffic(1.5), intervals=intervals, delay_budget_s=float(pred["delay_s"].median())
    )
    flows = result.flows
    assert result.interval_note is None and result.coverage == 0.9
    for when in ("before", "after"):
        assert (flows[f"delay_s_{when}_lo"] <= flows[f"delay_s_{when}"]).all()
        assert (flows[f"delay_s_{when}"] <= flows[f"delay_s_{when}_hi"]).all()
    sla = result.summary["sla"]
    assert sla["certain_violations_after"] <= sla["violations_after"] <= sla["possible_violations_after"]
    assert sla["violations_after"] >= sla["violations_before"] > 0


def test_table_and_figure_show_the_loss_of_the_flows(scenario, tmp_path):
    from rich.console import Console

    result = what_if(QueueingTheoryTwin(), scenario, ScaleTraffic(3.0), top=3)  # busiest link at 180 %
    lossy = result.flows.nlargest(1, "loss_after").iloc[0]
    assert lossy["loss_after"] > 0.1 and lossy["loss_delta"] > 0.1
    console = Console(record=True, width=200)
    console.print(render_table(result))
    text = console.export_text()
    assert "loss before %" in text and "loss after %" in text and "Δ loss %" in text
    assert "Flows with the highest loss after" in text
    assert f"{lossy['src']}→{lossy['dst']}" in text and f"{lossy['loss_after'] * 100:.2f}" in text
    lossy_count = int((result.flows["loss_after"] >= 1e-3).sum())
    assert f"Loss: {lossy_count} flow(s) lose ≥ 0.1% after the change" in text
    quiet = what_if(QueueingTheoryTwin(), scenario, ScaleTraffic(0.5))
    console = Console(record=True, width=200)
    console.print(render_table(quiet))
    assert "Flows with the highest loss after" not in console.export_text()
    assert plot_png(result, tmp_path / "loss.png").stat().st_size > 0
    assert plot_png(quiet, tmp_path / "quiet.png").stat().st_size > 0


def test_cli_errors_speak_of_options_and_node_names(tmp_path):
    gml = tmp_path / "net.gml"
    write_gml(ring_with_chord(), gml)

    def error_of(*options: str) -> str:
        result = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", *options])
        assert result.exit_code == 2, result.output
        return " ".join(result.output.split())

    assert "--fail-link: expected a link of the topology, but no link joins 0 to 4, got '0-4'" in error_of(
        "--fail-link", "0-4"
    )
    cut = error_of("--fail-link", "3-4")
    assert cut.startswith("error: --fail-link 3-4: expected every flow to keep a route, but flow")
    assert "(--drop-disconnected drops them)" in cut and "FailLink" not in cut and "drop_disconnected" not in cut
    node = error_of("--fail-node", "4")
    assert node.startswith("error: --fail-node 4: expected every flow to keep a route")
    assert "--path 0,3,4,1: expected consecutive nodes joined by links (no link 4→1)" in error_of("--path", "0,3,4,1")
    assert "--capacity: expected a link of the topology" in error_of("--capacity", "1-3=5e4")
    assert "--scale: expected a finite number > 0, got -1.0" in error_of("--scale", "-1")


def test_cli_png_path_is_checked_before_any_work(tmp_path):
    gml = tmp_path / "net.gml"
    write_gml(ring_with_chord(), gml)
    (tmp_path / "blocker").write_text("a file, not a folder")
    png = tmp_path / "blocker" / "w.png"
    result = runner.invoke(
        app, ["whatif", "run", str(gml), "--model", "no-such-model", "--scale", "2", "--png", str(png)]
    )
    assert result.exit_code == 2  # the model is never loaded: the path is refused first
    assert "--png cannot be written" in " ".join(result.output.split())
    assert "blocker is a file, not a folder" in result.output.replace("\n", "")
    assert str(png) in result.output.replace("\n", "")
    folder = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", "--scale", "2", "--png", str(tmp_path)])
    assert folder.exit_code == 2 and "--png cannot be written: expected a file path, not a folder" in " ".join(
        folder.output.split()
    )
    nested = tmp_path / "new" / "folder" / "w.png"
    made = runner.invoke(app, ["whatif", "run", str(gml), "--model", "qt", "--scale", "2", "--png", str(nested)])
    assert made.exit_code == 0, made.output
    assert nested.stat().st_size > 0


def test_summary_rows_are_those_of_nlargest() -> None:
    from ndtwin.whatif.analysis import _largest

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 30))
        values = rng.choice([0.1, 0.2, np.nan, 0.5, np.inf], size=n) if trial % 2 else rng.normal(size=n)
        frame = pd.DataFrame({"x": values, "row": np.arange(n)})
        for top in (0, 1, 5, 40):
            assert _largest(values, top).tolist() == frame.nlargest(top, "x")["row"].tolist()
