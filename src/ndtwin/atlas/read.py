"""Stream raw RIPE Atlas result objects from ``.json`` (array or object), ``.jsonl``, ``.jsonl.gz`` or a directory.

Every yielded item names its file and line (for a JSON array: its 1-based element index), so a bad record can be
reported where it is. Lines that are not JSON objects come out as :class:`BadRecord`; a file that cannot be read to
its end (a truncated gzip) raises :class:`~ndtwin.errors.DatasetError` naming the file and line reached.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ndtwin.errors import DatasetError

RESULT_SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json")
# Study-design files that sit beside the results of the MENOG study: metadata, not results.
METADATA_FILES = frozenset(
    {"probes_derived.json", "working_speedtest_servers.json", "all_speedtest_servers.json", "countries.json"}
)


@dataclass(frozen=True)
class Record:
    """One raw result object and where it came from."""

    path: Path
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class BadRecord:
    """A line that could not be used, with the reason."""

    path: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def result_files(src: Path) -> list[Path]:
    """The result files under ``src`` (a file or a directory, searched recursively), sorted."""
    src = Path(src)
    if src.is_file():
        if not src.name.endswith(RESULT_SUFFIXES):
            raise DatasetError(src, f"expected a file ending in {', '.join(RESULT_SUFFIXES)}")
        return [src]
    if not src.is_dir():
        raise DatasetError(src, "no such file or directory")
    files = sorted(
        p for p in src.rglob("*") if p.is_file() and p.name.endswith(RESULT_SUFFIXES) and p.name not in METADATA_FILES
    )
    if not files:
        raise DatasetError(src, f"no RIPE Atlas result files ({', '.join(RESULT_SUFFIXES)}) in this directory")
    return files


def iter_records(path: Path) -> Iterator[Record | BadRecord]:
    """The result objects of one file, in file order."""
    path = Path(path)
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        yield from _iter_lines(path)
    else:
        yield from _iter_document(path)


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _iter_lines(path: Path) -> Iterator[Record | BadRecord]:
    number = 0
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):  # noqa: B007 - number is reported after the loop
                if not line.strip():
                    continue
                yield _decode(path, number, line)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as error:
        raise DatasetError(path, f"unreadable after line {number}: {error} (truncated or corrupt file?)") from None


def _decode(path: Path, number: int, line: str) -> Record | BadRecord:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        return BadRecord(path, number, f"not JSON ({error.msg} at column {error.colno})")
    if not isinstance(data, dict):
        return BadRecord(path, number, f"expected a JSON object, got {type(data).__name__}")
    return Record(path, number, data)


def _iter_document(path: Path) -> Iterator[Record | BadRecord]:
    try:
        with _open_text(path) as handle:
            document = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(path, f"line {error.lineno}: not JSON ({error.msg})") from None
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as error:
        raise DatasetError(path, f"unreadable: {error} (truncated or corrupt file?)") from None
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield Record(path, index, item)
        else:
            yield BadRecord(path, index, f"expected a JSON object, got {type(item).__name__}")
