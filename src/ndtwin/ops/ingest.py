"""Ingest a Prometheus server's series into the telemetry store, harmonised onto a Scenario's entities.

Raw samples are read with range-vector selectors (``metric[Ns]`` evaluated at consecutive window ends through the
HTTP API), so every stored point is a sample as scraped, at its own time — nothing is interpolated. Each series is
mapped to a link, queue or flow of the Scenario by its labels, and its value converted to SI units (bytes → bits).
The mapping (metric → entity → column → unit) is ``METRICS``, documented in docs/TELEMETRY.md.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

import pandas as pd

from ndtwin.errors import DatasetError
from ndtwin.ops.store import SERIES_COLUMNS, TelemetryStore
from ndtwin.scenario import Scenario

WINDOW_S = 300  # seconds of raw samples per query
LATE_S = 15.0  # a sample may become visible this long after its time (Prometheus' scrape timeout is 10 s)


class Mapping(NamedTuple):
    entity: str  # link, queue or flow
    column: str  # harmonised name, unit in the name
    factor: float  # to SI


METRICS: dict[str, Mapping] = {
    "ndtwin_link_transmit_bytes_total": Mapping("link", "transmitted_bits", 8.0),
    "ndtwin_link_transmit_packets_total": Mapping("link", "transmitted_packets", 1.0),
    "ndtwin_link_transmit_dropped_total": Mapping("link", "interface_dropped_packets", 1.0),
    "ndtwin_queue_sent_bytes_total": Mapping("queue", "sent_bits", 8.0),
    "ndtwin_queue_sent_packets_total": Mapping("queue", "sent_packets", 1.0),
    "ndtwin_queue_dropped_packets_total": Mapping("queue", "dropped_packets", 1.0),
    "ndtwin_queue_backlog_bytes": Mapping("queue", "backlog_bits", 8.0),
    "ndtwin_queue_backlog_packets": Mapping("queue", "backlog_packets", 1.0),
    "ndtwin_flow_sent_packets_total": Mapping("flow", "sent_packets", 1.0),
    "ndtwin_flow_received_packets_total": Mapping("flow", "received_packets", 1.0),
    "ndtwin_flow_delay_seconds_sum": Mapping("flow", "delay_sum_s", 1.0),
    "ndtwin_flow_delay_seconds_count": Mapping("flow", "delay_count", 1.0),
    "ndtwin_flow_delay_seconds_bucket": Mapping("flow", "delay_le_{le}_s_count", 1.0),
    "ndtwin_flow_loss_ratio": Mapping("flow", "loss", 1.0),
}


def query(url: str, promql: str, at_s: float) -> list[dict]:
    """The result of an instant query; DatasetError naming the URL when the server cannot answer."""
    address = f"{url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": promql, "time": f"{at_s:.3f}"})
    try:
        with urllib.request.urlopen(address, timeout=30) as reply:
            body = json.load(reply)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DatasetError(url, f"no answer from the Prometheus HTTP API ({error})") from None
    if body.get("status") != "success":
        raise DatasetError(url, f"query {promql!r} failed: {body.get('error')}")
    return body["data"]["result"]


class EntityIndex:
    """Scenario ids of the entities named by series labels."""

    def __init__(self, scenario: Scenario) -> None:
        topology = scenario.topology
        names = topology.node_names
        self.links = {f"{names[link.src]}->{names[link.dst]}": i for i, link in enumerate(topology.links)}
        self.queue_offset = scenario.queues.offset
        self.flows = {i: (names[f.src], names[f.dst]) for i, f in enumerate(scenario.traffic.flows)}

    def id_of(self, entity: str, labels: dict[str, str], url: str) -> int:
        if entity == "flow":
            flow = int(labels["flow"])
            if self.flows.get(flow) != (labels.get("src"), labels.get("dst")):
                raise DatasetError(url, f"flow {flow} is {labels.get('src')}->{labels.get('dst')} there, "
                                        f"but {self.flows.get(flow)} in the scenario (expected the same scenario)")  # fmt: skip
            return flow
        link = self.links.get(labels.get("link", ""))
        if link is None:
            raise DatasetError(url, f"link {labels.get('link')!r} is not a link of the scenario")
        return link if entity == "link" else int(self.queue_offset[link]) + int(labels["queue"])


def read_points(url: str, scenario: Scenario, start_s: float, end_s: float) -> pd.DataFrame:
    """Every raw sample of the ``METRICS`` series with a time in ``(start_s, end_s]``, as harmonised points."""
    index = EntityIndex(scenario)
    rows: list[tuple] = []
    windows = max(1, math.ceil((end_s - start_s) / WINDOW_S))
    for w in range(windows):
        low, high = start_s + w * (end_s - start_s) / windows, start_s + (w + 1) * (end_s - start_s) / windows
        span_ms = max(1, round((high - low) * 1e3))
        for metric, (entity, column, factor) in METRICS.items():
            for series in query(url, f"{metric}[{span_ms}ms]", high):
                labels = series["metric"]
                entity_id = index.id_of(entity, labels, url)
                name = column.format(le=labels.get("le", ""))
                rows += [
                    (entity, entity_id, name, round(float(t) * 1e3), float(v) * factor) for t, v in series["values"]
                ]
    return pd.DataFrame(rows, columns=list(SERIES_COLUMNS))


def ingest_prometheus(url: str, scenario: Scenario, store: TelemetryStore, start_s: float, end_s: float) -> dict:
    """Store the samples of ``(start_s, end_s]``; returns how many were read and how many were new."""
    if not end_s > start_s:
        raise DatasetError(url, f"an ingestion range with end after start, got {start_s} .. {end_s}")
    points = read_points(url, scenario, start_s, end_s)
    inserted = store.append_series(url, points) if len(points) else 0
    return {"read": len(points), "inserted": inserted, "start_s": start_s, "end_s": end_s}


def follow_prometheus(url: str, scenario: Scenario, store: TelemetryStore, *, since_s: float, until_s: float,
                      poll_s: float = 1.0) -> dict:  # fmt: skip
    """Ingest continuously until ``until_s`` (Unix s): every ``poll_s``, the samples of the last ``LATE_S``.

    A sample is stamped with the start of its scrape but becomes visible only when the scrape ends, so every read
    covers ``LATE_S`` (longer than Prometheus' scrape timeout) before the previous one; points read again are
    dropped by the store's keys. A follower that was stopped resumes ``LATE_S`` before the last point the store
    holds (or at ``since_s`` for a new store), so nothing is lost or duplicated; samples that become visible after
    the follower stops are read by its next run. Returns the points read and newly
    stored and the scrape-to-store lag: seconds from a point's scrape time to the commit that first stored it
    (median and maximum, leaving out the first read, which fetches the backlog).
    """
    last_ms = store.last_series_time_ms(url)
    low = since_s if last_ms is None else max(since_s, last_ms / 1e3 - LATE_S)
    read = inserted = 0
    lags: list[float] = []
    seen: set[tuple] = set()
    first = True
    while True:
        high = min(time.time(), until_s)
        if high > low:
            points = read_points(url, scenario, low, high)
            inserted += store.append_series(url, points) if len(points) else 0
            stored_at = time.time()
            read += len(points)
            keys = list(zip(points["entity"], points["entity_id"], points["column"], points["time_ms"]))
            if not first:
                lags += [stored_at - key[3] / 1e3 for key in keys if key not in seen]
            seen = {key for key in seen if key[3] / 1e3 > high - 2 * LATE_S} | set(keys)
            first, low = False, max(since_s, high - LATE_S)
        if high >= until_s:
            break
        time.sleep(max(0.0, min(poll_s, until_s - time.time())))
    ordered = sorted(lags)
    return {
        "read": read,
        "inserted": inserted,
        "lag_median_s": ordered[len(ordered) // 2] if ordered else None,
        "lag_max_s": ordered[-1] if ordered else None,
    }
