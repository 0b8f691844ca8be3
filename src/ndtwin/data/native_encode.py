"""Samples to the Arrow tables of the native format: one row per node, link, queue, flow, route and sample."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ndtwin.data.native_layout import LABEL_TABLES, META_JSON, NON_META_COLUMNS, SAMPLES, SCHEMAS, TABLES, LabelTable
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError
from ndtwin.scenario import Routing, Scenario, Topology

EncodedSample = dict[str, pa.Table]

# Meta values stored as typed columns of the samples table; other values go to its ``meta_json`` column.
_SCALAR_META = (str, bool, int, float, date)


def sample_id_of(sample: Sample, where: Path) -> str:
    """The sample's ``meta["sample_id"]`` as a string; DatasetError if it is not a Sample or has no id."""
    if not isinstance(sample, Sample):
        raise DatasetError(where, f"expected a Sample to write, got {type(sample).__name__}")
    sample_id = sample.meta.get("sample_id")
    if sample_id is None or str(sample_id) == "":
        raise DatasetError(where, "a sample needs a non-empty meta['sample_id'] to be stored")
    return str(sample_id)


def encode_sample(sample: Sample, sample_id: str, where: Path) -> EncodedSample:
    """The rows of one sample in every table; DatasetError naming the sample if something cannot be stored."""
    scenario = sample.scenario
    try:
        tables = {
            "nodes": _nodes(sample_id, scenario.topology),
            "links": _links(sample_id, scenario.topology),
            "queues": _queues(sample_id, scenario),
            "flows": _flows(sample_id, scenario),
            "routes": _routes(sample_id, scenario.routing),
            SAMPLES: _sample_row(sample_id, sample),
        }
        for label in LABEL_TABLES:
            tables[label.table] = _with_labels(tables[label.table], getattr(sample, label.attribute), label)
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise DatasetError(where, f"sample {sample_id!r} cannot be stored: {err}") from None
    return tables


def concat_chunk(samples: Sequence[EncodedSample], where: Path) -> dict[str, pa.Table]:
    """Each table's rows for a chunk of encoded samples; label or meta columns missing in a sample become null."""
    chunk = {}
    for table in TABLES:
        try:
            chunk[table] = pa.concat_tables([sample[table] for sample in samples], promote_options="permissive")
        except pa.ArrowException as err:
            ids = [sample[SAMPLES].column("sample_id")[0].as_py() for sample in samples]
            problem = f"a column of the '{table}' table has different types in samples {ids} of one chunk: {err}"
            raise DatasetError(where, problem) from None
    return chunk


def _table(name: str, sample_id: str, rows: int, columns: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pydict({"sample_id": [sample_id] * rows, **columns}, schema=SCHEMAS[name])


def _nodes(sample_id: str, topology: Topology) -> pa.Table:
    n = topology.n_nodes
    return _table("nodes", sample_id, n, {"node": list(range(n)), "name": list(topology.node_names)})


def _links(sample_id: str, topology: Topology) -> pa.Table:
    links = topology.links
    ports = [link.port for link in links]
    columns = {
        "link_id": list(range(len(links))),
        "src": [link.src for link in links],
        "dst": [link.dst for link in links],
        "capacity_bps": [link.capacity_bps for link in links],
        "prop_delay_s": [link.prop_delay_s for link in links],
        "weight": [link.weight for link in links],
        "scheduling": [port.scheduling.value for port in ports],
        "buffer_unit": [port.buffer_unit for port in ports],
        "buffers": [list(port.buffers) for port in ports],
        "weights": [None if port.weights is None else list(port.weights) for port in ports],
        "tos_to_queue": [list(port.tos_to_queue) for port in ports],
    }
    return _table("links", sample_id, len(links), columns)


def _queues(sample_id: str, scenario: Scenario) -> pa.Table:
    queues = scenario.queues
    n = len(queues.link)
    columns = {"queue_id": np.arange(n), "link_id": queues.link, "queue_index": queues.index}
    return _table("queues", sample_id, n, columns)


def _flows(sample_id: str, scenario: Scenario) -> pa.Table:
    flows = scenario.traffic.flows
    columns = {
        "flow_id": list(range(len(flows))),
        "src": [flow.src for flow in flows],
        "dst": [flow.dst for flow in flows],
        "tos": [flow.tos for flow in flows],
        "rate_bps": [flow.rate_bps for flow in flows],
        "time_kind": [flow.time.kind.value for flow in flows],
        "time_params": [dict(flow.time.params) for flow in flows],
        "size_kind": [flow.size.kind.value for flow in flows],
        "sizes_bits": [list(flow.size.sizes_bits) for flow in flows],
        "size_probs": [list(flow.size.probs) for flow in flows],
        "path": [list(scenario.routing.path(flow.src, flow.dst)) for flow in flows],
    }
    return _table("flows", sample_id, len(flows), columns)


def _routes(sample_id: str, routing: Routing) -> pa.Table:
    pairs = list(routing.paths.items())
    columns = {
        "src": [src for (src, _), _ in pairs],
        "dst": [dst for (_, dst), _ in pairs],
        "path": [list(path) for _, path in pairs],
    }
    return _table("routes", sample_id, len(pairs), columns)


def _sample_row(sample_id: str, sample: Sample) -> pa.Table:
    scalars, nested = _split_meta(sample.meta)
    fixed = {"source": [scalars.pop("source", None)], "sim_time_s": [scalars.pop("sim_time_s", None)]}
    for label in LABEL_TABLES:
        frame = getattr(sample, label.attribute)
        fixed[label.columns_field] = [None if frame is None else [str(name) for name in frame.columns]]
    row = _table(SAMPLES, sample_id, 1, fixed)
    for key, value in scalars.items():
        row = row.append_column(key, pa.array([value]))
    return row.append_column(META_JSON, pa.array([json.dumps(nested) if nested else None], pa.string()))


def _split_meta(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Meta without its id and None values, split into scalar values and JSON-serialisable others."""
    scalars, nested = {}, {}
    for key, value in meta.items():
        if key == "sample_id" or value is None:
            continue
        if key in NON_META_COLUMNS:
            raise ValueError(f"meta key {key!r} is reserved by the samples table")
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, _SCALAR_META):
            scalars[key] = value
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError(f"meta[{key!r}] is neither a scalar nor JSON-serialisable: {value!r}") from None
        nested[key] = value
    return scalars, nested


def _with_labels(table: pa.Table, frame: pd.DataFrame | None, label: LabelTable) -> pa.Table:
    """``table`` with the standard label columns (float64, null where not measured), then any other labels."""
    labels = {} if frame is None else _label_arrays(frame)
    for name in label.standard:
        column = labels[name].cast(pa.float64()) if name in labels else pa.nulls(table.num_rows, pa.float64())
        table = table.append_column(name, column)
    for name, column in labels.items():
        if name in label.standard:
            continue
        if name in table.column_names:
            raise ValueError(f"label column {name!r} clashes with a column of the '{label.table}' table")
        table = table.append_column(name, column)
    return table


def _label_arrays(frame: pd.DataFrame) -> dict[str, pa.Array]:
    """The frame's columns as Arrow arrays (NaN becomes null); all-float frames, the usual case, in one step."""
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"label columns must have distinct names, got {names}")
    if all(dtype == np.float64 for dtype in frame.dtypes):
        matrix = frame.to_numpy()
        return {name: pa.array(matrix[:, j], from_pandas=True) for j, name in enumerate(names)}
    return {name: pa.array(series) for name, (_, series) in zip(names, frame.items())}
