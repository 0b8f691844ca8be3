"""``ndtwin whatif run``: a twin's per-flow answer to one change, before and after, with intervals."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ndtwin.cli.common import check_output_path, fail
from ndtwin.cli.progress import console
from ndtwin.cli.whatif.inputs import checked_perturbation, load_scenario
from ndtwin.errors import DatasetError, ScenarioError, check_number
from ndtwin.generate.topologies import TOPOLOGY_SUFFIXES
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.inputs import dataset_sample


def run_command(
    source: Path = typer.Argument(..., help="A native dataset, a datanetAPI tree, or a GraphML/GML topology file."),
    model: str = typer.Option(
        "default", "--model", "-m", help="'qt', 'default', 'attention', 'testbed' or a model directory."
    ),
    sample: str | None = typer.Option(None, "--sample", help="Sample id in a dataset (default: the first)."),
    load: float = typer.Option(
        0.7, "--load", help="Topology file: busiest link's utilisation of the all-pairs traffic."
    ),
    seed: int = typer.Option(0, "--seed", help="Topology file: seed of the all-pairs traffic."),
    scale: float | None = typer.Option(None, "--scale", help="Multiply every flow's rate."),
    fail_links: list[str] = typer.Option([], "--fail-link", help="Fail link U-V (both directions); repeatable."),
    fail_nodes: list[str] = typer.Option([], "--fail-node", help="Fail a node; repeatable."),
    capacities: list[str] = typer.Option([], "--capacity", help="U-V=BPS: set a link's capacity; repeatable."),
    weights: list[str] = typer.Option([], "--weight", help="U-V=W: set a link's routing weight; repeatable."),
    paths: list[str] = typer.Option([], "--path", help="A,B,C: explicit path of the A→C flows; repeatable."),
    drop_disconnected: bool = typer.Option(False, "--drop-disconnected", help="Drop flows a failure disconnects."),
    budget_ms: float | None = typer.Option(None, "--budget-ms", help="Delay budget for SLA violation counts."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    png: Path | None = typer.Option(None, "--png", help="Also write a figure to this PNG file."),
    top: int = typer.Option(5, "--top", help="Flows and links listed in the summary."),
    anchored: bool = typer.Option(
        False,
        "--anchored",
        help="Dataset sample: take its per-flow labels as the measured baseline and anchor the predictions after "
        "the change on them (needs a model with intervals_anchored.json).",
    ),
) -> None:
    """Predict per-flow delay, jitter and loss before and after a change, with 90 % intervals when the model has
    calibrated ones; with --anchored, start from the sample's measured values instead of predicting them."""
    from ndtwin.whatif.analysis import what_if
    from ndtwin.whatif.report import plot_png, render_table, to_json

    try:
        if png is not None:
            check_output_path(png, "--png", file=True)
        if anchored and source.suffix.lower() in TOPOLOGY_SUFFIXES:
            raise ScenarioError(
                "--anchored",
                "a dataset whose sample carries measured per-flow delay, jitter and loss (not a topology file)",
                str(source),
            )
        measured_sample = dataset_sample(source, sample) if anchored else None
        scenario = measured_sample.scenario if measured_sample else load_scenario(source, sample, load, seed)
        perturbation, outcome = checked_perturbation(
            scenario,
            scale=scale,
            fail_links=fail_links,
            fail_nodes=fail_nodes,
            capacities=capacities,
            weights=weights,
            paths=paths,
            drop_disconnected=drop_disconnected,
        )
        budget = None if budget_ms is None else check_number("--budget-ms", budget_ms, minimum=0, strict=True) / 1e3
        result = what_if(
            load_twin(model),
            scenario,
            perturbation,
            delay_budget_s=budget,
            top=top,
            measured=measured_sample.flow_labels if measured_sample else None,
            outcome=outcome,
        )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    if png is not None:
        plot_png(result, png)
    if as_json:
        sys.stdout.write(to_json(result) + "\n")
        return
    console.print(render_table(result))
    if png is not None:
        console.print(f"plot: {png}")
