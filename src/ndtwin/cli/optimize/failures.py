"""``ndtwin optimize failures``: every single link failure predicted by the twin, worst first."""

from __future__ import annotations

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.optimize.inputs import (
    AsJson,
    BudgetMs,
    CapacityBps,
    Load,
    MaxLoss,
    Model,
    SampleIndex,
    Source,
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
    source: Source,
    model: Model = "default",
    budget_ms: BudgetMs = None,
    max_loss: MaxLoss = 0.01,
    sample: SampleIndex = 0,
    load: Load = 0.5,
    capacity_bps: CapacityBps = 10e9,
    top: int = typer.Option(10, "--top", help="Failures shown in the table."),
    as_json: AsJson = False,
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
