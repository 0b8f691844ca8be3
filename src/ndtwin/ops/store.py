"""Telemetry store: traffic (inputs) and labels (arriving later) in one embedded DuckDB file.

Rows are keyed by ``(source, seq)``. Appending a key that is already stored is a no-op, so a replayed or
restarted stream neither loses nor duplicates rows. The columns of each table are fixed by its first frame.
A ``series`` table holds harmonised telemetry points (see :meth:`TelemetryStore.append_series`). A
``state`` table holds small JSON values (the operating loop's checkpoint), optionally written in the same
transaction as a data frame, so a crash never leaves data and checkpoint out of step.

One process writes a store at a time (DuckDB's rule); others may open it ``read_only`` when nobody writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from ndtwin.errors import DatasetError

Table = Literal["traffic", "labels"]
TABLES = ("traffic", "labels")
_INCOMING = "ndtwin_incoming_frame"
SERIES_COLUMNS = ("entity", "entity_id", "column", "time_ms", "value")


class TelemetryStore:
    """A DuckDB file holding the ``traffic``, ``labels`` and ``state`` tables. Use as a context manager."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """Open (or create) the store at ``path``; ``read_only`` opens an existing file without writing."""
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise DatasetError(self.path, "no telemetry store here (expected an existing DuckDB file)")
        try:
            self._db = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise DatasetError(self.path, f"cannot open as a telemetry store (DuckDB file): {error}") from None
        if not read_only:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS state (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"
            ).fetchall()

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._db.close()

    def __enter__(self) -> TelemetryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append_traffic(self, source: str, frame: pd.DataFrame, *, state: dict[str, Any] | None = None) -> int:
        """Store the rows of ``frame`` (a ``seq`` integer column plus feature columns) under ``source``.

        Keys already stored are ignored; returns the number of rows inserted. ``state`` (key → JSON value) is
        written in the same transaction. Raises DatasetError naming the column when the frame's columns or types
        differ from the table's, and then stores nothing.
        """
        return self._append("traffic", source, frame, state)

    def append_labels(self, source: str, frame: pd.DataFrame, *, state: dict[str, Any] | None = None) -> int:
        """Like :meth:`append_traffic`, for the labels of rows (``seq`` plus label columns)."""
        return self._append("labels", source, frame, state)

    def last_seq(self, source: str, table: Table = "traffic") -> int | None:
        """The highest ``seq`` stored for ``source`` in ``table``, or None if it has none."""
        if not self._exists(_checked_table(table)):
            return None
        (value,) = self._db.execute(f"SELECT max(seq) FROM {table} WHERE source = ?", [source]).fetchall()[0]
        return None if value is None else int(value)

    def count(self, source: str, table: Table = "traffic") -> int:
        """Number of rows of ``source`` in ``table``."""
        if not self._exists(_checked_table(table)):
            return 0
        return int(self._db.execute(f"SELECT count(*) FROM {table} WHERE source = ?", [source]).fetchall()[0][0])

    def sources(self, table: Table = "traffic") -> list[str]:
        """The sources with rows in ``table``, sorted."""
        if not self._exists(_checked_table(table)):
            return []
        return [row[0] for row in self._db.execute(f"SELECT DISTINCT source FROM {table} ORDER BY source").fetchall()]

    def traffic(self, source: str, start_seq: int | None = None, end_seq: int | None = None) -> pd.DataFrame:
        """Traffic rows of ``source`` with ``start_seq <= seq < end_seq`` (open bounds when None), ordered by seq.

        Columns: ``seq`` then the feature columns.
        """
        if not self._exists("traffic"):
            return pd.DataFrame({"seq": pd.Series([], dtype="int64")})
        columns = ", ".join(_quoted(c) for c in self._columns("traffic"))
        where, params = _seq_range("t", source, start_seq, end_seq)
        return self._db.execute(f"SELECT {columns} FROM traffic t WHERE {where} ORDER BY seq", params).df()

    def labelled(self, source: str, start_seq: int | None = None, end_seq: int | None = None) -> pd.DataFrame:
        """Traffic rows joined with their labels (only rows that have labels), same bounds and order as :meth:`traffic`."""
        if not (self._exists("traffic") and self._exists("labels")):
            columns = ["seq"] + [c for t in TABLES if self._exists(t) for c in self._columns(t)[1:]]
            return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "seq" else "float64") for c in columns})
        selected = ", ".join(
            [f"t.{_quoted(c)}" for c in self._columns("traffic")]
            + [f"l.{_quoted(c)}" for c in self._columns("labels")[1:]]
        )
        where, params = _seq_range("t", source, start_seq, end_seq)
        query = f"SELECT {selected} FROM traffic t JOIN labels l USING (source, seq) WHERE {where} ORDER BY t.seq"
        return self._db.execute(query, params).df()

    def append_series(self, source: str, points: pd.DataFrame) -> int:
        """Store harmonised telemetry points under ``source`` (e.g. the Prometheus URL): columns ``entity``
        (``link``/``queue``/``flow``), ``entity_id`` (index in the Scenario), ``column`` (SI-named quantity),
        ``time_ms`` (sample time, Unix ms) and ``value``. A point whose key (source, entity, entity_id, column,
        time_ms) is stored already is ignored, so re-ingesting a range neither loses nor duplicates points; returns
        the number inserted."""
        missing = [c for c in SERIES_COLUMNS if c not in points.columns]
        if missing:
            raise DatasetError(self.path, f"series frame: missing column {missing[0]!r} (expected {SERIES_COLUMNS})")
        with self._transaction():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS series (source VARCHAR NOT NULL, entity VARCHAR NOT NULL, "
                'entity_id BIGINT NOT NULL, "column" VARCHAR NOT NULL, time_ms BIGINT NOT NULL, value DOUBLE, '
                'PRIMARY KEY (source, entity, entity_id, "column", time_ms))'
            ).fetchall()
            self._db.register(_INCOMING, points[list(SERIES_COLUMNS)])
            try:
                (inserted,) = self._db.execute(
                    f'INSERT OR IGNORE INTO series SELECT DISTINCT ON (entity, entity_id, "column", time_ms) ? AS '
                    f"source, * FROM {_INCOMING}",
                    [source],
                ).fetchall()[0]
            finally:
                self._db.unregister(_INCOMING)
        return int(inserted)

    def last_series_time_ms(self, source: str) -> int | None:
        """The latest ``time_ms`` stored for ``source``, or None if it has no points."""
        if not self._exists("series"):
            return None
        (value,) = self._db.execute("SELECT max(time_ms) FROM series WHERE source = ?", [source]).fetchall()[0]
        return None if value is None else int(value)

    def series(self, source: str) -> pd.DataFrame:
        """The telemetry points of ``source``, ordered by entity, id, column and time (``SERIES_COLUMNS``)."""
        if not self._exists("series"):
            return pd.DataFrame({c: [] for c in SERIES_COLUMNS})
        query = (
            'SELECT entity, entity_id, "column", time_ms, value FROM series WHERE source = ? '
            'ORDER BY entity, entity_id, "column", time_ms'
        )
        return self._db.execute(query, [source]).df()

    def put_state(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key`` (replacing the previous one)."""
        encoded = _encoded_states(self.path, {key: value})
        with self._transaction():
            self._write_states(encoded)

    def get_state(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        if not self._exists("state"):
            return default
        rows = self._db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchall()
        return json.loads(rows[0][0]) if rows else default

    def _append(self, table: str, source: str, frame: pd.DataFrame, state: dict[str, Any] | None) -> int:
        if not isinstance(source, str) or not source:
            raise DatasetError(self.path, f"{table}: source must be a non-empty string, got {source!r}")
        frame, types = self._checked_frame(table, frame)
        encoded_state = _encoded_states(self.path, state or {})
        with self._transaction():
            if not self._exists(table):
                columns = "".join(f", {_quoted(name)} {kind}" for name, kind in types.items() if name != "seq")
                key = "source VARCHAR NOT NULL, seq BIGINT NOT NULL"
                self._db.execute(f"CREATE TABLE {table} ({key}{columns}, PRIMARY KEY (source, seq))").fetchall()
            selected = ", ".join(_quoted(c) for c in frame.columns)
            self._db.register(_INCOMING, frame)
            try:
                (inserted,) = self._db.execute(
                    f"INSERT OR IGNORE INTO {table} SELECT ? AS source, {selected} FROM {_INCOMING}", [source]
                ).fetchall()[0]
            finally:
                self._db.unregister(_INCOMING)
            self._write_states(encoded_state)
        return int(inserted)

    def _checked_frame(self, table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
        """``frame`` in the table's column order (``seq`` first) without duplicate seqs, and its column types.

        Raises DatasetError if the frame does not fit the table's stored columns.
        """
        where = f"{table} frame"
        if not isinstance(frame, pd.DataFrame):
            raise DatasetError(self.path, f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
        names = [str(c) for c in frame.columns]
        if "seq" not in names:
            raise DatasetError(self.path, f"{where}: missing column 'seq' (expected integer sequence numbers)")
        if "source" in names:
            raise DatasetError(self.path, f"{where}: column 'source' is reserved (pass the source as an argument)")
        if len(set(names)) != len(names):
            raise DatasetError(self.path, f"{where}: duplicate column names in {names}")
        frame = frame.set_axis(names, axis=1)
        if not pd.api.types.is_integer_dtype(frame["seq"]) or frame["seq"].isna().any():
            got = frame["seq"].dtype
            raise DatasetError(self.path, f"{where}: column 'seq': expected integers without nulls, got {got}")
        types = {name: _duckdb_type(self.path, where, name, frame[name]) for name in names}
        if self._exists(table):
            stored = dict(self._describe(table))
            _check_columns(self.path, where, types, stored)
            order = list(stored)
        else:
            other = "labels" if table == "traffic" else "traffic"
            shared = sorted(set(names) & set(self._columns(other)) - {"seq"}) if self._exists(other) else []
            if shared:
                problem = f"column {shared[0]!r} is already a column of {other} (expected distinct names)"
                raise DatasetError(self.path, f"{where}: {problem}")
            order = ["seq"] + [c for c in names if c != "seq"]
        return frame[order].drop_duplicates("seq", keep="first"), {name: types[name] for name in order}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.begin()
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()

    def _write_states(self, encoded: dict[str, str]) -> None:
        for key, value in encoded.items():
            self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", [key, value]).fetchall()

    def _exists(self, table: str) -> bool:
        query = "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'"
        return bool(self._db.execute(query, [table]).fetchall()[0][0])

    def _describe(self, table: str) -> list[tuple[str, str]]:
        rows = self._db.execute(f"DESCRIBE {table}").fetchall()
        return [(row[0], row[1]) for row in rows if row[0] != "source"]

    def _columns(self, table: str) -> list[str]:
        """The table's columns without ``source``: ``seq`` first."""
        return [name for name, _ in self._describe(table)]


def _checked_table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"table: expected one of {TABLES}, got {table!r}")
    return table


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _seq_range(alias: str, source: str, start_seq: int | None, end_seq: int | None) -> tuple[str, list]:
    where, params = [f"{alias}.source = ?"], [source]
    if start_seq is not None:
        where.append(f"{alias}.seq >= ?")
        params.append(int(start_seq))
    if end_seq is not None:
        where.append(f"{alias}.seq < ?")
        params.append(int(end_seq))
    return " AND ".join(where), params


def _duckdb_type(path: Path, where: str, name: str, column: pd.Series) -> str:
    """The DuckDB type a frame column is stored as; DatasetError for types the store does not hold."""
    if pd.api.types.is_bool_dtype(column):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(column):
        return "BIGINT"
    if pd.api.types.is_float_dtype(column):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(column) and getattr(column.dtype, "tz", None) is None:
        return "TIMESTAMP"
    if pd.api.types.is_string_dtype(column) and column.dropna().map(lambda v: isinstance(v, str)).all():
        return "VARCHAR"
    expected = "bool, integer, float, text or naive datetime values"
    raise DatasetError(path, f"{where}: column {name!r}: expected {expected}, got {column.dtype}")


def _check_columns(path: Path, where: str, given: dict[str, str], stored: dict[str, str]) -> None:
    for name, kind in stored.items():
        if name not in given:
            raise DatasetError(path, f"{where}: missing column {name!r} (expected {kind}, as stored)")
        if given[name] != kind and not (given[name] == "BIGINT" and kind == "DOUBLE"):
            raise DatasetError(path, f"{where}: column {name!r}: expected {kind} (as stored), got {given[name]}")
    extra = sorted(set(given) - set(stored))
    if extra:
        raise DatasetError(path, f"{where}: unexpected column {extra[0]!r} (the stored columns are {sorted(stored)})")


def _encoded_states(path: Path, values: dict[str, Any]) -> dict[str, str]:
    encoded = {}
    for key, value in values.items():
        try:
            encoded[str(key)] = json.dumps(value)
        except (TypeError, ValueError) as error:
            raise DatasetError(path, f"state {key!r}: expected a JSON-serialisable value ({error})") from None
    return encoded
