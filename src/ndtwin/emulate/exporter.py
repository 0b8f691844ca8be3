"""A Prometheus exporter of a running emulation: per-interface and per-queue counters (``ip -s -j link``,
``tc -s -j qdisc``) and per-flow packets, loss and one-way delay histograms (the agents' live counters).

Every series carries the entity it belongs to, in the Scenario's terms: ``link="u->v"`` (node names) and
``src``/``dst`` node names, ``queue`` (index within the port), ``flow`` (index in the traffic). Metric names,
labels and units: docs/TELEMETRY.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ndtwin.emulate.counters import qdisc_stats
from ndtwin.emulate.host import run
from ndtwin.emulate.layout import Layout, interface_name
from ndtwin.emulate.sources import DELAY_BUCKETS_S
from ndtwin.scenario import Scenario

LINK_LABELS = ["link", "src", "dst"]
QUEUE_LABELS = [*LINK_LABELS, "queue"]
FLOW_LABELS = ["flow", "src", "dst", "tos"]


class EmulationCollector:
    """Reads the live network on every scrape (a prometheus_client custom collector)."""

    def __init__(self, scenario: Scenario, layout: Layout, live_dir: Path) -> None:
        self.scenario, self.layout, self.live_dir = scenario, layout, live_dir
        names = scenario.topology.node_names
        self.ports = {
            (link.src, interface_name(link.dst)): [f"{names[link.src]}->{names[link.dst]}", names[link.src],
                                                   names[link.dst]]
            for link in scenario.topology.links
        }  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        yield from self._interfaces()
        yield from self._queues()
        yield from self._flows()

    def _interfaces(self) -> Iterator[Metric]:
        tx_bytes = CounterMetricFamily(
            "ndtwin_link_transmit_bytes", "Bytes sent by the link's interface (frames).", labels=LINK_LABELS
        )
        tx_packets = CounterMetricFamily(
            "ndtwin_link_transmit_packets", "Packets sent by the link's interface.", labels=LINK_LABELS
        )
        tx_dropped = CounterMetricFamily("ndtwin_link_transmit_dropped", "Packets the interface dropped on sending.", labels=LINK_LABELS)  # fmt: skip
        for node in range(self.layout.n_nodes):
            for entry in json.loads(run(["ip", "-n", self.layout.namespace(node), "-s", "-j", "link", "show"]) or "[]"):
                labels = self.ports.get((node, entry.get("ifname")))
                if labels is None:
                    continue
                tx = entry["stats64"]["tx"]
                tx_bytes.add_metric(labels, tx["bytes"])
                tx_packets.add_metric(labels, tx["packets"])
                tx_dropped.add_metric(labels, tx["dropped"])
        yield from (tx_bytes, tx_packets, tx_dropped)

    def _queues(self) -> Iterator[Metric]:
        sent_bytes = CounterMetricFamily(
            "ndtwin_queue_sent_bytes", "IP bytes sent from the queue.", labels=QUEUE_LABELS
        )
        sent_packets = CounterMetricFamily(
            "ndtwin_queue_sent_packets", "Packets sent from the queue.", labels=QUEUE_LABELS
        )
        drops = CounterMetricFamily(
            "ndtwin_queue_dropped_packets", "Packets the full queue dropped.", labels=QUEUE_LABELS
        )
        backlog_bytes = GaugeMetricFamily(
            "ndtwin_queue_backlog_bytes", "IP bytes waiting in the queue.", labels=QUEUE_LABELS
        )
        backlog_packets = GaugeMetricFamily("ndtwin_queue_backlog_packets", "Packets waiting in the queue.", labels=QUEUE_LABELS)  # fmt: skip
        for node in sorted({link.src for link in self.scenario.topology.links}):
            for entry in qdisc_stats(self.layout.namespace(node)):
                labels = self.ports.get((node, entry.get("dev")))
                if labels is None or entry.get("kind") not in ("pfifo", "bfifo"):
                    continue
                queue = [*labels, str(int(entry["handle"].rstrip(":"), 16) - 0x10)]
                sent_bytes.add_metric(queue, entry["bytes"])
                sent_packets.add_metric(queue, entry["packets"])
                drops.add_metric(queue, entry["drops"])
                backlog_bytes.add_metric(queue, entry.get("backlog", 0))
                backlog_packets.add_metric(queue, entry.get("qlen", 0))
        yield from (sent_bytes, sent_packets, drops, backlog_bytes, backlog_packets)

    def _flows(self) -> Iterator[Metric]:
        sent = CounterMetricFamily("ndtwin_flow_sent_packets", "Packets the flow's source sent.", labels=FLOW_LABELS)
        received = CounterMetricFamily(
            "ndtwin_flow_received_packets", "Packets of the flow delivered.", labels=FLOW_LABELS
        )
        delay = HistogramMetricFamily("ndtwin_flow_delay_seconds", "Measured one-way delay of delivered packets.", labels=FLOW_LABELS)  # fmt: skip
        loss = GaugeMetricFamily("ndtwin_flow_loss_ratio", "1 - received / sent since the start (in-flight packets count as lost).", labels=FLOW_LABELS)  # fmt: skip
        sent_by_flow: dict[int, int] = {}
        received_by_flow: dict[int, list[int]] = {}
        for path in sorted(self.live_dir.glob("live-*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            sent_by_flow.update({int(k): v for k, v in record["sent"].items()})
            received_by_flow.update({int(k): v for k, v in record["received"].items()})
        names = self.scenario.topology.node_names
        for index, flow in enumerate(self.scenario.traffic.flows):
            labels = [str(index), names[flow.src], names[flow.dst], str(flow.tos)]
            n_sent = sent_by_flow.get(index, 0)
            counts = received_by_flow.get(index, [0, 0] + [0] * (len(DELAY_BUCKETS_S) + 1))
            sent.add_metric(labels, n_sent)
            received.add_metric(labels, counts[0])
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, DELAY_BUCKETS_S), "+Inf"], counts[2:]):
                cumulative += count
                buckets.append((bound, cumulative))
            delay.add_metric(labels, buckets, counts[1] / 1e9)
            if n_sent:
                loss.add_metric(labels, 1.0 - counts[0] / n_sent)
        yield from (sent, received, delay, loss)


class Exporter:
    """Context manager: serves ``collector`` on ``http://address:port/metrics`` in a background thread."""

    def __init__(self, collector: EmulationCollector, port: int, address: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry()
        self.registry.register(collector)
        self.port, self.address = port, address

    def __enter__(self) -> Exporter:
        self._server, self._thread = start_http_server(self.port, self.address, registry=self.registry)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
