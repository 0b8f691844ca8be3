"""``ndtwin atlas import``: RIPE Atlas results → tidy Parquet tables under one folder.

Layout of OUT: ``pings/part-NNNNN.parquet`` (one row per ping result), ``traceroutes/part-NNNNN.parquet`` (one row
per hop reply), one part per source file, plus ``report.json`` (counts, bad lines) and, when the source holds the
MENOG study's design files, ``probes.parquet`` and ``targets.parquet`` (see :mod:`ndtwin.atlas.study`).
The folder is written beside OUT and renamed into place at the end, so a failed import leaves OUT as it was.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ndtwin.atlas.parse import BadResult, OtherType, check_fields, ping_row, traceroute_rows
from ndtwin.atlas.read import BadRecord, Record, iter_records, result_files
from ndtwin.atlas.study import write_study_tables
from ndtwin.errors import DatasetError
from ndtwin.parallel import ordered_map

PING_SCHEMA = pa.schema(
    [
        ("msm_id", pa.int64()),
        ("prb_id", pa.int64()),
        ("timestamp", pa.int64()),
        ("dst_addr", pa.string()),
        ("from_addr", pa.string()),
        ("fw", pa.int32()),
        ("sent", pa.int32()),
        ("received", pa.int32()),
        ("duplicates", pa.int32()),
        ("errors", pa.int32()),
        ("loss_share", pa.float64()),
        ("rtt_min_s", pa.float64()),
        ("rtt_median_s", pa.float64()),
        ("rtt_max_s", pa.float64()),
        ("jitter_s", pa.float64()),
    ]
)
HOP_SCHEMA = pa.schema(
    [
        ("msm_id", pa.int64()),
        ("prb_id", pa.int64()),
        ("timestamp", pa.int64()),
        ("dst_addr", pa.string()),
        ("reached", pa.bool_()),
        ("hop", pa.int32()),
        ("reply", pa.int32()),
        ("from_addr", pa.string()),
        ("rtt_s", pa.float64()),
        ("ttl", pa.int32()),
        ("timeout", pa.bool_()),
        ("late", pa.bool_()),
        ("dup", pa.bool_()),
        ("icmp_error", pa.string()),
        ("private", pa.bool_()),
    ]
)
CHUNK_ROWS = 200_000  # rows buffered before they are written
MAX_LISTED = 50  # bad lines listed one by one in the report; all of them are counted


@dataclass
class ImportReport:
    """What an import read, wrote and skipped."""

    files: int = 0
    pings: int = 0
    traceroutes: int = 0
    hop_replies: int = 0
    bad_lines: int = 0
    other_types: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def merge(self, other: ImportReport) -> None:
        """Add another file's counts to these."""
        self.files += other.files
        self.pings += other.pings
        self.traceroutes += other.traceroutes
        self.hop_replies += other.hop_replies
        self.bad_lines += other.bad_lines
        for kind, count in other.other_types.items():
            self.other_types[kind] = self.other_types.get(kind, 0) + count
        self.problems.extend(other.problems[: max(0, MAX_LISTED - len(self.problems))])

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def import_results(src: Path, out: Path, *, workers: int = 1) -> ImportReport:
    """Read every result under ``src`` and write the tables to ``out`` (replaced only when all went well)."""
    files = result_files(Path(src))
    out = Path(out)
    staging = out.with_name(out.name + ".importing")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "pings").mkdir(parents=True)
    (staging / "traceroutes").mkdir()
    report = ImportReport()
    try:
        jobs = [(path, staging, index) for index, path in enumerate(files)]
        for _, file_report in ordered_map(_import_file, jobs, workers=max(1, min(workers, len(jobs)))):
            report.merge(file_report)
        if report.pings + report.traceroutes == 0:
            raise DatasetError(src, "no ping or traceroute results found")
        write_study_tables(Path(src), staging)
        (staging / "report.json").write_text(json.dumps(report.as_dict(), indent=1))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return report


class _PartWriter:
    """Rows of one table appended in chunks to one Parquet part, so a large file never sits in memory whole."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.rows: list[dict] = []
        self.count = 0
        self._writer: pq.ParquetWriter | None = None

    def flush(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()


def _import_file(job: tuple[Path, Path, int]) -> ImportReport:
    path, staging, index = job
    report = ImportReport(files=1)
    name = f"part-{index:05d}.parquet"
    pings = _PartWriter(staging / "pings" / name, PING_SCHEMA)
    hops = _PartWriter(staging / "traceroutes" / name, HOP_SCHEMA)
    first_problem: str | None = None
    try:
        for item in iter_records(path):
            problem = _add(item, pings.rows, hops.rows, report)
            if problem is not None:
                report.bad_lines += 1
                first_problem = first_problem or problem
                if len(report.problems) < MAX_LISTED:
                    report.problems.append(problem)
            if len(pings.rows) + len(hops.rows) >= CHUNK_ROWS:
                pings.flush()
                hops.flush()
    finally:
        pings.close()
        hops.close()
    if not pings.count and not hops.count and report.bad_lines:
        raise DatasetError(
            path, f"no RIPE Atlas ping or traceroute result in this file; first problem: {first_problem}"
        )
    report.pings = pings.count
    report.hop_replies = hops.count
    return report


def _add(item: Record | BadRecord, pings: list[dict], hops: list[dict], report: ImportReport) -> str | None:
    """Append the rows of one record; the problem (``file:line: why``) if it is unusable."""
    if isinstance(item, BadRecord):
        return str(item)
    try:
        kind = check_fields(item.data)
        if kind == "ping":
            pings.append(ping_row(item.data))
        else:
            hops.extend(traceroute_rows(item.data))
            report.traceroutes += 1
    except OtherType as other:
        report.other_types[str(other)] = report.other_types.get(str(other), 0) + 1
    except (BadResult, TypeError, ValueError, AttributeError, KeyError) as error:
        return f"{item.path}:{item.line}: {error}"
    return None


def read_table(out: Path, name: str):
    """One imported table (``pings`` or ``traceroutes``) as a pandas DataFrame, with a clear error if absent."""
    folder = Path(out) / name
    if not folder.is_dir():
        raise DatasetError(out, f"no '{name}' table: expected the output folder of 'ndtwin atlas import'")
    schema = PING_SCHEMA if name == "pings" else HOP_SCHEMA
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table().to_pandas()
    return pq.read_table(parts, schema=schema).to_pandas()
