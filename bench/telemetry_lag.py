"""Scrape-to-store lag of the telemetry pipeline, and a follower killed and restarted mid-run.

Emulated Abilene (110 flows, busiest link at 80 %, 2 Mbit/s links) runs for ``--duration`` seconds with its exporter
scraped every second by a real Prometheus server. A follower (``follow_prometheus``, polling every second) stores
the series as they arrive and reports the lag from each point's scrape to its commit. A second follower is stopped
half-way and restarted; its store is compared key by key with a one-shot ingestion of the whole run.

    python bench/telemetry_lag.py [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from emulate_abilene import abilene  # noqa: E402 (bench/ is the script's folder)
from ndtwin.emulate import EmulationSettings, emulate, prepare
from ndtwin.ops.ingest import LATE_S, follow_prometheus, ingest_prometheus
from ndtwin.ops.prometheus_server import PrometheusServer
from ndtwin.ops.store import TelemetryStore

KEY = ["entity", "entity_id", "column", "time_ms"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    scenario = abilene(0.8, 1)
    settings = EmulationSettings(duration_s=args.duration, capacity_bps=2e6, seed=1)
    emulated, _ = prepare(scenario, settings)
    exporter = free_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        PrometheusServer(Path(folder) / "prometheus", [f"127.0.0.1:{exporter}"], free_port()) as server,
    ):
        start = time.time()
        end = start + args.duration + LATE_S + 10
        results: dict[str, dict] = {}

        def follower(name: str, until: float, since: float = start) -> None:
            with TelemetryStore(Path(folder) / f"{name}.duckdb") as store:
                results[name] = follow_prometheus(server.url, emulated, store, since_s=since, until_s=until)

        def restarted() -> None:
            follower("restarted", start + args.duration / 2)  # stopped half-way …
            follower("restarted", end)  # … and started again on the same store

        threads = [threading.Thread(target=follower, args=("live", end)), threading.Thread(target=restarted)]
        for thread in threads:
            thread.start()
        run = emulate(scenario, settings, exporter_port=exporter)
        for thread in threads:
            thread.join()
        with TelemetryStore(Path(folder) / "once.duckdb") as once:
            ingest_prometheus(server.url, emulated, once, start - 1, time.time())
            whole = once.series(server.url)
        with TelemetryStore(Path(folder) / "restarted.duckdb", read_only=True) as store:
            resumed = store.series(server.url)
    complete = (end - LATE_S) * 1e3  # later samples may have become visible after the followers stopped
    clipped = whole[(whole["time_ms"] >= start * 1e3) & (whole["time_ms"] <= complete)]
    resumed = resumed[resumed["time_ms"] <= complete]
    keys_once, keys_resumed = set(map(tuple, clipped[KEY].to_numpy())), set(map(tuple, resumed[KEY].to_numpy()))
    print(json.dumps({
        "live_follower": results["live"],
        "restarted_follower_points": len(resumed),
        "one_shot_points_in_range": len(clipped),
        "missing_after_restart": len(keys_once - keys_resumed),
        "extra_after_restart": len(keys_resumed - keys_once),
        "duplicate_keys_after_restart": int(resumed.duplicated(KEY).sum()),
        "cpu_saturated": run.cpu_saturated,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
