"""``ndtwin optimize``: routing optimization, capacity planning and failure analysis with the twin."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.data.load import open_samples
from ndtwin.data.topology_io import TopologyWarning, read_topology
from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.optimize import (
    Objective,
    Sla,
    confirm_plan,
    evolve,
    greedy,
    plan_capacity,
    simulation_oracle,
    single_link_failures,
    summary,
)
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import load_twin

optimize_app = typer.Typer(no_args_is_help=True, help="Optimization with the twin as oracle.")

TOPOLOGY_SUFFIXES = (".graphml", ".gml")

SOURCE_HELP = (
    "A topology file (.graphml/.gml: all-pairs traffic as in `ndtwin demo`) or a dataset "
    "(native or datanetAPI: its --sample-th scenario)."
)
MODEL_HELP = "'qt', 'default', 'attention', 'testbed' or a model directory (GNN or tabular)."
CAPACITY_HELP = "Capacity (bit/s) of a topology file's links that give no speed."


def load_scenario(source: Path, *, sample: int = 0, load: float = 0.9, capacity_bps: float = 10e9,
                  seed: int = 1) -> Scenario:  # fmt: skip
    """The scenario to work on: from a topology file, one flow per ordered pair with random rates scaled so the
    busiest link is at ``load`` (links without a speed get ``capacity_bps``; ports as in the demo), or the
    ``sample``-th scenario of a dataset."""
    if source.suffix.lower() in TOPOLOGY_SUFFIXES:
        from ndtwin.cli.demo import DEMO_PORT

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TopologyWarning)
            topology = read_topology(source, default_capacity_bps=capacity_bps, port=DEMO_PORT)
        return all_pairs_scenario(topology, max_utilization=load, seed=seed)
    check_int("--sample", sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, found in enumerate(open_samples(source)):
            if i == sample:
                return found.scenario
    raise DatasetError(source, f"expected at least {sample + 1} sample(s)")


def _sla(budget_ms: float | None, max_loss: float) -> Sla | None:
    if budget_ms is None:
        return None
    return Sla(check_number("--budget-ms", budget_ms, minimum=0, strict=True) / 1e3, max_loss)


def _print(as_json: bool, result: dict[str, Any], table: Table) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        console.print(table)


def _figures_table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(key for row in rows.values() for key in row if key != "link"))
    table = Table(title=title)
    table.add_column("")
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in rows.items():
        table.add_row(
            name, *(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, "–")) for c in columns)
        )
    return table


@optimize_app.command("routing")
def routing_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    model: str = typer.Option("default", "--model", "-m", help=MODEL_HELP),
    objective: str = typer.Option("mean", "--objective", help="mean | p95 (of per-flow effective delay) | sla."),
    budget_ms: float | None = typer.Option(None, "--budget-ms", help="Per-flow mean-delay budget (ms) of the SLA."),
    max_loss: float = typer.Option(0.01, "--max-loss", help="Per-flow loss budget of the SLA."),
    generations: int = typer.Option(30, "--generations", help="Generations of the evolution strategy."),
    parents: int = typer.Option(4, "--parents", help="μ: configurations kept per generation."),
    offspring: int = typer.Option(12, "--offspring", help="λ: new configurations per generation."),
    per_direction: bool = typer.Option(
        False, "--per-direction", help="One weight per directed link (default: per link)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the evolution strategy."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Re-simulate the start and the result."),
    packets_per_flow: int = typer.Option(1000, "--packets-per-flow", help="Simulation length (slowest flow)."),
    sample: int = typer.Option(0, "--sample", help="Which sample of a dataset."),
    load: float = typer.Option(0.9, "--load", help="Busiest link's utilisation for a topology file's traffic."),
    capacity_bps: float = typer.Option(10e9, "--capacity-bps", help=CAPACITY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Search OSPF-like link weights that minimise the objective predicted by the twin (evolution strategy, with
    a greedy baseline), then confirm with the simulator."""
    try:
        scenario = load_scenario(source, sample=sample, load=load, capacity_bps=capacity_bps)
        goal = Objective.parse(objective)
        sla = _sla(budget_ms, max_loss)
        twin = load_twin(model)
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
            "objective": goal.value,
            "flows": scenario.n_flows,
            "predicted": {"start": searched.start_score, "evolution": searched.score, "greedy": baseline.score},
            "evaluations": {"evolution": searched.evaluations, "greedy": baseline.evaluations},
            "evolution_seconds": round(es_s, 3),
            "weights": _changed_weights(scenario, searched),
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
    _print(
        as_json,
        result,
        _figures_table(
            f"{twin.name}, objective {goal.value}: {searched.evaluations} evaluations in {es_s:.1f} s", rows
        ),
    )


def _changed_weights(scenario: Scenario, searched: Any) -> list[dict[str, Any]]:
    """The links whose weight the search changed, with old and new weights."""
    if searched.weights is None:
        return []
    names = scenario.topology.node_names
    changed = []
    for gene, weight in zip(searched.genes.links, searched.weights):
        link = scenario.topology.links[gene[0]]
        if weight != link.weight:
            changed.append(
                {
                    "src": names[link.src],
                    "dst": names[link.dst],
                    "both_directions": len(gene) > 1,
                    "from": link.weight,
                    "to": int(weight),
                }
            )
    return changed


@optimize_app.command("capacity")
def capacity_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    budget_ms: float = typer.Option(..., "--budget-ms", help="Per-flow mean-delay budget (ms) of the SLA."),
    max_loss: float = typer.Option(0.01, "--max-loss", help="Per-flow loss budget of the SLA."),
    model: str = typer.Option("default", "--model", "-m", help=MODEL_HELP),
    growth: float = typer.Option(1.1, "--growth", help="Traffic multiplier per step."),
    max_steps: int = typer.Option(30, "--max-steps", help="Steps of growth to try."),
    upgrade_factor: float = typer.Option(2.0, "--upgrade-factor", help="Capacity multiplier of an upgraded link."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Confirm at the break point by simulation."),
    packets_per_flow: int = typer.Option(1000, "--packets-per-flow", help="Simulation length (slowest flow)."),
    sample: int = typer.Option(0, "--sample", help="Which sample of a dataset."),
    load: float = typer.Option(0.5, "--load", help="Busiest link's utilisation for a topology file's traffic."),
    capacity_bps: float = typer.Option(10e9, "--capacity-bps", help=CAPACITY_HELP),
    top: int = typer.Option(5, "--top", help="Upgrades shown in the table."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """First traffic-growth step at which the SLA breaks, and the single link upgrade that postpones it most."""
    try:
        scenario = load_scenario(source, sample=sample, load=load, capacity_bps=capacity_bps)
        sla = _sla(budget_ms, max_loss)
        twin = load_twin(model)
        plan = plan_capacity(
            scenario, twin.predict, sla, growth=growth, max_steps=max_steps, upgrade_factor=upgrade_factor
        )
        confirmed = confirm_plan(scenario, plan, simulation_oracle(packets_per_flow), sla) if simulate else None
    except (DatasetError, ScenarioError) as error:
        fail(error)
    names = scenario.topology.node_names

    def entry(link: tuple[int, int] | None, breaks: Any) -> dict[str, Any]:
        return {
            "link": None if link is None else f"{names[link[0]]}–{names[link[1]]}",
            "break_step": breaks.step,
            "load_factor": None if breaks.step is None else round(plan.load_factor(breaks.step), 4),
            "violations": breaks.violations,
        }

    result = {
        "model": twin.name,
        "growth": growth,
        "upgrade_factor": upgrade_factor,
        "baseline": entry(None, plan.baseline),
        "upgrades": [entry(u.link, u.breaks) for u in plan.upgrades],
        "simulated": confirmed,
    }
    rows = {"as is": result["baseline"]} | {f"×{upgrade_factor:g} {u['link']}": u for u in result["upgrades"][:top]}
    title = f"{twin.name}: SLA {budget_ms:g} ms / {max_loss:g} loss, traffic ×{growth:g} per step"
    if confirmed:
        title += (
            f"; simulated at step {confirmed['step']}: {confirmed['violations_as_is']} violations as is, "
            f"{confirmed['violations_upgraded']} with the best upgrade"
        )
    _print(as_json, result, _figures_table(title, rows))


@optimize_app.command("failures")
def failures_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    model: str = typer.Option("default", "--model", "-m", help=MODEL_HELP),
    budget_ms: float | None = typer.Option(None, "--budget-ms", help="Per-flow mean-delay budget (ms) of the SLA."),
    max_loss: float = typer.Option(0.01, "--max-loss", help="Per-flow loss budget of the SLA."),
    sample: int = typer.Option(0, "--sample", help="Which sample of a dataset."),
    load: float = typer.Option(0.5, "--load", help="Busiest link's utilisation for a topology file's traffic."),
    capacity_bps: float = typer.Option(10e9, "--capacity-bps", help=CAPACITY_HELP),
    top: int = typer.Option(10, "--top", help="Failures shown in the table."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Every single link failure predicted by the twin, worst first (disconnected pairs, violations, delay)."""
    try:
        scenario = load_scenario(source, sample=sample, load=load, capacity_bps=capacity_bps)
        sla = _sla(budget_ms, max_loss)
        twin = load_twin(model)
        intact, failures = single_link_failures(scenario, twin.predict, sla)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    names = scenario.topology.node_names

    def entry(f: Any) -> dict[str, Any]:
        return {
            "disconnected_pairs": f.disconnected_pairs,
            "dropped_flows": f.dropped_flows,
            "mean_delay_ms": f.mean_delay_s * 1e3,
            "mean_effective_delay_ms": f.mean_effective_delay_s * 1e3,
            "violations": f.violations,
        }

    result = {
        "model": twin.name,
        "intact": entry(intact),
        "failures": [{"link": f"{names[f.link[0]]}–{names[f.link[1]]}"} | entry(f) for f in failures],
    }
    rows = {"intact": result["intact"]} | {f"fail {f['link']}": f for f in result["failures"][:top]}
    _print(as_json, result, _figures_table(f"{twin.name}: single link failures, worst first", rows))
