"""Open any supported dataset (native Parquet or a BNN-UPC datanetAPI tree) as a stream of Samples."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ndtwin.data.datanet import ReadReport, is_datanet_tree, read_datanet
from ndtwin.data.native import is_native_dataset, read_dataset
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError


def dataset_kind(path: str | Path) -> str:
    """``"native"`` or ``"datanet"``; DatasetError if the path is neither."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such file or directory")
    if is_native_dataset(path):
        return "native"
    if is_datanet_tree(path):
        return "datanet"
    raise DatasetError(
        path, "expected a native ndtwin dataset (dataset.json) or a datanetAPI tree (graphs/ and routings/ dirs)"
    )


def open_samples(path: str | Path, report: ReadReport | None = None) -> Iterator[Sample]:
    """Samples of the dataset at ``path``; skipped and unreadable parts are recorded in ``report``."""
    if dataset_kind(path) == "native":
        return read_dataset(path)
    return read_datanet(path, report)
