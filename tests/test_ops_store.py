"""Telemetry store: idempotent appends keyed by (source, seq), fixed schemas, labels joined later, checkpoint state."""

import pandas as pd
import pytest

from ndtwin.errors import DatasetError
from ndtwin.ops.store import TelemetryStore


def traffic_frame(seqs, rate=1.0) -> pd.DataFrame:
    return pd.DataFrame({"seq": list(seqs), "rate_bps": [rate * s for s in seqs], "link": [f"l{s % 3}" for s in seqs]})


def label_frame(seqs) -> pd.DataFrame:
    return pd.DataFrame({"seq": list(seqs), "delay_s": [0.001 * s for s in seqs]})


def test_append_is_idempotent_and_ordered(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        assert store.last_seq("a") is None
        assert store.append_traffic("a", traffic_frame([3, 1, 2])) == 3
        assert store.append_traffic("a", traffic_frame([2, 3, 4, 4])) == 1  # replayed keys ignored, duplicate 4 once
        assert store.append_traffic("b", traffic_frame([1])) == 1  # same seq, other source
        assert store.last_seq("a") == 4
        assert store.count("a") == 4
        assert store.sources() == ["a", "b"]
        rows = store.traffic("a")
        assert list(rows.columns) == ["seq", "rate_bps", "link"]
        assert rows["seq"].tolist() == [1, 2, 3, 4]
        assert rows["rate_bps"].tolist() == [1.0, 2.0, 3.0, 4.0]
        assert store.traffic("a", start_seq=2, end_seq=4)["seq"].tolist() == [2, 3]


def test_labels_join_only_labelled_rows(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        assert store.labelled("a").empty
        store.append_traffic("a", traffic_frame(range(5)))
        assert store.append_labels("a", label_frame([1, 3])) == 2
        assert store.last_seq("a", "labels") == 3
        joined = store.labelled("a")
        assert list(joined.columns) == ["seq", "rate_bps", "link", "delay_s"]
        assert joined["seq"].tolist() == [1, 3]
        assert joined["delay_s"].tolist() == pytest.approx([0.001, 0.003])
        assert store.labelled("a", start_seq=2)["seq"].tolist() == [3]


def test_rows_survive_reopening(tmp_path):
    path = tmp_path / "t.duckdb"
    with TelemetryStore(path) as store:
        store.append_traffic("a", traffic_frame(range(3)), state={"cursor": {"seq": 2}})
    with TelemetryStore(path) as store:
        assert store.append_traffic("a", traffic_frame(range(5))) == 2
        assert store.get_state("cursor") == {"seq": 2}
    with TelemetryStore(path, read_only=True) as store:
        assert store.count("a") == 5


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda f: f.drop(columns="link"), "missing column 'link'"),
        (lambda f: f.assign(extra=1.0), "unexpected column 'extra'"),
        (lambda f: f.assign(rate_bps=["x"] * len(f)), "column 'rate_bps': expected DOUBLE"),
        (lambda f: f.assign(link=1.5), "column 'link': expected VARCHAR"),
        (lambda f: f.assign(seq=f["seq"] + 0.5), "column 'seq': expected integers"),
        (lambda f: f.drop(columns="seq"), "missing column 'seq'"),
    ],
)
def test_mismatched_frame_names_the_column_and_stores_nothing(tmp_path, bad, message):
    path = tmp_path / "t.duckdb"
    with TelemetryStore(path) as store:
        store.append_traffic("a", traffic_frame([0]), state={"cursor": 0})
        with pytest.raises(DatasetError, match=message) as caught:
            store.append_traffic("a", bad(traffic_frame([1, 2])), state={"cursor": 2})
        assert str(path) in str(caught.value)
        assert store.count("a") == 1
        assert store.get_state("cursor") == 0


def test_integers_fill_a_float_column(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        store.append_traffic("a", traffic_frame([0]))
        assert store.append_traffic("a", traffic_frame([1]).assign(rate_bps=7)) == 1
        assert store.traffic("a")["rate_bps"].tolist() == [0.0, 7.0]


def test_label_columns_must_differ_from_traffic_columns(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        store.append_traffic("a", traffic_frame([0]))
        with pytest.raises(DatasetError, match="'rate_bps' is already a column of traffic"):
            store.append_labels("a", traffic_frame([0])[["seq", "rate_bps"]])


def test_failed_insert_rolls_back_data_and_state(tmp_path, monkeypatch):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        store.append_traffic("a", traffic_frame([0]), state={"cursor": 0})
        with pytest.raises(DatasetError, match="state 'cursor'"):
            store.append_traffic("a", traffic_frame([1]), state={"cursor": object()})
        assert store.count("a") == 1
        monkeypatch.setattr(store, "_write_states", lambda encoded: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            store.append_traffic("a", traffic_frame([1, 2]), state={"cursor": 2})
        monkeypatch.undo()
        assert store.count("a") == 1
        assert store.get_state("cursor") == 0


def test_state_round_trip_and_default(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        assert store.get_state("missing", default=5) == 5
        store.put_state("k", [1, "two", {"three": 3.0}])
        store.put_state("k", {"replaced": True})
        assert store.get_state("k") == {"replaced": True}


def test_read_only_store_must_exist(tmp_path):
    with pytest.raises(DatasetError, match="no telemetry store"):
        TelemetryStore(tmp_path / "absent.duckdb", read_only=True)


def test_unknown_table_is_refused(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store, pytest.raises(ValueError, match="table: expected one of"):
        store.last_seq("a", "flows")


def series_frame(times_ms, entity="flow", entity_id=0, column="sent_packets") -> pd.DataFrame:
    return pd.DataFrame(
        {"entity": entity, "entity_id": entity_id, "column": column, "time_ms": list(times_ms),
         "value": [float(t) for t in times_ms]}
    )  # fmt: skip


def test_series_points_are_keyed_by_entity_column_and_time(tmp_path):
    with TelemetryStore(tmp_path / "t.duckdb") as store:
        assert store.series("u").empty
        assert store.append_series("u", series_frame([1000, 2000])) == 2
        assert store.append_series("u", series_frame([2000, 3000, 3000])) == 1  # overlap ignored, duplicate once
        assert store.append_series("u", series_frame([2000], entity_id=1)) == 1  # same time, other entity
        assert store.append_series("v", series_frame([1000])) == 1  # other source
        points = store.series("u")
        assert list(points["time_ms"]) == [1000, 2000, 3000, 2000]
        assert list(points.columns) == ["entity", "entity_id", "column", "time_ms", "value"]
        assert store.last_series_time_ms("u") == 3000 and store.last_series_time_ms("w") is None
        with pytest.raises(DatasetError, match="missing column 'time_ms'"):
            store.append_series("u", series_frame([1]).drop(columns="time_ms"))
