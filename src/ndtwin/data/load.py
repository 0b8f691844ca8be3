"""Open any supported dataset (native Parquet, a BNN-UPC datanetAPI tree or a GNNet 2023 fold) as Samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ndtwin.data.datanet import ReadReport, is_datanet_tree, read_datanet
from ndtwin.data.gnnet2023 import is_gnnet2023_fold, read_gnnet2023
from ndtwin.data.native import is_native_dataset, read_dataset
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError


def dataset_kind(path: str | Path) -> str:
    """``"native"``, ``"datanet"`` or ``"gnnet2023"``; DatasetError if the path is none of them."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such file or directory")
    if is_native_dataset(path):
        return "native"
    if is_datanet_tree(path):
        return "datanet"
    if is_gnnet2023_fold(path):
        return "gnnet2023"
    raise DatasetError(
        path,
        "expected a native ndtwin dataset (dataset.json), a datanetAPI tree (graphs/ and routings/ dirs)"
        " or a GNNet 2023 fold (flows.parquet and links.parquet)",
    )


def open_samples(path: str | Path, report: ReadReport | None = None) -> Iterator[Sample]:
    """Samples of the dataset at ``path``; skipped and unreadable parts are recorded in ``report``."""
    kind = dataset_kind(path)
    if kind == "native":
        return read_dataset(path)
    if kind == "gnnet2023":
        return read_gnnet2023(path)
    return read_datanet(path, report)
