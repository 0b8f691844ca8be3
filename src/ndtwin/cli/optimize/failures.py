"""``ndtwin optimize failures``: every single link failure predicted by the twin, worst first."""

from __future__ import annotations

from pathlib import Path

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.optimize.inputs import (
    CAPACITY_HELP,
    MODEL_HELP,
    SOURCE_HELP,
    figures_table,
    load_scenario,
    print_result,
    sla_of,
)
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.optimize import single_link_failures
from ndtwin.optimize.report import failure_records
from ndtwin.twin.catalog import load_twin


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
        sla = sla_of(budget_ms, max_loss)
        twin = load_twin(model)
        intact, failures = single_link_failures(scenario, twin.predict, sla)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    result = {"model": twin.name, **failure_records(scenario, intact, failures)}
    rows = {"intact": result["intact"]} | {f"fail {f['link']}": f for f in result["failures"][:top]}
    print_result(as_json, result, figures_table(f"{twin.name}: single link failures, worst first", rows))
