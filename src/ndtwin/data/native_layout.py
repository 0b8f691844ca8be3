"""On-disk layout of a native dataset: the manifest, the tables and their columns, and atomic part files.

A dataset is a folder with ``dataset.json`` and one sub-folder per table. Each table is a set of part files
``part-NNNNN.parquet``; parts with the same number across tables form one chunk of samples. The ``samples``
part of a chunk is written last, so a chunk counts only once its ``samples`` part exists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.errors import DatasetError

FORMAT_NAME = "ndtwin-dataset"
SCHEMA_VERSION = 1
MANIFEST = "dataset.json"
SAMPLES = "samples"
META_JSON = "meta_json"

_ID = pa.field("sample_id", pa.string(), nullable=False)
_INT = pa.int32()
_FLOAT = pa.float64()

# Fixed columns of every table; label columns follow them in the entity tables.
SCHEMAS: dict[str, pa.Schema] = {
    "nodes": pa.schema([_ID, ("node", _INT), ("name", pa.string())]),
    "links": pa.schema(
        [
            _ID,
            ("link_id", _INT),
            ("src", _INT),
            ("dst", _INT),
            ("capacity_bps", _FLOAT),
            ("prop_delay_s", _FLOAT),
            ("weight", _FLOAT),
            ("scheduling", pa.string()),
            ("buffer_unit", pa.string()),
            ("buffers", pa.list_(_FLOAT)),
            ("weights", pa.list_(_FLOAT)),
            ("tos_to_queue", pa.list_(_INT)),
        ]
    ),
    "queues": pa.schema([_ID, ("queue_id", _INT), ("link_id", _INT), ("queue_index", _INT)]),
    "flows": pa.schema(
        [
            _ID,
            ("flow_id", _INT),
            ("src", _INT),
            ("dst", _INT),
            ("tos", _INT),
            ("rate_bps", _FLOAT),
            ("time_kind", pa.string()),
            ("time_params", pa.map_(pa.string(), _FLOAT)),
            ("size_kind", pa.string()),
            ("sizes_bits", pa.list_(_FLOAT)),
            ("size_probs", pa.list_(_FLOAT)),
            ("path", pa.list_(_INT)),
        ]
    ),
    "routes": pa.schema([_ID, ("src", _INT), ("dst", _INT), ("path", pa.list_(_INT))]),
    SAMPLES: pa.schema(
        [
            _ID,
            ("source", pa.string()),
            ("sim_time_s", _FLOAT),
            ("flow_label_columns", pa.list_(pa.string())),
            ("link_label_columns", pa.list_(pa.string())),
            ("queue_label_columns", pa.list_(pa.string())),
        ]
    ),
}

# Tables in the order a chunk is written: ``samples`` last.
TABLES: tuple[str, ...] = ("nodes", "links", "queues", "flows", "routes", SAMPLES)
ENTITY_TABLES: tuple[str, ...] = TABLES[:-1]

# Column numbering the rows of one sample 0..n-1 in each entity table (routes are keyed by src and dst).
ENTITY_ID: dict[str, str | None] = {
    "nodes": "node",
    "links": "link_id",
    "queues": "queue_id",
    "flows": "flow_id",
    "routes": None,
}


@dataclass(frozen=True)
class LabelTable:
    """Where one kind of label lives: table, Sample attribute, samples column listing its columns, standard names."""

    table: str
    attribute: str
    columns_field: str
    standard: tuple[str, ...]


LABEL_TABLES: tuple[LabelTable, ...] = (
    LabelTable("flows", "flow_labels", "flow_label_columns", FLOW_LABELS),
    LabelTable("links", "link_labels", "link_label_columns", LINK_LABELS),
    LabelTable("queues", "queue_labels", "queue_label_columns", QUEUE_LABELS),
)

# Columns of the samples table that are not sample meta.
NON_META_COLUMNS: frozenset[str] = frozenset({META_JSON, *(label.columns_field for label in LABEL_TABLES)})

_PART_NAME = re.compile(r"^part-(\d+)\.parquet$")


def part_path(root: Path, table: str, part: int) -> Path:
    return root / table / f"part-{part:05d}.parquet"


def part_numbers(root: Path, table: str = SAMPLES) -> list[int]:
    """Numbers of the complete part files of ``table``, ascending (temporary files are not parts)."""
    folder = root / table
    if not folder.is_dir():
        return []
    matches = (_PART_NAME.match(entry.name) for entry in folder.iterdir())
    return sorted(int(match.group(1)) for match in matches if match)


def read_manifest(root: Path) -> dict[str, Any]:
    """The validated content of ``dataset.json``; DatasetError if missing, unreadable or of a newer schema."""
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(path, f"missing: {root} is not an ndtwin dataset")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(path, f"not readable as JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise DatasetError(path, f'expected a JSON object with "format": "{FORMAT_NAME}"')
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DatasetError(path, f"expected an integer schema_version >= 1, got {version!r}")
    if version > SCHEMA_VERSION:
        raise DatasetError(path, f"schema_version {version} is newer than this ndtwin supports ({SCHEMA_VERSION})")
    return manifest


def create_manifest(root: Path, provenance: dict[str, Any]) -> None:
    """Write a new ``dataset.json`` (atomically) with the current UTC time as ``created``."""
    manifest = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "provenance": provenance_as_json(provenance, root / MANIFEST),
    }
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=2)
    _replace_atomically(root / MANIFEST, lambda file: file.write(text.encode("utf-8")))


def provenance_as_json(provenance: dict[str, Any], where: Path) -> dict[str, Any]:
    """``provenance`` as it reads back from JSON (tuples become lists); DatasetError if not serialisable."""
    try:
        return json.loads(json.dumps(provenance))
    except (TypeError, ValueError) as err:
        raise DatasetError(where, f"provenance must be JSON-serialisable ({err})") from None


def write_part(root: Path, table: str, part: int, data: pa.Table) -> None:
    """Write one part file under a temporary name, make it durable, then rename it into place."""
    path = part_path(root, table, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, lambda file: pq.write_table(data, file))


def read_part(root: Path, table: str, part: int, columns: list[str] | None = None) -> pa.Table:
    """One part file; DatasetError naming the file if it is missing, unreadable or lacks the table's columns."""
    path = part_path(root, table, part)
    if not path.is_file():
        raise DatasetError(path, f"missing: part {part} of '{SAMPLES}' exists but this part of '{table}' does not")
    try:
        data = pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(path, f"not a readable Parquet file ({err})") from None
    # Everything in the samples table but the id is optional: it is sample meta or label bookkeeping.
    expected = ["sample_id"] if table == SAMPLES else SCHEMAS[table].names
    required = [name for name in expected if columns is None or name in columns]
    missing = [name for name in required if name not in data.column_names]
    if missing:
        raise DatasetError(path, f"missing columns {missing} of the '{table}' table")
    return data


def _replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX only; elsewhere the rename alone is used)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
