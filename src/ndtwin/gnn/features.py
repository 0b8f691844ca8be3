"""Scenario → tensors for the GNN: raw per-flow, per-queue and per-link features, hop indices, readout scales and
the hops' physical bounds.

Features are physical quantities, log-compressed where they span decades; ``normalize`` standardises them.
A batch is the disjoint union of several samples (``collate``): flows, queues, links and hops are renumbered.
Hops are stored position-major (all first hops, then all second hops, …) so the path GRU runs one step per
position, and within a position in ``path_order`` (flows by decreasing path length, as in a packed sequence):
the flows still active at position k are then the first ones of ``path_order``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import pairwise

import numpy as np
import torch

from ndtwin.scenario import MAX_QUEUES, Scenario, Scheduling, TimeKind
from ndtwin.twin.qt import QueueReading, solve_network

N_TOS = 3  # ToS values beyond are folded into the last class
TIME_KINDS = (TimeKind.POISSON, TimeKind.CBR, TimeKind.ONOFF)  # any other law sets the "other" column
SCHEDULINGS = tuple(Scheduling)

FLOW_FEATURES: tuple[str, ...] = (
    "log_rate_bps",
    "log_pkts_per_s",
    "log_mean_size_bits",
    "size_cv2",
    *(f"tos_{t}" for t in range(N_TOS)),
    *(f"time_{k.value}" for k in TIME_KINDS),
    "time_other",
    "log1p_on_s",
    "log1p_off_s",
    "on_fraction",
)
QUEUE_FEATURES: tuple[str, ...] = (
    "log_buffer_bits",
    "log1p_buffer_pkts",
    *(f"priority_{q}" for q in range(MAX_QUEUES)),
    "weight_share",
    *(f"sched_{s.value}" for s in SCHEDULINGS),
    "offered_load",
    "qt_load",
    "log_qt_blocking",
    "log1p_qt_wait_pkts",
    "idle",
)
LINK_FEATURES: tuple[str, ...] = (
    "log_capacity_bps",
    "log1p_prop_delay_ms",
    "offered_load",
    "n_queues",
    *(f"sched_{s.value}" for s in SCHEDULINGS),
)

_TINY = 1e-12


@dataclass
class GraphTensors:
    """One sample or a batch of them. Hop arrays are position-major (see module doc)."""

    flow_x: torch.Tensor  # (F, len(FLOW_FEATURES))
    queue_x: torch.Tensor  # (Q, len(QUEUE_FEATURES))
    link_x: torch.Tensor  # (L, len(LINK_FEATURES))
    hop_flow: torch.Tensor  # (H,) long
    hop_queue: torch.Tensor  # (H,) long
    hop_position: torch.Tensor  # (H,) long, non-decreasing
    path_order: torch.Tensor  # (F,) long: flow ids by decreasing path length
    hop_tx_s: torch.Tensor  # (H,) the flow's mean packet transmission time on the hop's link
    hop_pkt_s: torch.Tensor  # (H,) the queue's mean packet transmission time (scale of waiting)
    hop_prop_s: torch.Tensor  # (H,) propagation delay of the hop's link
    hop_wait_max_s: torch.Tensor  # (H,) physical bound of the hop's mean wait (ndtwin.scenario.bounds)
    hop_var_max_s2: torch.Tensor  # (H,) the hop's share of its flow's delay-variance bound
    queue_link: torch.Tensor  # (Q,) long
    queue_index: torch.Tensor  # (Q,) long, priority index within the port

    @property
    def n_flows(self) -> int:
        return self.flow_x.shape[0]

    def position_slices(self) -> list[slice]:
        """Hop ranges of each position 0, 1, …; the hops of range k belong to ``path_order[:len(range k)]``."""
        return _group_slices(self.hop_position)

    def priority_slices(self) -> tuple[torch.Tensor, list[slice]]:
        """Queue ids ordered by priority index, and the ranges of each index 0, 1, …"""
        order = torch.argsort(self.queue_index, stable=True)
        return order, _group_slices(self.queue_index[order])


def _group_slices(sorted_keys: torch.Tensor) -> list[slice]:
    counts = torch.bincount(sorted_keys).tolist() if sorted_keys.numel() else []
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    return [slice(a, b) for a, b in pairwise(bounds)]


def _one_hot(values: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[np.minimum(values, n - 1)]


def flow_features(scenario: Scenario) -> np.ndarray:
    """(F, len(FLOW_FEATURES)) raw flow features."""
    traffic = scenario.traffic
    flows = traffic.flows
    mean, second = traffic.mean_size_bits, traffic.second_moment_bits2
    kind_index = {kind: i for i, kind in enumerate(TIME_KINDS)}
    kinds = np.array([kind_index.get(f.time.kind, len(TIME_KINDS)) for f in flows], dtype=np.int64)
    on = np.array([f.time.params.get("on_s", 0.0) for f in flows])
    off = np.array([f.time.params.get("off_s", 0.0) for f in flows])
    on_fraction = np.where(kinds == TIME_KINDS.index(TimeKind.ONOFF), on / np.maximum(on + off, _TINY), 1.0)
    return np.column_stack(
        [
            np.log(traffic.rate_bps),
            np.log(traffic.rate_bps / mean),
            np.log(mean),
            np.maximum(second / mean**2 - 1.0, 0.0),
            _one_hot(traffic.tos, N_TOS),
            _one_hot(kinds, len(TIME_KINDS) + 1),
            np.log1p(on),
            np.log1p(off),
            on_fraction,
        ]
    )


def _scheduling_one_hot(scenario: Scenario, links: np.ndarray) -> np.ndarray:
    codes = np.array([SCHEDULINGS.index(link.port.scheduling) for link in scenario.topology.links], dtype=np.int64)
    return _one_hot(codes[links], len(SCHEDULINGS)) if len(links) else np.zeros((0, len(SCHEDULINGS)))


def queue_and_link_features(
    scenario: Scenario, reading: QueueReading = QueueReading()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw queue features (Q, ·), link features (L, ·) and each queue's mean packet size (bits).

    Loads come from the queueing-theory baseline's fixed point: ``offered_load`` is the bit rate arriving at the
    queue (offered traffic thinned by upstream losses) over the link capacity; ``qt_load`` the M/M/1/K load over
    the queue's service capacity under its port's scheduling; then the M/M/1/K blocking and mean wait in packets.
    """
    topo = scenario.topology
    solution = solve_network(scenario, bounded=False, reading=reading)  # only the queue states are used
    setup, state = solution.setup, solution.queues
    capacity = setup.link_capacity_bps
    pkt_bits = state.mean_pkt_bits
    buffer_bits = np.where(setup.buffer_in_bits, setup.buffer, setup.buffer * pkt_bits)
    offered = state.arrivals.bps / capacity
    wait_pkts = state.waiting_s * capacity / pkt_bits
    queue_x = np.column_stack(
        [
            np.log(np.maximum(buffer_bits, 1.0)),
            np.log1p(buffer_bits / pkt_bits),
            _one_hot(setup.index, MAX_QUEUES),
            setup.weight_share,
            _scheduling_one_hot(scenario, setup.link),
            offered,
            np.minimum(state.load, 10.0),
            np.log(np.maximum(state.blocking, 1e-9)),
            np.log1p(wait_pkts),
            (state.arrivals.pkts_per_s <= 0).astype(float),
        ]
    )
    link_load = np.bincount(setup.link, weights=offered, minlength=topo.n_links)
    n_queues = np.bincount(setup.link, minlength=topo.n_links)
    link_x = np.column_stack(
        [
            np.log(topo.capacity_bps),
            np.log1p(topo.prop_delay_s * 1e3),
            link_load,
            n_queues,
            _scheduling_one_hot(scenario, np.arange(topo.n_links)),
        ]
    )
    return queue_x, link_x, pkt_bits


def featurize(scenario: Scenario, reading: QueueReading = QueueReading()) -> GraphTensors:
    """All tensors of one scenario (features not yet normalised); ``reading``: the model's reading of the ports
    (``ndtwin.twin.qt.QueueReading``)."""
    hops, queues, topo = scenario.hops, scenario.queues, scenario.topology
    queue_x, link_x, queue_pkt_bits = queue_and_link_features(scenario, reading)
    bounds = scenario.bounds
    flow, queue, link = hops.flow, hops.queue, hops.link
    capacity = topo.capacity_bps[link]

    def as_float(a):
        return torch.as_tensor(np.asarray(a, dtype=np.float32))

    def as_long(a):
        return torch.as_tensor(np.asarray(a, dtype=np.int64))

    return _with_path_order(
        flow_x=as_float(flow_features(scenario)),
        queue_x=as_float(queue_x),
        link_x=as_float(link_x),
        hop_flow=as_long(flow),
        hop_queue=as_long(queue),
        hop_position=as_long(hops.position),
        hop_tx_s=as_float(scenario.traffic.mean_size_bits[flow] / capacity),
        hop_pkt_s=as_float(queue_pkt_bits[queue] / capacity),
        hop_prop_s=as_float(topo.prop_delay_s[link]),
        hop_wait_max_s=as_float(bounds.hop_wait_s),
        hop_var_max_s2=as_float(bounds.hop_delay_var_s2),
        queue_link=as_long(queues.link),
        queue_index=as_long(queues.index),
    )


def _with_path_order(**arrays) -> GraphTensors:
    """GraphTensors with ``path_order`` set and the hop arrays sorted by (position, rank in ``path_order``)."""
    n_flows = arrays["flow_x"].shape[0]
    length = torch.bincount(arrays["hop_flow"], minlength=n_flows)
    path_order = torch.argsort(-length, stable=True)
    rank = torch.empty_like(path_order)
    rank[path_order] = torch.arange(n_flows)
    order = torch.argsort(arrays["hop_position"] * n_flows + rank[arrays["hop_flow"]])
    hops = {name: value[order] for name, value in arrays.items() if name.startswith("hop_")}
    return GraphTensors(**{**arrays, **hops}, path_order=path_order)


def collate(graphs: Sequence[GraphTensors]) -> GraphTensors:
    """Disjoint union of several samples, hops re-sorted (see ``_with_path_order``)."""
    if len(graphs) == 1:
        return graphs[0]
    shift = {"hop_flow": "flow_x", "hop_queue": "queue_x", "queue_link": "link_x"}
    parts: dict[str, list[torch.Tensor]] = {f.name: [] for f in fields(GraphTensors) if f.name != "path_order"}
    offsets = {"flow_x": 0, "queue_x": 0, "link_x": 0}
    for graph in graphs:
        for name, values in parts.items():
            value = getattr(graph, name)
            values.append(value + offsets[shift[name]] if name in shift else value)
        for name in offsets:
            offsets[name] += getattr(graph, name).shape[0]
    return _with_path_order(**{name: torch.cat(values) for name, values in parts.items()})
