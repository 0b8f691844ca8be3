"""``ndtwin predict``: per-flow predictions of a model for every sample of a dataset (labels are ignored)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from ndtwin.cli.common import fail, report_problems
from ndtwin.cli.progress import console, progress_bar
from ndtwin.data.datanet import ReadReport
from ndtwin.data.load import open_samples
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Scenario
from ndtwin.twin.base import flow_table
from ndtwin.twin.catalog import load_twin

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 20  # flows shown per sample in the table format


def flow_frame(sample_id: str, scenario: Scenario, prediction: pd.DataFrame) -> pd.DataFrame:
    """The prediction with the sample and the identity of every flow in front."""
    frame = flow_table(scenario, prediction)
    frame.insert(0, "sample_id", sample_id)
    return frame


def _table(frame: pd.DataFrame, model: str) -> Table:
    sample_id = frame["sample_id"].iloc[0] if len(frame) else ""
    table = Table(title=f"{model} on sample {sample_id}: {len(frame)} flows")
    for column in frame.columns[1:]:
        table.add_column(column, justify="right")
    for row in frame.head(TABLE_ROWS).itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row[1:]))
    if len(frame) > TABLE_ROWS:
        table.caption = f"… {len(frame) - TABLE_ROWS} more flows (all of them with --format csv or json)"
    return table


def predict_command(
    data: Path = typer.Argument(..., help="Scenarios: a native dataset or a datanetAPI tree (labels are ignored)."),
    model: str = typer.Option(
        ..., "--model", "-m", help="'qt', 'default', 'attention', 'testbed' or a model directory."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="Output format: table, csv or json."),
) -> None:
    """Per-flow delay (s), jitter (delay variance, s²) and loss predicted for every sample."""
    if fmt not in FORMATS:
        fail(ScenarioError("--format", f"one of {list(FORMATS)}", fmt))
    report = ReadReport()
    frames = []
    try:
        twin = load_twin(model)
        with warnings.catch_warnings(), progress_bar(f"predicting {data} with {model}") as advance:
            warnings.simplefilter("ignore")
            for sample in open_samples(data, report):
                frames.append(flow_frame(sample.sample_id, sample.scenario, twin.predict(sample.scenario)))
                advance(sample.sample_id)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    if fmt == "csv":
        for i, frame in enumerate(frames):
            frame.to_csv(sys.stdout, index=False, header=i == 0)
    elif fmt == "json":
        samples = [
            {"sample_id": f["sample_id"].iloc[0], "flows": f.drop(columns="sample_id").to_dict("records")}
            for f in frames
            if len(f)
        ]
        print(json.dumps({"model": twin.name, "samples": samples}))
    else:
        for frame in frames:
            console.print(_table(frame, twin.name))
    report_problems(report)
    if not frames:
        raise typer.Exit(code=1)
