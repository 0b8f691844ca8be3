"""``ndtwin optimize capacity``: when traffic growth breaks the SLA, and the link upgrade that postpones it most."""

from __future__ import annotations

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.optimize import inputs
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.optimize import confirm_plan, plan_capacity, simulation_oracle
from ndtwin.optimize.report import capacity_records


def capacity_command(
    source: inputs.Source,
    budget_ms: inputs.BudgetMs,
    max_loss: inputs.MaxLoss = 0.01,
    model: inputs.Model = "default",
    growth: float = typer.Option(1.1, "--growth", help="Traffic multiplier per step."),
    max_steps: int = typer.Option(30, "--max-steps", help="Steps of growth to try."),
    upgrade_factor: float = typer.Option(2.0, "--upgrade-factor", help="Capacity multiplier of an upgraded link."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Confirm at the break point by simulation."),
    packets_per_flow: inputs.PacketsPerFlow = 1000,
    sample: inputs.SampleIndex = 0,
    load: inputs.Load = 0.5,
    capacity_bps: inputs.CapacityBps = 10e9,
    top: int = typer.Option(5, "--top", help="Upgrades shown in the table."),
    as_json: inputs.AsJson = False,
) -> None:
    """First traffic-growth step at which the SLA breaks, and the single link upgrade that postpones it most."""
    try:
        scenario, sla, twin = inputs.set_up(source, model, budget_ms, max_loss, sample, load, capacity_bps)
        plan = plan_capacity(
            scenario, twin.predict, sla, growth=growth, max_steps=max_steps, upgrade_factor=upgrade_factor
        )
        confirmed = confirm_plan(scenario, plan, simulation_oracle(packets_per_flow), sla) if simulate else None
    except (DatasetError, ScenarioError) as error:
        fail(error)
    result = {"model": twin.name, **capacity_records(scenario, plan), "simulated": confirmed}
    rows = {"as is": result["baseline"]} | {f"×{upgrade_factor:g} {u['link']}": u for u in result["upgrades"][:top]}
    title = f"{twin.name}: SLA {budget_ms:g} ms / {max_loss:g} loss, traffic ×{growth:g} per step"
    if confirmed:
        title += (
            f"; simulated at step {confirmed['step']}: {confirmed['violations_as_is']} violations as is, "
            f"{confirmed['violations_upgraded']} with the best upgrade"
        )
    inputs.print_result(as_json, result, inputs.figures_table(title, rows))
