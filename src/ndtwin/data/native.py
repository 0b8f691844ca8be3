"""ndtwin's native dataset format: a folder of Parquet tables, safe to append to and to interrupt.

Layout and columns: docs/NATIVE_FORMAT.md (and ``native_layout``). Writing is chunked: every chunk of samples
becomes one new part file per table, the ``samples`` part last, each renamed into place only when complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ndtwin.data.native_decode import read_chunk
from ndtwin.data.native_encode import EncodedSample, concat_chunk, encode_sample, sample_id_of
from ndtwin.data.native_layout import (
    FORMAT_NAME,
    MANIFEST,
    SAMPLES,
    SCHEMA_VERSION,
    TABLES,
    create_manifest,
    part_numbers,
    provenance_as_json,
    read_manifest,
    read_part,
    write_part,
)
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError

__all__ = [
    "SCHEMA_VERSION",
    "DatasetWriter",
    "dataset_info",
    "is_native_dataset",
    "read_dataset",
    "sample_ids",
    "write_dataset",
]


def is_native_dataset(path: str | Path) -> bool:
    """True if ``path`` is a folder whose ``dataset.json`` declares the ndtwin dataset format (any version)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME


class DatasetWriter:
    """Writes samples to a native dataset, creating it or appending to it. Use as a context manager.

    Samples are buffered and written ``chunk_size`` at a time as new part files; ``close`` (or leaving the
    ``with`` block, also on error) writes the rest. A new dataset's ``dataset.json`` is written with its first
    part (or by ``close`` when no sample came): a run that fails before its first sample leaves nothing behind.
    Only one writer may work on a dataset at a time.
    """

    def __init__(self, path: str | Path, *, provenance: dict[str, Any] | None = None, chunk_size: int = 64) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an integer >= 1, got {chunk_size!r}")
        self.path = Path(path)
        self.chunk_size = chunk_size
        self._provenance = provenance or {}
        self._new = _is_new_target(self.path, provenance)
        self._ids = set() if self._new else sample_ids(self.path)
        self._next_part = max(part_numbers(self.path), default=-1) + 1
        self._pending: list[tuple[str, EncodedSample]] = []
        self._closed = False

    def write(self, sample: Sample) -> None:
        """Queue one sample; DatasetError if its id is missing or already in the dataset."""
        if self._closed:
            raise DatasetError(self.path, "this writer is closed")
        sample_id = sample_id_of(sample, self.path)
        if sample_id in self._ids:
            raise DatasetError(self.path, f"sample id {sample_id!r} is already in the dataset")
        self._pending.append((sample_id, encode_sample(sample, sample_id, self.path)))
        self._ids.add(sample_id)
        if len(self._pending) >= self.chunk_size:
            self._flush()

    def close(self) -> None:
        """Write the queued samples. Further writes are refused."""
        if not self._closed:
            self._flush()
            self._create()
            self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None and self._new and not self._pending:
            self._closed = True  # failed before any sample: no empty dataset is left behind
            return
        self.close()

    def _create(self) -> None:
        if self._new:
            create_manifest(self.path, self._provenance)
            self._new = False

    def _flush(self) -> None:
        if not self._pending:
            return
        self._create()
        pending, self._pending = self._pending, []
        try:
            tables = concat_chunk([encoded for _, encoded in pending], self.path)
            for table in TABLES:
                write_part(self.path, table, self._next_part, tables[table])
        except BaseException:
            self._ids.difference_update(sample_id for sample_id, _ in pending)
            raise
        self._next_part += 1


def write_dataset(samples: Iterable[Sample], path: str | Path, *, provenance: dict[str, Any] | None = None) -> int:
    """Write (or append) ``samples`` to the dataset at ``path``; returns how many were written."""
    count = 0
    with DatasetWriter(path, provenance=provenance) as writer:
        for sample in samples:
            writer.write(sample)
            count += 1
    return count


def read_dataset(path: str | Path) -> Iterator[Sample]:
    """The samples of a dataset one by one, in written order. The manifest is checked before returning."""
    root = Path(path)
    read_manifest(root)
    return (sample for part in part_numbers(root) for sample in read_chunk(root, part))


def sample_ids(path: str | Path) -> set[str]:
    """Ids of the samples present (complete) in the dataset."""
    root = Path(path)
    read_manifest(root)
    return {sample_id for part in part_numbers(root) for sample_id in _part_ids(root, SAMPLES, part).to_pylist()}


def dataset_info(path: str | Path) -> dict[str, Any]:
    """Counts of samples, flows and links (of complete samples), with the manifest's version and provenance."""
    root = Path(path)
    manifest = read_manifest(root)
    counts = {"n_samples": 0, "n_flows": 0, "n_links": 0}
    for part in part_numbers(root):
        present = _part_ids(root, SAMPLES, part).combine_chunks()
        counts["n_samples"] += len(present)
        for table in ("flows", "links"):
            in_samples = pc.is_in(_part_ids(root, table, part), value_set=present)
            counts[f"n_{table}"] += pc.sum(in_samples).as_py() or 0
    return {
        **counts,
        "schema_version": manifest["schema_version"],
        "created": manifest.get("created"),
        "provenance": manifest.get("provenance", {}),
    }


def _part_ids(root: Path, table: str, part: int) -> pa.ChunkedArray:
    return read_part(root, table, part, columns=["sample_id"]).column("sample_id")


def _is_new_target(path: Path, provenance: dict[str, Any] | None) -> bool:
    """True if ``path`` is new or an empty folder (a dataset to create), False if it is a dataset that may be
    appended to with ``provenance``; DatasetError otherwise."""
    if (path / MANIFEST).exists():
        stored = read_manifest(path).get("provenance", {})
        if provenance is not None and provenance_as_json(provenance, path / MANIFEST) != stored:
            raise DatasetError(
                path / MANIFEST, f"the dataset's provenance is {stored!r}; append with the same provenance or None"
            )
        return False
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        problem = "exists but is not an ndtwin dataset (no dataset.json); expected a new or empty folder"
        raise DatasetError(path, problem)
    provenance_as_json(provenance or {}, path / MANIFEST)  # refuse what cannot be stored before any work
    return True
