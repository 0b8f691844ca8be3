import shutil
import socket
import time

import pytest

from ndtwin.emulate import EmulationSettings, emulate
from ndtwin.ops.ingest import follow_prometheus, ingest_prometheus
from ndtwin.ops.prometheus_server import PrometheusServer
from ndtwin.ops.store import TelemetryStore

pytest.importorskip("prometheus_client", reason="the 'emulate' extra (prometheus-client) is not installed")
pytest.importorskip("duckdb", reason="the 'ops' extra (duckdb) is not installed")

from test_emulate import CAPACITY_BPS, PACKET_BITS, line, live  # noqa: E402, F401


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def scraped(live, tmp_path_factory):  # noqa: F811
    """A 4 s line emulation scraped every second by a real Prometheus; yields the server (still up) and the run."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (apt-get install -y prometheus)")
    exporter = _free_port()
    folder = tmp_path_factory.mktemp("prometheus")
    with PrometheusServer(folder, [f"127.0.0.1:{exporter}"], _free_port()) as server:
        start = time.time()
        run = emulate(line(), EmulationSettings(duration_s=4.0, capacity_bps=CAPACITY_BPS), exporter_port=exporter)
        yield server, run, start - 1, time.time()


def test_series_land_on_the_scenarios_entities_in_si_units(scraped, tmp_path):
    server, run, start, end = scraped
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        result = ingest_prometheus(server.url, run.sample.scenario, store, start, end)
        points = store.series(server.url)
    assert result["inserted"] == result["read"] > 0
    final = points.groupby(["entity", "entity_id", "column"])["value"].last()
    first_link = run.sample.scenario.topology.link_id(0, 1)
    assert final["queue", first_link, "sent_bits"] / final["queue", first_link, "sent_packets"] == PACKET_BITS
    assert final["flow", 0, "received_packets"] >= 0.95 * final["flow", 0, "sent_packets"] > 0
    assert final["flow", 0, "delay_count"] == final["flow", 0, "delay_le_+Inf_s_count"]
    scrape_times = points.loc[points["column"] == "sent_packets", "time_ms"].drop_duplicates().sort_values()
    assert scrape_times.diff().dropna().median() == pytest.approx(1000, abs=100)  # scraped every second


def test_reingesting_neither_loses_nor_duplicates_points(scraped, tmp_path):
    server, run, start, end = scraped
    scenario = run.sample.scenario
    with TelemetryStore(tmp_path / "whole.duckdb") as whole:
        total = ingest_prometheus(server.url, scenario, whole, start, end)["inserted"]
        assert ingest_prometheus(server.url, scenario, whole, start, end)["inserted"] == 0
        assert len(whole.series(server.url)) == total
    middle = (start + end) / 2
    with TelemetryStore(tmp_path / "parts.duckdb") as parts:  # an ingester stopped half-way, then restarted
        ingest_prometheus(server.url, scenario, parts, start, middle)
        ingest_prometheus(server.url, scenario, parts, start, end)
        assert len(parts.series(server.url)) == total


def test_a_follower_resumes_where_its_store_ends(scraped, tmp_path):
    server, run, start, end = scraped
    scenario = run.sample.scenario
    with TelemetryStore(tmp_path / "once.duckdb") as once:
        ingest_prometheus(server.url, scenario, once, start, end)
        expected = once.series(server.url)
    with TelemetryStore(tmp_path / "followed.duckdb") as store:
        middle = expected["time_ms"].median() / 1e3  # stopped half-way through the scraped points
        first = follow_prometheus(server.url, scenario, store, since_s=start, until_s=middle)
        again = follow_prometheus(server.url, scenario, store, since_s=start, until_s=end)
        followed = store.series(server.url)
    assert first["inserted"] > 0 and first["inserted"] + again["inserted"] == len(followed) == len(expected)
    assert followed.equals(expected)
