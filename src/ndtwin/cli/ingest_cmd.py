"""``ndtwin ingest``: bring a collector's telemetry into the DuckDB telemetry store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.cli.whatif.inputs import load_scenario
from ndtwin.errors import DatasetError, ScenarioError

ingest_app = typer.Typer(no_args_is_help=True, help="Ingest telemetry into the telemetry store.")


@ingest_app.command("prometheus")
def prometheus_command(
    url: str = typer.Option(..., "--url", help="The Prometheus server, e.g. http://127.0.0.1:9090."),
    scenario_source: Path = typer.Option(
        ..., "--scenario", help="The scenario the series describe: a topology file (with --load/--seed) or dataset."
    ),
    store_path: Path = typer.Option(..., "--store", help="The DuckDB telemetry store (created if missing)."),
    start: float | None = typer.Option(None, "--start", help="Unix time (s) after which to read; default: 1 h ago."),
    end: float | None = typer.Option(None, "--end", help="Unix time (s) up to which to read; default: now."),
    load: float = typer.Option(0.7, "--load", help="Topology file: the load the emulation ran."),
    seed: int = typer.Option(0, "--seed", help="Topology file: the seed the emulation ran."),
    sample: str | None = typer.Option(None, "--sample", help="Dataset: the sample id (default: the first)."),
    follow: float | None = typer.Option(
        None, "--follow", help="Keep ingesting every second for this many seconds (resuming where the store ends)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Read every ndtwin series of a Prometheus server in (start, end] as raw samples, map them onto the scenario's
    links, queues and flows in SI units, and store them; points already stored are skipped."""
    from ndtwin.ops.ingest import follow_prometheus, ingest_prometheus
    from ndtwin.ops.store import TelemetryStore

    end_s = time.time() if end is None else end
    start_s = end_s - 3600 if start is None else start
    try:
        scenario = load_scenario(scenario_source, sample, load, seed)
        with TelemetryStore(store_path) as store:
            if follow is None:
                result = ingest_prometheus(url, scenario, store, start_s, end_s)
            else:
                result = follow_prometheus(url, scenario, store, since_s=start_s, until_s=time.time() + follow)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    if as_json:
        print(json.dumps(result))
    else:
        console.print(f"read {result['read']} points from {url}, {result['inserted']} new, into {store_path}")
