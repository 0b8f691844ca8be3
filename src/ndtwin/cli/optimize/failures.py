"""``ndtwin optimize failures``: every single link failure predicted by the twin, worst first."""

from __future__ import annotations

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.optimize import inputs
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.optimize import single_link_failures
from ndtwin.optimize.report import failure_records


def failures_command(
    source: inputs.Source,
    model: inputs.Model = "default",
    budget_ms: inputs.BudgetMs = None,
    max_loss: inputs.MaxLoss = 0.01,
    sample: inputs.SampleIndex = 0,
    load: inputs.Load = 0.5,
    capacity_bps: inputs.CapacityBps = 10e9,
    top: int = typer.Option(10, "--top", help="Failures shown in the table."),
    as_json: inputs.AsJson = False,
) -> None:
    """Every single link failure predicted by the twin, worst first (disconnected pairs, violations, delay)."""
    try:
        scenario, sla, twin = inputs.set_up(source, model, budget_ms, max_loss, sample, load, capacity_bps)
        intact, failures = single_link_failures(scenario, twin.predict, sla)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    result = {"model": twin.name, **failure_records(scenario, intact, failures)}
    rows = {"intact": result["intact"]} | {f"fail {f['link']}": f for f in result["failures"][:top]}
    inputs.print_result(as_json, result, inputs.figures_table(f"{twin.name}: single link failures, worst first", rows))
