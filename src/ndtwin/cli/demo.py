"""``ndtwin demo``: a twin predicting the per-flow QoS of a real backbone in milliseconds."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.table import Table  # noqa: E402

from ndtwin.cli.progress import console  # noqa: E402
from ndtwin.data.topology_io import read_topology  # noqa: E402
from ndtwin.scenario import PortConfig, Scenario, Scheduling  # noqa: E402
from ndtwin.scenario.generate import all_pairs_scenario, link_loads_bps  # noqa: E402
from ndtwin.twin.qt import QueueingTheoryTwin  # noqa: E402

# Abilene's backbone links were OC-192 (about 10 Gbit/s); the Topology Zoo file carries no speeds.
ABILENE_CAPACITY_BPS = 10e9
DEMO_PORT = PortConfig(Scheduling.SP, buffers=(64, 64, 64), buffer_unit="packets", tos_to_queue=(0, 1, 2))


def demo_scenario(max_utilization: float = 0.9, seed: int = 1) -> Scenario:
    """All-pairs traffic on Abilene with three strict-priority queues per port."""
    path = resources.files("ndtwin") / "resources" / "Abilene.graphml"
    with resources.as_file(path) as file:
        topology = read_topology(file, default_capacity_bps=ABILENE_CAPACITY_BPS, port=DEMO_PORT)
    return all_pairs_scenario(topology, max_utilization=max_utilization, seed=seed)


def run_demo(out: Path) -> None:
    """Build the scenario, predict it, print the worst flows and busiest links, and save a plot."""
    scenario = demo_scenario()
    twin = QueueingTheoryTwin()
    start = time.perf_counter()
    prediction = twin.predict(scenario)
    elapsed_ms = 1000 * (time.perf_counter() - start)
    topo = scenario.topology
    flows = pd.DataFrame(
        {
            "flow": [f"{topo.node_names[f.src]} → {topo.node_names[f.dst]}" for f in scenario.traffic.flows],
            "tos": scenario.traffic.tos,
            "rate_mbps": scenario.traffic.rate_bps / 1e6,
            "hops": np.diff(scenario.hops.flow_offset),
            "delay_ms": prediction["delay_s"] * 1e3,
            "jitter_ms": np.sqrt(prediction["delay_var_s2"]) * 1e3,
            "loss_pct": prediction["loss"] * 100,
        }
    )
    console.print(
        f"[bold]Abilene[/bold]: {topo.n_nodes} nodes, {topo.n_links} links, {scenario.n_flows} flows, "
        f"strict priority with 3 ToS classes; queueing-theory twin predicted every flow in {elapsed_ms:.1f} ms"
    )
    console.print(_flow_table(flows.nlargest(10, "delay_ms")))
    console.print(_link_table(scenario))
    out.mkdir(parents=True, exist_ok=True)
    png = out / "demo.png"
    _plot(flows, png)
    console.print(f"plot: {png}")


def _flow_table(rows: pd.DataFrame) -> Table:
    table = Table(title="10 slowest flows (jitter = std of delay)")
    for column in ("flow", "ToS", "Mb/s", "hops", "delay ms", "jitter ms", "loss %"):
        table.add_column(column, justify="left" if column == "flow" else "right")
    for r in rows.itertuples():
        table.add_row(r.flow, str(r.tos), f"{r.rate_mbps:.0f}", str(r.hops), f"{r.delay_ms:.3f}", f"{r.jitter_ms:.3f}", f"{r.loss_pct:.3f}")
    return table


def _link_table(scenario: Scenario) -> Table:
    topo = scenario.topology
    utilization = link_loads_bps(scenario) / topo.capacity_bps
    table = Table(title="5 busiest links")
    for column in ("link", "utilization", "propagation ms"):
        table.add_column(column, justify="left" if column == "link" else "right")
    for lid in np.argsort(-utilization)[:5]:
        link = topo.links[lid]
        name = f"{topo.node_names[link.src]} → {topo.node_names[link.dst]}"
        table.add_row(name, f"{utilization[lid]:.2f}", f"{link.prop_delay_s * 1e3:.2f}")
    return table


def _plot(flows: pd.DataFrame, png: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for tos, group in flows.groupby("tos"):
        ax.scatter(group["rate_mbps"], group["delay_ms"], s=14, label=f"ToS {tos}")
    ax.set_xlabel("flow rate (Mbit/s)")
    ax.set_ylabel("predicted mean delay (ms)")
    ax.set_title("Abilene, all pairs: per-flow delay predicted by the twin")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
