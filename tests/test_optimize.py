import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.topology_io import write_gml
from ndtwin.errors import ScenarioError
from ndtwin.optimize import (
    Objective,
    Sla,
    WeightGenes,
    evolve,
    first_break,
    greedy,
    plan_capacity,
    score,
    single_link_failures,
)
from ndtwin.optimize.planning import upgraded
from ndtwin.scenario import Flow, Scenario, Topology, Traffic
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.qt import QueueingTheoryTwin

QT = QueueingTheoryTwin().predict


def bottleneck_scenario() -> Scenario:
    """0→1 directly over a thin link (hop-count shortest path), or around it over 0-2-1 and 0-3-1 at 10× capacity."""
    topology = Topology.from_edges(4, [(0, 1, 1e5), (0, 2, 1e6), (2, 1, 1e6), (0, 3, 1e6), (3, 1, 1e6)])
    traffic = Traffic((Flow(0, 1, 9.5e4), Flow(2, 3, 1e4), Flow(3, 2, 1e4)))
    return Scenario.with_shortest_paths(topology, traffic)


def test_objective_counts_loss_and_sla_violations():
    frame = pd.DataFrame({"delay_s": [0.01, 0.02, 0.03, 0.04], "loss": [0.0, 0.0, 0.0, 0.02]})
    # The last flow's 2 % loss triples its effective delay (weight 100).
    assert score(frame, "mean") == pytest.approx((0.01 + 0.02 + 0.03 + 0.12) / 4)
    assert score(frame, Objective.P95) == pytest.approx(np.percentile([0.01, 0.02, 0.03, 0.12], 95))
    sla = Sla(delay_budget_s=0.025, max_loss=0.01)
    assert list(sla.violated(frame)) == [False, False, True, True]
    assert 2 <= score(frame, "sla", sla) < 3
    lossless = frame.assign(loss=0.0)
    assert score(lossless, "mean") < score(frame, "mean")


def test_objective_errors_name_what_is_missing():
    with pytest.raises(ScenarioError, match="objective"):
        Objective.parse("median")
    with pytest.raises(ScenarioError, match="budget"):
        score(pd.DataFrame({"delay_s": [1.0], "loss": [0.0]}), "sla")
    with pytest.raises(ScenarioError, match="'loss'"):
        score(pd.DataFrame({"delay_s": [1.0]}), "mean")


def test_weights_change_the_routing():
    scenario = bottleneck_scenario()
    genes = WeightGenes.of(scenario.topology)
    assert len(genes) == 5 and all(len(g) == 2 for g in genes.links)
    assert len(WeightGenes.of(scenario.topology, symmetric=False)) == 10
    assert scenario.routing.path(0, 1) == (0, 1)
    weights = genes.of_topology(scenario.topology)
    weights[0] = 3  # the thin link 0-1 now costs more than a two-hop detour
    rerouted = genes.apply(scenario, weights)
    assert rerouted.routing.path(0, 1) in ((0, 2, 1), (0, 3, 1))
    assert rerouted.topology.link_id(1, 0) is not None
    assert rerouted.topology.links[rerouted.topology.link_id(1, 0)].weight == 3


def test_evolution_strategy_relieves_the_bottleneck_and_reports_consistently():
    scenario = bottleneck_scenario()
    result = evolve(scenario, QT, "mean", generations=5, parents=2, offspring=4, seed=3)
    assert result.improved and result.score < 0.5 * result.start_score
    assert result.scenario.routing.path(0, 1) != (0, 1)
    assert score(QT(result.scenario), "mean") == pytest.approx(result.score)
    assert result.history == sorted(result.history, reverse=True)
    assert 1 < result.evaluations <= 2 + 5 * 4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_strategy_never_returns_worse_than_its_start(seed):
    # Shortest paths on a lightly loaded ring: hard to beat, so most candidates are worse.
    scenario = all_pairs_scenario(
        Topology.from_edges(5, [(i, (i + 1) % 5, 1e5) for i in range(5)]), max_utilization=0.7, seed=seed
    )
    for objective in ("mean", "p95"):
        result = evolve(scenario, QT, objective, generations=3, parents=2, offspring=3, seed=seed)
        assert result.score <= result.start_score
        assert score(QT(result.scenario), objective) == pytest.approx(result.score)


def test_greedy_baseline_raises_the_busiest_link():
    result = greedy(bottleneck_scenario(), QT, "mean")
    assert result.improved and result.score < result.start_score
    assert result.weights[0] > 1  # gene 0 is the thin link 0-1
    assert result.scenario.routing.path(0, 1) != (0, 1)


def test_capacity_plan_finds_the_break_and_the_bottleneck_upgrade():
    bottleneck = bottleneck_scenario()
    scenario = Scenario(bottleneck.topology, bottleneck.routing, bottleneck.traffic.scaled(0.5))  # thin link at ρ≈0.5
    intact = QT(scenario)
    sla = Sla(delay_budget_s=2.5 * float(intact["delay_s"].iloc[0]))
    plan = plan_capacity(scenario, QT, sla, growth=1.1, max_steps=10)
    assert plan.baseline.step is not None and plan.baseline.step > 0
    assert plan.best.link == (0, 1)  # only the thin link's upgrade helps flow 0→1
    assert plan.best.breaks.step is None or plan.best.breaks.step > plan.baseline.step
    assert {u.breaks.step for u in plan.upgrades[1:]} == {plan.baseline.step}
    doubled = upgraded(scenario, (0, 1), 2.0).topology
    assert doubled.capacity_bps[doubled.link_id(1, 0)] == 2e5
    assert first_break(scenario, QT, Sla(delay_budget_s=100.0), max_steps=3).step is None


def test_failures_rank_disconnections_first():
    # A ring 0-1-2-3 with a leaf 4 hanging off node 0.
    edges = [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (0, 4, 1e5)]
    scenario = all_pairs_scenario(Topology.from_edges(5, edges), max_utilization=0.6, seed=0)
    intact, failures = single_link_failures(scenario, QT, Sla(delay_budget_s=1.0))
    assert intact.disconnected_pairs == 0 and intact.violations is not None
    assert len(failures) == 5
    assert failures[0].link == (0, 4)
    assert failures[0].disconnected_pairs == 8 and failures[0].dropped_flows == 8
    assert all(f.disconnected_pairs == 0 for f in failures[1:])
    assert all(f.mean_effective_delay_s >= intact.mean_effective_delay_s * 0.999 for f in failures[1:])


@pytest.fixture
def topology_file(tmp_path):
    path = tmp_path / "square.gml"
    write_gml(Topology.from_edges(4, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (0, 2, 1e5)]), path)
    return path


def invoke_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["optimize", *args, "--model", "qt", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_routing_capacity_and_failures(topology_file):
    routing = invoke_json("routing", str(topology_file), "--generations", "2", "--packets-per-flow", "50")
    assert routing["evaluations"]["evolution"] >= 1 and routing["flows"] == 12
    assert routing["predicted"]["evolution"] <= routing["predicted"]["start"]
    assert set(routing["simulated"]) == {"start", "evolution", "greedy"}
    capacity = invoke_json("capacity", str(topology_file), "--budget-ms", "0.01", "--no-simulate", "--max-steps", "3")
    assert capacity["baseline"]["break_step"] == 0 and len(capacity["upgrades"]) == 5
    failures = invoke_json("failures", str(topology_file), "--budget-ms", "10")
    assert len(failures["failures"]) == 5 and failures["intact"]["disconnected_pairs"] == 0


def test_cli_errors_name_the_option(topology_file):
    result = CliRunner().invoke(
        app, ["optimize", "routing", str(topology_file), "--model", "qt", "--objective", "sla", "--no-simulate"]
    )
    assert result.exit_code == 2 and "--budget-ms" in result.output
    result = CliRunner().invoke(app, ["optimize", "failures", str(topology_file.parent / "missing.gml")])
    assert result.exit_code == 2 and "missing.gml" in result.output


def test_gnn_answers_a_batch_as_it_answers_one_scenario_at_a_time():
    from ndtwin.optimize.objective import answer_all
    from ndtwin.twin.catalog import load_twin

    gnn = load_twin("default")
    topology = Topology.from_edges(5, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 4, 1e5), (4, 0, 1e5), (0, 2, 1e5)])
    scenarios = [all_pairs_scenario(topology, max_utilization=load, seed=1) for load in (0.4, 0.9)]
    scenarios[1] = WeightGenes.of(topology).apply(scenarios[1], np.array([1, 1, 1, 1, 1, 3]))
    for one, batched in zip([gnn.predict(s) for s in scenarios], answer_all(gnn.predict, scenarios)):
        np.testing.assert_allclose(batched.to_numpy(), one.to_numpy(), rtol=1e-4)
    assert answer_all(gnn.predict, []) == []  # a generation whose routings are all cached asks for nothing
