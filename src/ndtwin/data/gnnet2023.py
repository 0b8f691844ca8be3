"""Reader of the GNNet Challenge 2023 real-testbed folds: a folder with ``flows.parquet`` and ``links.parquet``.

Columns and units are those of the dataset's README (one row per flow, one row per (sample, link)). Each sample
becomes a :class:`Sample` as follows.

* **Topology.** The data names every directed testbed link (an output port) by a per-sample ``link_id`` with its
  capacity in bit/s, but not the devices at its two ends. Paths re-enter the testbed's switches several times and
  about 6 % of flows cross the same 80 Gbit/s inter-switch link twice, which a Scenario (loop-free node paths, at
  most one link per node pair) cannot express with devices as nodes. So link ``l`` of the data is link ``l`` of
  the topology, between two nodes of its own (``l<l>.tx`` → ``l<l>.rx``); routers ``0..n-1`` (the flows' end
  points) are nodes ``0..n-1``. Each step of a path — router to first link, link to next link, last link to
  router — is a *connector* link of :data:`CONNECTOR_BPS` without propagation delay, whose load and delay
  (< 1e-10 s per hop for the largest packets) are negligible. Connectors come after the testbed links.
* **Repeated crossings.** The k-th crossing (k ≥ 2) of a link by one flow goes over replica ``k`` of that link
  (same capacity, shared by all flows that cross it a k-th time), placed between the testbed links and the
  connectors. In the data only 80 Gbit/s links are crossed twice, at loads of at most 11 %, so the queueing
  that moves from a link to its replica is in the nanoseconds.
* **Paths.** The link ids of a path must exist in the sample, and all flows of one (src, dst) pair must take
  the same path (a Scenario routes each pair once): both hold in every published fold; otherwise DatasetError.
  The data has no link end points, so a path cannot be checked further.
* **Traffic.** ``traffic_bps`` is the flow's mean rate. Time law: ``CBR`` → constant bit rate; ``MB``
  (multi-burst) has no burst parameters in the data, so it is read as Poisson. The original type of each flow is
  kept in ``meta["flow_type"]``. Packet size: fixed at ``packet_size_bits`` (only the mean is given). ToS 0.
* **Ports.** FIFO with :data:`~ndtwin.scenario.DEFAULT_PORT`'s buffer: the data gives no buffer size.
* **Labels.** ``delay_s`` (mean per-packet delay, s), ``offered_bps`` = ``traffic_bps``, ``pkts_per_s`` =
  ``packets_per_s``. Delay variance and loss are not measured: ``delay_var_s2`` and ``loss`` are NaN.

``meta``: ``sample_id`` ``"<dataset>/<fold>/<id>"`` (e.g. ``cbr_mb/fold3/1234``), ``source``
``"<folder>/flows.parquet:<id>"``, ``dataset``, ``fold``, ``gnnet_id``, ``flow_type`` (per flow),
``flow_type_counts``, ``n_testbed_links`` and ``replica_of`` (the testbed link id of each replica, in link order). Samples come in ``sample_id`` order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError
from ndtwin.scenario import (
    DEFAULT_PORT,
    Flow,
    Link,
    PacketSizeDistribution,
    Routing,
    Scenario,
    TimeDistribution,
    Topology,
    Traffic,
)

__all__ = ["CONNECTOR_BPS", "is_gnnet2023_fold", "read_gnnet2023"]

FLOWS = "flows.parquet"
LINKS = "links.parquet"
FLOW_COLUMNS = (
    "sample_id", "flow_id", "src_node", "dst_node", "flow_type",
    "traffic_bps", "packets_per_s", "packet_size_bits", "path_links", "delay_s",
)  # fmt: skip
LINK_COLUMNS = ("sample_id", "link_id", "capacity_bps")
CONNECTOR_BPS = 1e15
TIME_LAWS = {"CBR": TimeDistribution.cbr(), "MB": TimeDistribution.poisson()}


def is_gnnet2023_fold(path: str | Path) -> bool:
    """True if ``path`` is a folder holding both ``flows.parquet`` and ``links.parquet``."""
    path = Path(path)
    return (path / FLOWS).is_file() and (path / LINKS).is_file()


def read_gnnet2023(path: str | Path) -> Iterator[Sample]:
    """The samples of one fold folder, in ``sample_id`` order; DatasetError names the file and column at fault."""
    fold = _Fold.read(Path(path))
    flow_bounds = _bounds(fold.flow_sample)
    link_bounds = _bounds(fold.link_sample)
    missing = set(flow_bounds) ^ set(link_bounds)
    if missing:
        raise DatasetError(fold.root / LINKS, f"links of exactly the samples in {FLOWS}; sample {min(missing)} differs")
    for sample_id, flows in flow_bounds.items():
        yield fold.sample(sample_id, flows, link_bounds[sample_id])


def _bounds(sorted_ids: np.ndarray) -> dict[int, slice]:
    """Row range of each id in an array sorted by id."""
    ids, starts = np.unique(sorted_ids, return_index=True)
    ends = np.append(starts[1:], len(sorted_ids))
    return {int(i): slice(int(s), int(e)) for i, s, e in zip(ids, starts, ends)}


def _table(file: Path, columns: tuple[str, ...], order: tuple[str, str]) -> pa.Table:
    """The columns of a Parquet file sorted by ``order``; DatasetError if unreadable or a column is missing."""
    try:
        names = pq.read_schema(file).names
        missing = [name for name in columns if name not in names]
        if missing:
            raise DatasetError(file, f"missing column(s) {', '.join(missing)}")
        table = pq.read_table(file, columns=list(columns))
    except (OSError, pa.ArrowException) as error:
        raise DatasetError(file, f"unreadable Parquet file ({error})") from None
    return table.sort_by([(name, "ascending") for name in order])


def _numbers(file: Path, table: pa.Table, column: str, *, positive: bool = True) -> np.ndarray:
    """A numeric column as floats, all finite (and > 0 if ``positive``); DatasetError otherwise."""
    data = table.column(column)
    if not (pa.types.is_integer(data.type) or pa.types.is_floating(data.type)) or data.null_count:
        raise DatasetError(file, f"column {column}: expected numbers without nulls, got {data.type}")
    values = data.to_numpy().astype(float)
    bad = ~np.isfinite(values) | ((values <= 0) if positive else (values < 0))
    if bad.any():
        expected = "> 0" if positive else ">= 0"
        raise DatasetError(file, f"column {column}: expected finite values {expected}, got {values[bad][0]!r}")
    return values


@dataclass
class _Fold:
    """The columns of one fold, flows sorted by (sample_id, flow_id) and links by (sample_id, link_id)."""

    root: Path
    dataset: str
    fold: str
    flow_sample: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    flow_type: np.ndarray
    rate_bps: np.ndarray
    pkts_per_s: np.ndarray
    size_bits: np.ndarray
    delay_s: np.ndarray
    path_offset: np.ndarray
    path_links: np.ndarray
    link_sample: np.ndarray
    link_id: np.ndarray
    capacity_bps: np.ndarray

    @classmethod
    def read(cls, root: Path) -> _Fold:
        flows_file, links_file = root / FLOWS, root / LINKS
        flows = _table(flows_file, FLOW_COLUMNS, ("sample_id", "flow_id"))
        links = _table(links_file, LINK_COLUMNS, ("sample_id", "link_id"))
        flow_type = pc.cast(flows.column("flow_type"), pa.string()).to_numpy(zero_copy_only=False)
        unknown = sorted({str(t) for t in flow_type} - set(TIME_LAWS))
        if unknown:
            raise DatasetError(flows_file, f"column flow_type: expected one of {sorted(TIME_LAWS)}, got {unknown[0]!r}")
        paths = flows.column("path_links")
        if not pa.types.is_list(paths.type) or not pa.types.is_integer(paths.type.value_type) or paths.null_count:
            raise DatasetError(flows_file, f"column path_links: expected lists of link ids, got {paths.type}")
        lengths = pc.list_value_length(paths).to_numpy()
        if (lengths < 1).any():
            raise DatasetError(flows_file, "column path_links: expected non-empty paths")
        return cls(
            root=root,
            dataset=root.resolve().parent.name,
            fold=root.resolve().name,
            flow_sample=_numbers(flows_file, flows, "sample_id", positive=False).astype(np.int64),
            src=_numbers(flows_file, flows, "src_node", positive=False).astype(np.int64),
            dst=_numbers(flows_file, flows, "dst_node", positive=False).astype(np.int64),
            flow_type=flow_type,
            rate_bps=_numbers(flows_file, flows, "traffic_bps"),
            pkts_per_s=_numbers(flows_file, flows, "packets_per_s"),
            size_bits=_numbers(flows_file, flows, "packet_size_bits"),
            delay_s=_numbers(flows_file, flows, "delay_s"),
            path_offset=np.concatenate([[0], np.cumsum(lengths)]),
            path_links=paths.combine_chunks().flatten().to_numpy().astype(np.int64),
            link_sample=_numbers(links_file, links, "sample_id", positive=False).astype(np.int64),
            link_id=_numbers(links_file, links, "link_id", positive=False).astype(np.int64),
            capacity_bps=_numbers(links_file, links, "capacity_bps"),
        )

    def sample(self, sample_id: int, flows: slice, links: slice) -> Sample:
        """The Sample of one ``sample_id`` from its flow rows and link rows."""
        n_links = links.stop - links.start
        if not np.array_equal(self.link_id[links], np.arange(n_links)):
            raise DatasetError(self.root / LINKS, f"sample {sample_id}: column link_id: expected 0..{n_links - 1}")
        src, dst = self.src[flows], self.dst[flows]
        if (src == dst).any():
            raise DatasetError(self.root / FLOWS, f"sample {sample_id}: a flow with src_node == dst_node")
        paths = self._paths(sample_id, flows, n_links)
        topology, routing, replica_of = _network(int(max(src.max(), dst.max())) + 1, self.capacity_bps[links], paths)
        types = [str(t) for t in self.flow_type[flows]]
        traffic = Traffic(
            tuple(
                Flow(int(s), int(d), float(rate), 0, TIME_LAWS[kind], _fixed_size(float(size)))
                for s, d, rate, kind, size in zip(src, dst, self.rate_bps[flows], types, self.size_bits[flows])
            )
        )
        labels = pd.DataFrame(
            {
                "offered_bps": self.rate_bps[flows],
                "pkts_per_s": self.pkts_per_s[flows],
                "loss": np.nan,
                "delay_s": self.delay_s[flows],
                "delay_var_s2": np.nan,
            }
        )
        meta = {
            "sample_id": f"{self.dataset}/{self.fold}/{sample_id}",
            "source": f"{(self.root / FLOWS).as_posix()}:{sample_id}",
            "dataset": self.dataset,
            "fold": self.fold,
            "gnnet_id": sample_id,
            "flow_type": types,
            "flow_type_counts": {kind: types.count(kind) for kind in sorted(set(types))},
            "n_testbed_links": n_links,
            "replica_of": replica_of,
        }
        return Sample(Scenario(topology, routing, traffic), labels, meta=meta)

    def _paths(self, sample_id: int, flows: slice, n_links: int) -> dict[tuple[int, int], tuple[int, ...]]:
        """The link path of each (src, dst) pair; DatasetError for unknown link ids or pairs with two paths."""
        start, stop = self.path_offset[flows.start], self.path_offset[flows.stop]
        if ((self.path_links[start:stop] < 0) | (self.path_links[start:stop] >= n_links)).any():
            raise DatasetError(
                self.root / FLOWS, f"sample {sample_id}: column path_links: link ids < {n_links} expected"
            )
        paths: dict[tuple[int, int], tuple[int, ...]] = {}
        for row in range(flows.start, flows.stop):
            pair = (int(self.src[row]), int(self.dst[row]))
            path = tuple(self.path_links[self.path_offset[row] : self.path_offset[row + 1]].tolist())
            if paths.setdefault(pair, path) != path:
                raise DatasetError(
                    self.root / FLOWS, f"sample {sample_id}: flows of pair {pair[0]}→{pair[1]} take different paths"
                )
        return paths


def _network(
    n_routers: int, capacity_bps: np.ndarray, paths: dict[tuple[int, int], tuple[int, ...]]
) -> tuple[Topology, Routing, list[int]]:
    """Testbed links, replicas for repeated crossings and connectors; each pair's node path; the testbed link
    of each replica."""
    names = [str(r) for r in range(n_routers)]
    links = []

    def add_link(name: str, capacity: float) -> tuple[int, int]:
        tail, head = len(names), len(names) + 1
        names.extend((f"{name}.tx", f"{name}.rx"))
        links.append(Link(tail, head, capacity, port=DEFAULT_PORT))
        return tail, head

    ends = [add_link(f"l{lid}", float(c)) for lid, c in enumerate(capacity_bps)]
    replicas: dict[tuple[int, int], tuple[int, int]] = {}
    hops: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for pair, path in paths.items():
        seen: dict[int, int] = {}
        hops[pair] = []
        for lid in path:
            seen[lid] = crossing = seen.get(lid, 0) + 1
            if crossing > 1 and (lid, crossing) not in replicas:
                replicas[(lid, crossing)] = add_link(f"l{lid}#{crossing}", float(capacity_bps[lid]))
            hops[pair].append(ends[lid] if crossing == 1 else replicas[(lid, crossing)])
    connectors = set()
    node_paths = {}
    for (src, dst), ends_of_hops in hops.items():
        nodes = [src] + [node for hop in ends_of_hops for node in hop] + [dst]
        node_paths[(src, dst)] = tuple(nodes)
        connectors.update(zip(nodes[0::2], nodes[1::2]))
    links.extend(Link(u, v, CONNECTOR_BPS, port=DEFAULT_PORT) for u, v in sorted(connectors))
    return Topology(tuple(names), tuple(links)), Routing(node_paths), [lid for lid, _ in replicas]


@lru_cache(maxsize=4096)
def _fixed_size(size_bits: float) -> PacketSizeDistribution:
    return PacketSizeDistribution.fixed(size_bits)
