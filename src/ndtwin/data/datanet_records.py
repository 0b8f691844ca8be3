"""One sample's line of each datanetAPI result file, parsed (FORMAT.md §3, §6–§8).

Parsers raise ValueError naming the cell (``cell k (pair s→d)``); the caller adds the file and line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby

import numpy as np
import pandas as pd

from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.errors import check_int, check_number
from ndtwin.scenario import (
    BNN_TIME_CODES,
    Flow,
    PacketSizeDistribution,
    SizeKind,
    TimeDistribution,
    TimeKind,
    Topology,
)

# Time code -> (number of fields of the flow's own rates, names of the law parameters after them). FORMAT.md §6.2.
# The own rates are EqLambda and, where present, the packet rate derived from it; they are not kept.
_TIME_FIELDS: dict[int, tuple[int, tuple[str, ...]]] = {
    0: (2, ("exp_max_factor",)),  # EqLambda, AvgPktsLambda | ExpMaxFactor
    1: (2, ()),  # EqLambda, AvgPktsLambda
    2: (1, ("min_pkts_per_s", "max_pkts_per_s")),  # EqLambda | MinPktLambda, MaxPktLambda
    3: (2, ("std_pkts_per_s",)),  # EqLambda, AvgPktsLambda | StdDev
    4: (2, ("off_s", "on_s", "exp_max_factor")),  # EqLambda, PktsLambdaOn | AvgTOff (before AvgTOn!), AvgTOn, …
    5: (1, ("burst_gen_per_s", "burst_bitrate_bps", "pareto_min", "pareto_max", "pareto_alpha", "exp_max_factor")),
    6: (1, ()),  # EqLambda
}
# Size code -> number of fields including the code; GENERIC (3) carries its own count K. FORMAT.md §6.3.
_SIZE_FIELDS: dict[int, int] = {0: 2, 1: 4, 2: 4}
_GENERIC_SIZE = 3

# The 11 fields of a simulationResults record (FORMAT.md §7.2), as flow-label columns; AvgBw is in kbit/s.
_RECORD_COLUMNS = (
    "offered_bps",
    "pkts_per_s",
    "drops_per_s",
    "delay_s",
    "log_delay_mean",
    "delay_p10_s",
    "delay_p20_s",
    "delay_p50_s",
    "delay_p80_s",
    "delay_p90_s",
    "delay_var_s2",
)
_GLOBALS = ("global_packets", "global_losses", "global_delay")  # simulationResults header
_PORT_FIELDS = 3  # utilization, losses, avgPacketSize
_QUEUE_FIELDS = 5  # utilization, losses, avgPortOccupancy, maxQueueOccupancy, avgPacketSize
# Label columns built from a linkUsage cell: the port fields as they are; the queue fields per _queue_row.
_PORT_COLUMNS = ("utilization", "loss", "avg_pkt_bits")
_QUEUE_COLUMNS = (
    "utilization",
    "loss",
    "avg_occupancy_bits",
    "max_occupancy_bits",
    "max_occupancy_pkts",
    "avg_pkt_bits",
)


@dataclass(frozen=True)
class TrafficLine:
    """A traffic.txt line: the intensity header and the flows, with the cell index each came from."""

    max_avg_lambda_bps: float
    flows: tuple[Flow, ...]
    flow_cells: tuple[int, ...]


@dataclass(frozen=True)
class ResultsLine:
    """A simulationResults.txt line: the three network-wide values and one 11-field record per cell."""

    global_pkts_per_s: float
    global_drops_per_s: float
    global_delay_s: float
    records: np.ndarray  # (N², 11)


def parse_traffic(line: str, n_nodes: int) -> TrafficLine:
    """``maxAvgLambda|cell;cell;…;`` with ``:``-separated flows per cell; no-traffic cells give no flow."""
    header, body = _split_header(line, "maxAvgLambda")
    max_avg_lambda = check_number("maxAvgLambda", header, minimum=0)
    flows, flow_cells = [], []
    for k, cell in enumerate(_cells(body, n_nodes)):
        if cell.startswith("-1,"):
            continue
        src, dst = divmod(k, n_nodes)
        try:
            if src == dst:
                raise ValueError("a flow from a node to itself")
            for text in cell.split(":"):
                flows.append(_flow(text, src, dst))
                flow_cells.append(k)
        except IndexError:
            raise ValueError(f"{_cell_name(k, n_nodes)}: too few fields in {cell!r}") from None
        except ValueError as err:
            raise ValueError(f"{_cell_name(k, n_nodes)}: {err}") from None
    return TrafficLine(max_avg_lambda, tuple(flows), tuple(flow_cells))


def parse_results(line: str, n_nodes: int) -> ResultsLine:
    """``packets,losses,delay|record;record;…;`` with one 11-field aggregate record per ordered pair."""
    header, body = _split_header(line, "the global values")
    values = header.split(",")
    if len(values) != len(_GLOBALS):
        raise ValueError(f"header: expected {len(_GLOBALS)} global values, got {header!r}")
    packets, drops, delay = (check_number(name, value) for name, value in zip(_GLOBALS, values))
    return ResultsLine(packets, drops, delay, _record_matrix(_cells(body, n_nodes), lambda k: _cell_name(k, n_nodes)))


def flow_records_from_file(line: str, n_nodes: int, flow_cells: tuple[int, ...]) -> np.ndarray:
    """Per-flow records from a flowSimulationResults.txt line (no header, ``:`` between the flows of a cell)."""
    cells = _cells(line, n_nodes)
    records = []
    for k, group in groupby(flow_cells):
        parts = cells[k].split(":")
        expected = len(list(group))
        if len(parts) != expected:
            raise ValueError(f"{_cell_name(k, n_nodes)}: {len(parts)} flow records, traffic.txt has {expected} flows")
        records.extend(parts)
    return _record_matrix(records, lambda i: f"record of flow {i} ({_cell_name(flow_cells[i], n_nodes)})")


def flow_label_frame(records: np.ndarray) -> pd.DataFrame:
    """Flow labels from 11-field records (one row per flow), in FLOW_LABELS order; ``ipdv_s`` is not measured."""
    frame = pd.DataFrame(records, columns=list(_RECORD_COLUMNS))
    frame["offered_bps"] *= 1000.0
    generated = frame["pkts_per_s"].to_numpy()
    frame["loss"] = np.divide(
        frame["drops_per_s"].to_numpy(), generated, out=np.full(len(frame), np.nan), where=generated > 0
    )
    return frame[[name for name in FLOW_LABELS if name in frame.columns]]


def parse_link_usage(line: str, topology: Topology) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link labels (topology order) and queue labels (global queue order) from a linkUsage.txt line.

    Occupancies in packets (``queueSizes`` nodes) are turned into bits with the queue's mean packet size.
    """
    n_nodes = topology.n_nodes
    cells = _cells(line, n_nodes)
    ports, queues = [], []
    for link in topology.links:
        k = link.src * n_nodes + link.dst
        try:
            port, port_queues = _usage_cell(cells[k], link.port.n_queues)
        except ValueError as err:
            raise ValueError(f"{_cell_name(k, n_nodes)}: {err}") from None
        ports.append(port)
        queues.extend(_queue_row(values, link.port.buffer_unit) for values in port_queues)
    link_frame = pd.DataFrame(np.reshape(ports, (-1, len(_PORT_COLUMNS))), columns=list(_PORT_COLUMNS))
    queue_frame = pd.DataFrame(np.reshape(queues, (-1, len(_QUEUE_COLUMNS))), columns=list(_QUEUE_COLUMNS))
    return link_frame[list(LINK_LABELS)], queue_frame[list(QUEUE_LABELS)]


def _flow(text: str, src: int, dst: int) -> Flow:
    """One flow record: time code, its parameters, size code, its parameters, then the ToS."""
    code_text, _, rest = text.partition(",")
    time_code = _int("time code", code_text)
    if BNN_TIME_CODES.get(time_code) is TimeKind.EXTERNAL:
        raise ValueError("time code 7 (external python generator) is not supported")
    if time_code not in _TIME_FIELDS:
        raise ValueError(f"unknown time code {code_text!r}")
    n_own = _TIME_FIELDS[time_code][0]
    own = rest.split(",", n_own)
    if len(own) <= n_own:
        raise ValueError(f"too few fields in {text!r}")
    time, size, tos = _shared_laws(time_code, own[-1])
    return Flow(src, dst, _positive("EqLambda", own[0]), tos, time, size)


@lru_cache(maxsize=4096)
def _shared_laws(time_code: int, tail: str) -> tuple[TimeDistribution, PacketSizeDistribution, int]:
    """Time law, size law and ToS from the fields after a flow's own rates; many flows share them."""
    n_own, names = _TIME_FIELDS[time_code]
    fields = tail.split(",")
    size_at = len(names)
    size_code = _int("size code", fields[size_at])
    if size_code == _GENERIC_SIZE:
        n_size_fields = 3 + 2 * _int("generic size count", fields[size_at + 2], minimum=1)
    elif size_code in _SIZE_FIELDS:
        n_size_fields = _SIZE_FIELDS[size_code]
    else:
        raise ValueError(f"size code {fields[size_at]!r} is not supported")
    tos_at = size_at + n_size_fields
    if len(fields) != tos_at + 1:
        expected, got = 2 + n_own + tos_at, 1 + n_own + len(fields)
        raise ValueError(f"{got} fields, expected {expected} (the ToS right after the size parameters)")
    params = {name: float(value) for name, value in zip(names, fields)}
    if BNN_TIME_CODES[time_code] is TimeKind.ONOFF:
        params["periodic_on"] = (
            1.0  # how that simulator's ON-OFF sources send (SIM_SEMANTICS §3.2, docs/SIM_FIDELITY.md)
        )
    time = TimeDistribution(BNN_TIME_CODES[time_code], params)
    return time, _size_law(size_code, fields[size_at + 1 : tos_at]), _int("ToS", fields[tos_at])


def _size_law(code: int, params: list[str]) -> PacketSizeDistribution:
    """Size law from the fields after the size code; AvgPktSize (params[0]) is ignored, it may be truncated."""
    values = [float(value) for value in params]
    if code == 0:
        return PacketSizeDistribution.fixed(values[0])
    if code == 1:
        return PacketSizeDistribution.uniform(values[1], values[2])
    if code == 2:
        return PacketSizeDistribution((values[1], values[2]), (0.5, 0.5), SizeKind.BINOMIAL)
    return PacketSizeDistribution.discrete(values[2::2], values[3::2])


def _int(what: str, text: str, minimum: int = 0) -> int:
    """``int(text)`` on the fast path; check_int (which also takes ``10.0`` and explains errors) otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    return value if value >= minimum else check_int(what, text, minimum=minimum)


def _positive(what: str, text: str) -> float:
    """``float(text)`` when it is finite and > 0; check_number's explanation otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    return value if 0 < value < math.inf else check_number(what, text, minimum=0, strict=True)


def _usage_cell(cell: str, n_queues: int) -> tuple[list[float], list[list[float]]]:
    """Port fields and per-queue fields of a linkUsage cell, 2022 (``port:queue:…``) or 2021 (flat) layout."""
    if cell == "-1":
        raise ValueError("'-1' (no link), but the graph has this link")
    if ":" in cell:
        parts = cell.split(":")
        port, queue_parts = parts[0].split(","), [part.split(",") for part in parts[1:]]
    else:
        fields = cell.split(",")
        port, rest = fields[:_PORT_FIELDS], fields[_PORT_FIELDS:]
        queue_parts = [rest[i : i + _QUEUE_FIELDS] for i in range(0, len(rest), _QUEUE_FIELDS)]
    if len(port) != _PORT_FIELDS or len(queue_parts) != n_queues or any(len(q) != _QUEUE_FIELDS for q in queue_parts):
        expected = f"{_PORT_FIELDS} port fields and {n_queues} queue(s) of {_QUEUE_FIELDS}"
        raise ValueError(f"expected {expected}, got {cell!r}")
    return [float(v) for v in port], [[float(v) for v in queue] for queue in queue_parts]


def _queue_row(values: list[float], buffer_unit: str) -> list[float]:
    """A _QUEUE_COLUMNS row; occupancies in packets × the queue's mean packet size give bits (SIM_SEMANTICS §9.2)."""
    utilization, loss, avg_occupancy, max_occupancy, avg_pkt_bits = values
    if buffer_unit == "packets":
        return [utilization, loss, avg_occupancy * avg_pkt_bits, np.nan, max_occupancy, avg_pkt_bits]
    return [utilization, loss, avg_occupancy, max_occupancy, np.nan, avg_pkt_bits]


def _record_matrix(records: list[str], name: Callable[[int], str]) -> np.ndarray:
    """``(len(records), 11)`` floats from comma-separated records; errors give ``name(i)`` of the bad record."""
    width = len(_RECORD_COLUMNS)
    for i, record in enumerate(records):
        if record.count(",") != width - 1:
            raise ValueError(f"{name(i)}: expected {width} fields, got {record!r}")
    try:
        return np.array(",".join(records).split(","), dtype=float).reshape(len(records), width)
    except ValueError:
        for i, record in enumerate(records):
            try:
                np.array(record.split(","), dtype=float)
            except ValueError:
                raise ValueError(f"{name(i)}: expected numbers, got {record!r}") from None
        raise


def _split_header(line: str, what: str) -> tuple[str, str]:
    header, sep, body = line.partition("|")
    if not sep:
        raise ValueError(f"no '|' after {what}")
    return header, body


def _cells(body: str, n_nodes: int) -> list[str]:
    """The N² cells of a line body, which ends with a trailing ``;``."""
    cells = body.rstrip().split(";")
    if cells[-1] == "":
        cells.pop()
    if len(cells) != n_nodes * n_nodes:
        raise ValueError(f"{len(cells)} cells, expected {n_nodes * n_nodes} ({n_nodes} nodes squared)")
    return cells


def _cell_name(k: int, n_nodes: int) -> str:
    src, dst = divmod(k, n_nodes)
    return f"cell {k} (pair {src}→{dst})"
