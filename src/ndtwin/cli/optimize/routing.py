"""``ndtwin optimize routing``: link weights searched with the twin as oracle, confirmed by simulation."""

from __future__ import annotations

import time

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.optimize import inputs
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.optimize import Objective, evolve, greedy, simulation_oracle, summary
from ndtwin.optimize.report import routing_records


def routing_command(
    source: inputs.Source,
    model: inputs.Model = "default",
    objective: str = typer.Option("mean", "--objective", help="mean | p95 (of per-flow effective delay) | sla."),
    budget_ms: inputs.BudgetMs = None,
    max_loss: inputs.MaxLoss = 0.01,
    generations: int = typer.Option(30, "--generations", help="Generations of the evolution strategy."),
    parents: int = typer.Option(4, "--parents", help="μ: configurations kept per generation."),
    offspring: int = typer.Option(12, "--offspring", help="λ: new configurations per generation."),
    per_direction: bool = typer.Option(
        False, "--per-direction", help="One weight per directed link (default: per link)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the evolution strategy."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Re-simulate the start and the result."),
    packets_per_flow: inputs.PacketsPerFlow = 1000,
    sample: inputs.SampleIndex = 0,
    load: inputs.Load = 0.9,
    capacity_bps: inputs.CapacityBps = 10e9,
    as_json: inputs.AsJson = False,
) -> None:
    """Search OSPF-like link weights that minimise the objective predicted by the twin (evolution strategy, with
    a greedy baseline), then confirm with the simulator."""
    try:
        goal = Objective.parse(objective)
        scenario, sla, twin = inputs.set_up(source, model, budget_ms, max_loss, sample, load, capacity_bps)
        start = time.perf_counter()
        searched = evolve(
            scenario,
            twin.predict,
            goal,
            sla=sla,
            generations=generations,
            parents=parents,
            offspring=offspring,
            symmetric=not per_direction,
            seed=seed,
        )
        es_s = time.perf_counter() - start
        baseline = greedy(scenario, twin.predict, goal, sla=sla, symmetric=not per_direction)
        oracle = simulation_oracle(packets_per_flow, seed) if simulate else None
        result = {
            "model": twin.name,
            "flows": scenario.n_flows,
            "evolution_seconds": round(es_s, 3),
            **routing_records(scenario, goal.value, searched, baseline),
            "simulated": {
                name: summary(oracle(s), sla)
                for name, s in (("start", scenario), ("evolution", searched.scenario), ("greedy", baseline.scenario))
            }
            if oracle
            else None,
        }
    except (DatasetError, ScenarioError) as error:
        fail(error)
    rows = {
        name: {"predicted objective": result["predicted"][name]} | (result["simulated"] or {}).get(name, {})
        for name in ("start", "evolution", "greedy")
    }
    inputs.print_result(
        as_json,
        result,
        inputs.figures_table(
            f"{twin.name}, objective {goal.value}: {searched.evaluations} evaluations in {es_s:.1f} s", rows
        ),
    )
