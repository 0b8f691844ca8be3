"""Per-queue packet and byte counters of the emulated ports, read from ``tc -s -j qdisc show``."""

from __future__ import annotations

import json

import numpy as np

from ndtwin.emulate.host import run
from ndtwin.emulate.layout import Layout, interface_name
from ndtwin.scenario import Scenario
from ndtwin.sim import kernel

QUEUE_COLUMNS = 6  # the kernel's Q_* columns


def qdisc_stats(namespace: str) -> list[dict]:
    """Every qdisc of ``namespace`` with its counters (``dev``, ``handle``, ``bytes``, ``packets``, ``drops``, …)."""
    return json.loads(run(["tc", "-n", namespace, "-s", "-j", "qdisc", "show"]) or "[]")


def queue_counters(scenario: Scenario, layout: Layout) -> np.ndarray:
    """Cumulative counters of every queue (global queue id), in the kernel's ``Q_*`` columns: arrivals, drops,
    transmitted packets and bits; sojourn and largest occupancy are not counted by the qdiscs (NaN)."""
    table = scenario.queues
    counters = np.zeros((len(table.link), QUEUE_COLUMNS))
    counters[:, kernel.Q_SOJOURN] = np.nan
    counters[:, kernel.Q_MAX_OCC] = np.nan
    by_node: dict[int, dict[tuple[str, str], dict]] = {}
    for g, (link_id, queue) in enumerate(zip(table.link, table.index)):
        link = scenario.topology.links[link_id]
        if link.src not in by_node:
            by_node[link.src] = {(q["dev"], q["handle"]): q for q in qdisc_stats(layout.namespace(link.src))}
        entry = by_node[link.src].get((interface_name(link.dst), f"{0x10 + int(queue):x}:"))
        if entry is None:
            continue
        counters[g, kernel.Q_TX_PKTS] = entry["packets"]
        counters[g, kernel.Q_TX_BITS] = 8 * entry["bytes"]
        counters[g, kernel.Q_DROPS] = entry["drops"]
        counters[g, kernel.Q_ARRIVALS] = entry["packets"] + entry["drops"] + entry.get("qlen", 0)
    return counters
