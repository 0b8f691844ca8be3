"""``ndtwin demo``: a twin predicts the per-flow delays of a real backbone, next to a packet-level simulation."""

from __future__ import annotations

import time
import warnings
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.table import Table  # noqa: E402

from ndtwin.cli.progress import console  # noqa: E402
from ndtwin.data.metrics import mape  # noqa: E402
from ndtwin.data.topology_io import TopologyWarning, read_topology  # noqa: E402
from ndtwin.scenario import PortConfig, Scenario, Scheduling  # noqa: E402
from ndtwin.scenario.generate import all_pairs_scenario, link_loads_bps  # noqa: E402
from ndtwin.sim import simulate  # noqa: E402
from ndtwin.twin.catalog import load_twin  # noqa: E402
from ndtwin.twin.qt import QueueingTheoryTwin  # noqa: E402

# Abilene's backbone links were OC-192 (about 10 Gbit/s); the Topology Zoo file carries no speeds.
ABILENE_CAPACITY_BPS = 10e9
DEMO_PORT = PortConfig(Scheduling.SP, buffers=(64, 64, 64), buffer_unit="packets", tos_to_queue=(0, 1, 2))


def demo_scenario(max_utilization: float = 0.9, seed: int = 1) -> Scenario:
    """All-pairs traffic on Abilene with three strict-priority queues per port."""
    path = resources.files("ndtwin") / "resources" / "Abilene.graphml"
    with resources.as_file(path) as file, warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)  # the missing speeds are supplied on purpose
        topology = read_topology(file, default_capacity_bps=ABILENE_CAPACITY_BPS, port=DEMO_PORT)
    return all_pairs_scenario(topology, max_utilization=max_utilization, seed=seed)


def run_demo(out: Path) -> None:
    """Predict the scenario with the shipped GNN twin, simulate it packet by packet, and compare the two (and the
    queueing-theory baseline)."""
    scenario = demo_scenario()
    topo = scenario.topology
    twin = load_twin("default")
    twin.predict(scenario)  # the first call pays one-off set-up costs; time the second
    start = time.perf_counter()
    prediction = twin.predict(scenario)
    twin_s = time.perf_counter() - start
    baseline = QueueingTheoryTwin().predict(scenario)
    with console.status("simulating every packet for the ground truth…"):
        start = time.perf_counter()
        truth = simulate(scenario, packets_per_flow=2000, seed=1).flow_labels
        sim_s = time.perf_counter() - start
    propagation = np.bincount(
        scenario.hops.flow, weights=topo.prop_delay_s[scenario.hops.link], minlength=scenario.n_flows
    )
    flows = pd.DataFrame(
        {
            "flow": [f"{topo.node_names[f.src]} → {topo.node_names[f.dst]}" for f in scenario.traffic.flows],
            "tos": scenario.traffic.tos,
            "hops": np.diff(scenario.hops.flow_offset),
            "propagation_ms": propagation * 1e3,
            "queueing_us_twin": (prediction["delay_s"] - propagation) * 1e6,
            "queueing_us_sim": (truth["delay_s"] - propagation) * 1e6,
            "queueing_us_qt": (baseline["delay_s"] - propagation) * 1e6,
        }
    )
    console.print(
        f"[bold]Abilene[/bold]: {topo.n_nodes} nodes, {topo.n_links} links at 10 Gbit/s, {scenario.n_flows} flows, "
        "busiest links at 90 % load, strict priority over 3 ToS classes."
    )
    console.print(_flow_table(flows.nlargest(10, "queueing_us_sim")))
    console.print(_link_table(scenario))
    console.print(
        f"twin ({twin.name}): every flow in {twin_s * 1e3:.1f} ms; simulator: {sim_s:.1f} s "
        f"({sim_s / twin_s:,.0f}× slower). Mean-delay error on the queueing + transmission part: twin "
        f"{mape(flows['queueing_us_sim'], flows['queueing_us_twin']):.1f} %, queueing-theory baseline "
        f"{mape(flows['queueing_us_sim'], flows['queueing_us_qt']):.1f} % (end to end, with propagation: "
        f"{mape(truth['delay_s'], prediction['delay_s']):.3f} % and {mape(truth['delay_s'], baseline['delay_s']):.3f} %)."
    )
    out.mkdir(parents=True, exist_ok=True)
    png = out / "demo.png"
    _plot(flows, png)
    console.print(f"plot: {png}")


def _flow_table(rows: pd.DataFrame) -> Table:
    table = Table(title="10 flows with the most queueing (µs beyond propagation)")
    for column in ("flow", "ToS", "hops", "prop. ms", "twin µs", "sim. µs"):
        table.add_column(column, justify="left" if column == "flow" else "right", no_wrap=True)
    for r in rows.itertuples():
        table.add_row(
            r.flow,
            str(r.tos),
            str(r.hops),
            f"{r.propagation_ms:.2f}",
            f"{r.queueing_us_twin:.1f}",
            f"{r.queueing_us_sim:.1f}",
        )
    return table


def _link_table(scenario: Scenario) -> Table:
    topo = scenario.topology
    utilization = link_loads_bps(scenario) / topo.capacity_bps
    table = Table(title="5 busiest links")
    for column in ("link", "utilization", "propagation ms"):
        table.add_column(column, justify="left" if column == "link" else "right", no_wrap=True)
    for lid in np.argsort(-utilization)[:5]:
        link = topo.links[lid]
        name = f"{topo.node_names[link.src]} → {topo.node_names[link.dst]}"
        table.add_row(name, f"{utilization[lid]:.2f}", f"{link.prop_delay_s * 1e3:.2f}")
    return table


def _plot(flows: pd.DataFrame, png: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    for tos, group in flows.groupby("tos"):
        ax.scatter(group["queueing_us_sim"], group["queueing_us_twin"], s=16, label=f"ToS {tos}")
    bounds = [
        flows[["queueing_us_sim", "queueing_us_twin"]].min().min(),
        flows[["queueing_us_sim", "queueing_us_twin"]].max().max(),
    ]
    ax.plot(bounds, bounds, color="grey", linewidth=1, label="twin = simulator")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated queueing + transmission delay (µs)")
    ax.set_ylabel("twin-predicted (µs)")
    ax.set_title("Abilene, all pairs: per-flow delay beyond propagation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
