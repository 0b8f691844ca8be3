"""Arrow tables of the native format back to Samples, one chunk (one part of every table) at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ndtwin.data.native_layout import (
    ENTITY_ID,
    ENTITY_TABLES,
    LABEL_TABLES,
    META_JSON,
    NON_META_COLUMNS,
    SAMPLES,
    SCHEMAS,
    LabelTable,
    part_path,
    read_part,
)
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError
from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    TimeDistribution,
    Topology,
    Traffic,
)

_LINK_FIELDS = ("src", "dst", "capacity_bps", "prop_delay_s", "weight")
_PORT_FIELDS = ("scheduling", "buffers", "buffer_unit", "weights", "tos_to_queue")
_FLOW_FIELDS = ("src", "dst", "rate_bps", "tos", "time_kind", "time_params", "size_kind", "sizes_bits", "size_probs")


class _GroupedPart:
    """One part of an entity table with its rows sorted by sample (then entity id) and each sample's row range."""

    def __init__(self, data: pa.Table, entity: str | None, path: Path) -> None:
        encoded = data.column("sample_id").combine_chunks().dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        sample_ids = encoded.dictionary.to_pylist()
        order = np.lexsort((codes,) if entity is None else (data.column(entity).to_numpy(), codes))
        starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(sample_ids)))])
        self.data = data.take(order)
        self._ranges = {sample_id: (int(starts[i]), int(starts[i + 1])) for i, sample_id in enumerate(sample_ids)}
        self._columns: dict[str, list[Any]] = {}
        if entity is not None:
            sorted_codes = codes[order]
            row_in_sample = np.arange(len(order)) - starts[sorted_codes]
            wrong = np.flatnonzero(self.data.column(entity).to_numpy() != row_in_sample)
            if wrong.size:
                culprit = sample_ids[sorted_codes[wrong[0]]]
                raise DatasetError(path, f"'{entity}' of sample {culprit!r} is not numbered 0..n-1")

    def values(self, sample_id: str, column: str) -> list[Any]:
        """The values of ``column`` in the sample's rows, in entity order."""
        if column not in self._columns:
            self._columns[column] = self.data.column(column).to_pylist()
        return self._columns[column][self._rows(sample_id)]

    def rows(self, sample_id: str) -> pa.Table:
        rows = self._rows(sample_id)
        return self.data.slice(rows.start, rows.stop - rows.start)

    def _rows(self, sample_id: str) -> slice:
        return slice(*self._ranges.get(sample_id, (0, 0)))


def read_chunk(root: Path, part: int) -> Iterator[Sample]:
    """The samples of one chunk in written order; rows of other tables for samples not listed are ignored."""
    samples = read_part(root, SAMPLES, part)
    tables = {
        name: _GroupedPart(read_part(root, name, part), ENTITY_ID[name], part_path(root, name, part))
        for name in ENTITY_TABLES
    }
    listed_labels = {label.table: label.columns_field in samples.column_names for label in LABEL_TABLES}
    for row in samples.to_pylist():
        sample_id = row["sample_id"]
        try:
            sample = _decode_sample(row, tables, listed_labels)
        except (KeyError, TypeError, ValueError) as err:
            problem = f"sample {sample_id!r} is inconsistent: {err}"
            raise DatasetError(part_path(root, SAMPLES, part), problem) from None
        yield sample


def _decode_sample(row: dict[str, Any], tables: dict[str, _GroupedPart], listed_labels: dict[str, bool]) -> Sample:
    sample_id = row["sample_id"]
    topology = _topology(sample_id, tables["nodes"], tables["links"])
    routes = _zip(tables["routes"], sample_id, ("src", "dst", "path"))
    routing = Routing({(src, dst): tuple(path) for src, dst, path in routes})
    scenario = Scenario(topology, routing, _traffic(sample_id, tables["flows"]))
    labels = {}
    for label in LABEL_TABLES:
        part = tables[label.table]
        if listed_labels[label.table]:
            columns = row[label.columns_field]
        else:
            columns = _valued_label_columns(part, sample_id, label)
        labels[label.attribute] = None if columns is None else part.rows(sample_id).select(columns).to_pandas()
    return Sample(scenario, meta=_meta(row), **labels)


def _zip(part: _GroupedPart, sample_id: str, columns: tuple[str, ...]) -> zip:
    return zip(*(part.values(sample_id, column) for column in columns))


def _topology(sample_id: str, nodes: _GroupedPart, links: _GroupedPart) -> Topology:
    decoded = []
    for src, dst, capacity, delay, weight, scheduling, buffers, unit, weights, tos_to_queue in _zip(
        links, sample_id, _LINK_FIELDS + _PORT_FIELDS
    ):
        weights = None if weights is None else tuple(weights)
        port = PortConfig(scheduling, tuple(buffers), unit, weights, tuple(tos_to_queue))
        decoded.append(Link(src, dst, capacity, delay, weight, port))
    return Topology(tuple(nodes.values(sample_id, "name")), tuple(decoded))


def _traffic(sample_id: str, flows: _GroupedPart) -> Traffic:
    decoded = []
    for src, dst, rate, tos, time_kind, time_params, size_kind, sizes, probs in _zip(flows, sample_id, _FLOW_FIELDS):
        time = _time_distribution(time_kind, tuple(time_params or ()))
        decoded.append(Flow(src, dst, rate, tos, time, _size_distribution(size_kind, tuple(sizes), tuple(probs))))
    return Traffic(tuple(decoded))


# Flows share few distinct laws, and the laws are immutable: validate each distinct one once.
@lru_cache(maxsize=4096)
def _time_distribution(kind: str, params: tuple[tuple[str, float], ...]) -> TimeDistribution:
    return TimeDistribution(kind, dict(params))


@lru_cache(maxsize=4096)
def _size_distribution(kind: str, sizes: tuple[float, ...], probs: tuple[float, ...]) -> PacketSizeDistribution:
    """The stored law, validated (stored probabilities already sum to 1 and are kept exactly)."""
    return PacketSizeDistribution(sizes, probs, kind)


def _valued_label_columns(part: _GroupedPart, sample_id: str, label: LabelTable) -> list[str] | None:
    """For samples rows that do not list their label columns: the label columns with a value in this sample.

    None (no labels) for links and queues when no column has a value; flows always have a label frame.
    """
    rows = part.rows(sample_id)
    fixed = SCHEMAS[label.table].names
    columns = [name for name in rows.column_names if name not in fixed and rows.column(name).null_count < rows.num_rows]
    return columns if columns or label.table == "flows" else None


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = {key: value for key, value in row.items() if key not in NON_META_COLUMNS and value is not None}
    if row.get(META_JSON):
        meta.update(json.loads(row[META_JSON]))
    return meta
