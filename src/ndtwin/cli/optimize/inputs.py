"""What the ``optimize`` commands share: their common options, the scenario, SLA and twin they work with, and how
results are printed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.table import Table

from ndtwin.cli.progress import console
from ndtwin.data.load import open_samples
from ndtwin.data.topology_io import TopologyWarning, read_topology
from ndtwin.errors import DatasetError, check_int, check_number
from ndtwin.generate.topologies import TOPOLOGY_SUFFIXES
from ndtwin.optimize import Sla
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.base import Twin
from ndtwin.twin.catalog import load_twin

SOURCE_HELP = (
    "A topology file (.graphml/.gml: all-pairs traffic as in `ndtwin demo`) or a dataset "
    "(native or datanetAPI: its --sample-th scenario)."
)
MODEL_HELP = "'qt', 'default', 'attention', 'testbed' or a model directory (GNN or tabular)."
CAPACITY_HELP = "Capacity (bit/s) of a topology file's links that give no speed."

# Parameters every optimize command takes (typer reads the option from the annotation; defaults stay per command).
Source = Annotated[Path, typer.Argument(help=SOURCE_HELP)]
Model = Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)]
BudgetMs = Annotated[float | None, typer.Option("--budget-ms", help="Per-flow mean-delay budget (ms) of the SLA.")]
MaxLoss = Annotated[float, typer.Option("--max-loss", help="Per-flow loss budget of the SLA.")]
PacketsPerFlow = Annotated[int, typer.Option("--packets-per-flow", help="Simulation length (slowest flow).")]
SampleIndex = Annotated[int, typer.Option("--sample", help="Which sample of a dataset.")]
Load = Annotated[float, typer.Option("--load", help="Busiest link's utilisation for a topology file's traffic.")]
CapacityBps = Annotated[float, typer.Option("--capacity-bps", help=CAPACITY_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


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


def sla_of(budget_ms: float | None, max_loss: float) -> Sla | None:
    """The SLA of ``--budget-ms`` and ``--max-loss`` (None without a budget)."""
    if budget_ms is None:
        return None
    return Sla(check_number("--budget-ms", budget_ms, minimum=0, strict=True) / 1e3, max_loss)


class Setup(NamedTuple):
    """What an optimize command works with: the scenario, the SLA (None without a budget) and the twin."""

    scenario: Scenario
    sla: Sla | None
    twin: Twin


def set_up(source: Path, model: str, budget_ms: float | None, max_loss: float, sample: int, load: float,
           capacity_bps: float) -> Setup:  # fmt: skip
    """The scenario of ``source`` (see ``load_scenario``), the SLA of ``--budget-ms``/``--max-loss`` and the twin of
    ``--model``, checked in that order."""
    scenario = load_scenario(source, sample=sample, load=load, capacity_bps=capacity_bps)
    return Setup(scenario, sla_of(budget_ms, max_loss), load_twin(model))


def print_result(as_json: bool, result: dict[str, Any], table: Table) -> None:
    """``result`` as one JSON line, or ``table``."""
    if as_json:
        print(json.dumps(result))
    else:
        console.print(table)


def figures_table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    """One row per named entry of ``rows``, one column per figure any of them has."""
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
