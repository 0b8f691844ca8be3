"""``ndtwin emulate``: run a scenario on an emulated network, store it, and score the simulator and twins on it."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.table import Table

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.cli.whatif.inputs import load_scenario
from ndtwin.data.metrics import median_ape
from ndtwin.data.native import DatasetWriter
from ndtwin.data.sample import Sample
from ndtwin.emulate import DEFAULT_CAPACITY_BPS, EmulationSettings, HostError, emulate, prepare
from ndtwin.emulate.host import check_host
from ndtwin.errors import DatasetError, ScenarioError, check_number
from ndtwin.sim import simulate
from ndtwin.twin.catalog import load_twin
from ndtwin.twin.evaluate import evaluate_predictions

if TYPE_CHECKING:
    from ndtwin.ops.prometheus_server import PrometheusServer
    from ndtwin.scenario import Scenario

SIM_PACKETS_PER_FLOW = 2000


def scores(truth: Sample, predicted: pd.DataFrame, name: str) -> dict:
    """Per-flow errors of ``predicted`` against ``truth``: the evaluation report plus the median APE of delay."""
    report = evaluate_predictions([(truth, predicted)], model=name)
    if "delay" in report:
        report["delay"]["median_ape"] = median_ape(truth.flow_labels["delay_s"], predicted["delay_s"])
    return report


def emulate_command(
    source: Path = typer.Argument(..., help="A GraphML/GML topology file, a native dataset or a datanetAPI tree."),
    duration: float = typer.Option(30.0, "--duration", help="Seconds of traffic (the first 10 % is warm-up)."),
    load: float = typer.Option(0.7, "--load", help="Topology file: busiest link's utilisation of all-pairs traffic."),
    seed: int = typer.Option(0, "--seed", help="Seed of the all-pairs traffic and of the traffic sources."),
    sample: str | None = typer.Option(None, "--sample", help="Sample id in a dataset (default: the first)."),
    capacity: float = typer.Option(
        DEFAULT_CAPACITY_BPS, "--capacity", help="Emulated bit/s of the fastest link; all links scale with it."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Append the run to this native dataset."),
    compare: bool = typer.Option(False, "--compare", help="Score ndtwin's simulator against the emulated network."),
    models: list[str] = typer.Option([], "--model", "-m", help="Also score this twin (e.g. 'default'); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    exporter_port: int | None = typer.Option(
        None, "--exporter-port", help="Serve live Prometheus metrics on 127.0.0.1:PORT while the traffic runs."
    ),
    prometheus: Path | None = typer.Option(
        None, "--prometheus", help="Run a Prometheus server (state and data in this folder) scraping the exporter."
    ),
    prometheus_port: int = typer.Option(9090, "--prometheus-port", help="Port of that server on 127.0.0.1."),
    store_path: Path | None = typer.Option(
        None, "--store", help="With --prometheus: ingest the run's series into this DuckDB telemetry store."
    ),
) -> None:
    """Run a scenario on a live emulated network (one namespace per node, veth links, tc shaping) and measure every
    flow's delay, jitter and loss. Capacities and rates are scaled together (utilisations kept); propagation delay is
    not emulated. Needs root; removes everything it creates."""
    try:
        for option, value in (("--duration", duration), ("--load", load), ("--capacity", capacity)):
            check_number(option, value, minimum=0, strict=True)
        scenario = load_scenario(source, sample, load, seed)
        settings = EmulationSettings(duration_s=duration, capacity_bps=capacity, seed=seed)
        prepare(scenario, settings)  # reject a scenario the host cannot carry before building anything
        check_host()
        twins = {model: load_twin(model) for model in models}
        if (prometheus or store_path) and exporter_port is None:
            raise ScenarioError("--exporter-port", "a port for the exporter that --prometheus/--store read")
        if store_path and not prometheus:
            raise ScenarioError("--store", "--prometheus DIR as well (the store is filled from that server)")
        writer = DatasetWriter(out, provenance={"emulated_from": str(source)}) if out is not None else None
        with _collector(prometheus, exporter_port, prometheus_port) as server:
            if not as_json:
                console.print(f"emulating {scenario.n_flows} flows for {duration:g} s …")
            started = time.time()
            run = emulate(scenario, settings, exporter_port=exporter_port)
            ingested = _ingest(server, run.sample.scenario, store_path, started) if store_path else None
    except (DatasetError, ScenarioError, HostError) as error:
        fail(error)
    measured = run.sample
    result = {
        "n_flows": measured.scenario.n_flows,
        "cpu_saturated": run.cpu_saturated,
        "cpu": run.cpu,
        "capacity_scale": run.capacity_scale,
        "duration_s": duration,
        "propagation_emulated": False,
        "measured": _summary(measured.flow_labels),
    }
    if ingested is not None:
        result["ingested"] = ingested
    if compare or twins:
        simulated = simulate(measured.scenario, packets_per_flow=SIM_PACKETS_PER_FLOW, seed=seed)
        if compare:
            result.update({k: v for k, v in scores(measured, simulated.flow_labels, "sim").items() if k != "model"})
        result["models"] = {
            name: {
                "vs_emulation": scores(measured, twin.predict(measured.scenario), name),
                "vs_simulator": scores(simulated, twin.predict(measured.scenario), name),
            }
            for name, twin in twins.items()
        }
    if writer is not None:
        try:
            with writer:
                writer.write(measured)
        except DatasetError as error:
            fail(error)
    if as_json:
        print(json.dumps(result))
        return
    console.print(_table(result))
    if out is not None:
        console.print(f"wrote sample {measured.sample_id} to {out}")


def _collector(folder: Path | None, exporter_port: int | None, port: int) -> AbstractContextManager:
    """A Prometheus server scraping the exporter, or nothing."""
    if folder is None:
        return nullcontext()
    from ndtwin.ops.prometheus_server import PrometheusServer

    return PrometheusServer(folder, [f"127.0.0.1:{exporter_port}"], port)


def _ingest(server: PrometheusServer, scenario: Scenario, store_path: Path, started_s: float) -> dict:
    """The run's series from ``server`` into the store at ``store_path``."""
    from ndtwin.ops.ingest import ingest_prometheus
    from ndtwin.ops.store import TelemetryStore

    with TelemetryStore(store_path) as store:
        return ingest_prometheus(server.url, scenario, store, started_s - 1, time.time())


def _summary(labels: pd.DataFrame) -> dict:
    return {
        "delay_s_mean": float(labels["delay_s"].mean()),
        "loss_mean": float(labels["loss"].mean()),
        "offered_bps_total": float(labels["offered_bps"].sum()),
    }


def _table(result: dict) -> Table:
    cpu = result["cpu"]
    table = Table(
        title=f"emulated {result['n_flows']} flows, capacities × {result['capacity_scale']:.3g}, host busy "
        f"{cpu['busy_mean']:.0%} (this run {cpu['emulation_share']:.0%}), CPU saturated: {result['cpu_saturated']}"
    )
    for column in ("scored", "against", "delay MAPE %", "delay median APE %", "loss MAE"):
        table.add_column(column, justify="left" if column in ("scored", "against") else "right")
    rows = [("simulator", "emulation", result)] if "delay" in result else []
    for name, report in result.get("models", {}).items():
        rows += [(name, "emulation", report["vs_emulation"]), (name, "simulator", report["vs_simulator"])]
    for scored, against, report in rows:
        delay, loss = report.get("delay", {}), report.get("loss", {})
        table.add_row(scored, against, _fmt(delay.get("mape")), _fmt(delay.get("median_ape")), _fmt(loss.get("mae")))
    delay = result["measured"]
    table.caption = f"mean measured delay {delay['delay_s_mean'] * 1e3:.2f} ms, mean loss {delay['loss_mean']:.4f}"
    return table


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
