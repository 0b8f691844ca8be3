"""The ``ndtwin`` command line."""

from __future__ import annotations

import json
import time
import warnings
from collections import defaultdict
from pathlib import Path

import typer
from rich.table import Table

import ndtwin
from ndtwin.cli.atlas_cmd import atlas_app
from ndtwin.cli.common import check_output_path, error_table, fail, load_table, report_problems, sample_group
from ndtwin.cli.emulate_cmd import emulate_command
from ndtwin.cli.generate_cmd import generate_command
from ndtwin.cli.help_format import use_plain_metavars
from ndtwin.cli.ingest_cmd import ingest_app
from ndtwin.cli.kg_cmd import kg_app
from ndtwin.cli.operate_cmd import operate_command
from ndtwin.cli.optimize import optimize_app
from ndtwin.cli.predict_cmd import predict_command
from ndtwin.cli.progress import console, fit_console_width, progress_bar
from ndtwin.cli.registry_cmd import registry_app
from ndtwin.cli.serve_cmd import serve_app
from ndtwin.cli.simulate_cmd import simulate_command
from ndtwin.cli.train_cmd import train_command
from ndtwin.cli.whatif import whatif_app
from ndtwin.data.datanet import ReadReport
from ndtwin.data.load import open_samples
from ndtwin.data.native import DatasetWriter
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.twin.catalog import load_twin
from ndtwin.twin.evaluate import evaluate_many

use_plain_metavars()
app = typer.Typer(add_completion=False, no_args_is_help=True, help="ndtwin: a network digital twin.")


def _print_version(value: bool) -> None:
    if value:
        print(f"ndtwin {ndtwin.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """ndtwin: a network digital twin."""
    fit_console_width()


app.command("simulate")(simulate_command)
app.command("generate")(generate_command)
app.command("emulate")(emulate_command)
app.command("train")(train_command)
app.command("predict")(predict_command)
app.command("operate")(operate_command)
app.add_typer(registry_app, name="registry")
app.add_typer(whatif_app, name="whatif")
app.add_typer(optimize_app, name="optimize")
app.add_typer(ingest_app, name="ingest")
app.add_typer(serve_app, name="serve")
app.add_typer(atlas_app, name="atlas")
app.add_typer(kg_app, name="kg")


@app.command()
def info(
    data: Path = typer.Argument(..., help="A native dataset or a datanetAPI directory tree."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Count the samples, nodes, links and flows of a dataset (exit status 1 when some could not be read)."""
    report = ReadReport()
    groups: dict[str, dict] = defaultdict(lambda: {"samples": 0, "flows": 0, "links": 0, "nodes": set()})
    try:
        with warnings.catch_warnings(), progress_bar(f"reading {data}") as advance:
            warnings.simplefilter("ignore")
            for sample in open_samples(data, report):
                group = groups[sample_group(sample)]
                group["samples"] += 1
                group["flows"] += sample.scenario.n_flows
                group["links"] += sample.scenario.topology.n_links
                group["nodes"].add(sample.scenario.topology.n_nodes)
                advance(sample_group(sample))
    except DatasetError as error:
        fail(error)
    rows = {name: {**g, "nodes": sorted(g["nodes"])} for name, g in sorted(groups.items())}
    totals = {
        "n_samples": sum(g["samples"] for g in rows.values()),
        "n_flows": sum(g["flows"] for g in rows.values()),
        "skipped_unstable": report.skipped_unstable,
        "errors": [str(e) for e in report.errors],
        "groups": rows,
    }
    if as_json:
        print(json.dumps(totals))
    else:
        console.print(_info_table(data, rows, totals))
        report_problems(report)
    if report.errors:
        raise typer.Exit(code=1)


def _info_table(data: Path, rows: dict[str, dict], totals: dict) -> Table:
    table = Table(title=f"{data}")
    for column in ("group", "samples", "nodes", "links", "flows"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for name, g in rows.items():
        nodes = "–".join(str(n) for n in (g["nodes"][0], g["nodes"][-1])) if len(g["nodes"]) > 1 else str(g["nodes"][0])
        table.add_row(name or ".", str(g["samples"]), nodes, str(g["links"]), str(g["flows"]))
    table.add_row("[bold]total[/bold]", str(totals["n_samples"]), "", "", str(totals["n_flows"]))
    return table


@app.command()
def convert(
    src: Path = typer.Argument(..., help="A datanetAPI tree or a native dataset."),
    dst: Path = typer.Argument(..., help="Folder of the native dataset to write (created, or appended to)."),
) -> None:
    """Convert a dataset to ndtwin's native Parquet format."""
    report = ReadReport()
    written = 0
    try:
        check_output_path(dst, "DST")
        with (
            progress_bar(f"converting {src}") as advance,
            DatasetWriter(dst, provenance={"converted_from": str(src)}) as writer,
        ):
            for sample in open_samples(src, report):
                writer.write(sample)
                written += 1
                advance(sample_group(sample))
    except (DatasetError, ScenarioError) as error:
        fail(error)
    console.print(f"wrote {written} samples to {dst}")
    report_problems(report)


@app.command("eval")
def eval_command(
    data: Path = typer.Argument(..., help="Labelled samples: a native dataset or a datanetAPI tree."),
    models: list[str] = typer.Option(
        ["qt"],
        "--model",
        "-m",
        help="'qt' (queueing theory), 'default', 'attention', 'testbed' or a model directory; repeat to compare side by side.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Per-flow errors of models' delay, jitter (delay variance) and loss predictions."""
    report = ReadReport()
    start = time.perf_counter()
    try:
        twins = [load_twin(model) for model in models]
        with warnings.catch_warnings(), progress_bar(f"evaluating {', '.join(models)} on {data}") as advance:
            warnings.simplefilter("ignore")
            results = evaluate_many(
                twins,
                open_samples(data, report),
                group_of=sample_group,
                on_sample=lambda s: advance(sample_group(s)),
            )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    for result in results:
        result["seconds"] = round(time.perf_counter() - start, 2)
        result["skipped_unstable"] = report.skipped_unstable
        result["errors"] = [str(e) for e in report.errors]
    if as_json:
        print(json.dumps(results[0] if len(results) == 1 else {"models": results}))
    else:
        for model, result in zip(models, results):
            console.print(error_table(result, title=f"{model} on {data}"))
            console.print(load_table(result, title=f"{model} on {data}"))
        report_problems(report)
    if results[0]["n_samples"] == 0:
        raise typer.Exit(code=1)


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), help="Folder for the demo's plot.")) -> None:
    """Predict the per-flow QoS of a real topology and plot it."""
    from ndtwin.cli.demo import run_demo

    try:
        check_output_path(out, "--out")
    except DatasetError as error:
        fail(error)
    run_demo(out)
