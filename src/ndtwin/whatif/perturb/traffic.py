"""Traffic perturbations: scale, add or remove flows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ndtwin.errors import check_int, check_number
from ndtwin.scenario import Flow, Routing, Scenario, Traffic
from ndtwin.whatif.perturb.base import Node, Outcome, Perturbation, keep_flows, node_of


def _selection(p: Perturbation, scenario: Scenario, flows: tuple[int, ...] | None,
               pairs: tuple[tuple[Node, Node], ...] | None, tos: tuple[int, ...] | None) -> np.ndarray:  # fmt: skip
    """Mask of the flows matching every given criterion (flow indices, (src, dst) pairs, ToS values)."""
    n = scenario.n_flows
    mask = np.ones(n, dtype=bool)
    if flows is not None:
        chosen = np.zeros(n, dtype=bool)
        for i in flows:
            chosen[check_int(f"{type(p).__name__}.flows", i, maximum=n - 1)] = True
        mask &= chosen
    if pairs is not None:
        wanted = {
            (node_of(p, scenario.topology, "pairs", s), node_of(p, scenario.topology, "pairs", d)) for s, d in pairs
        }
        mask &= np.array([(f.src, f.dst) in wanted for f in scenario.traffic.flows], dtype=bool)
    if tos is not None:
        mask &= np.isin(scenario.traffic.tos, list(tos))
    if not mask.any():
        raise p._error("flows/pairs/tos", "a selection matching at least one flow", (flows, pairs, tos))
    return mask


def _scope(p: Perturbation) -> list[str]:
    """The flow selection criteria a perturbation was given, as text."""
    return [f"{name} {getattr(p, name)}" for name in ("flows", "pairs", "tos") if getattr(p, name) is not None]


@dataclass(frozen=True)
class ScaleTraffic(Perturbation):
    """Multiply the rate of flows by ``factor``: all flows, or those matching ``flows`` (indices), ``pairs``
    ((src, dst) node pairs) and ``tos`` (ToS values) — every given criterion must match."""

    factor: float
    flows: tuple[int, ...] | None = None
    pairs: tuple[tuple[Node, Node], ...] | None = None
    tos: tuple[int, ...] | None = None
    kind: ClassVar[str] = "traffic_scale"

    def __post_init__(self) -> None:
        check_number("ScaleTraffic.factor", self.factor, minimum=0, strict=True)

    def describe(self) -> str:
        scope = _scope(self)
        return f"traffic ×{self.factor:g}" + (f" ({', '.join(scope)})" if scope else "")

    def _outcome(self, scenario: Scenario) -> Outcome:
        mask = _selection(self, scenario, self.flows, self.pairs, self.tos)
        flows = tuple(
            replace(f, rate_bps=f.rate_bps * self.factor) if m else f for f, m in zip(scenario.traffic.flows, mask)
        )
        return Outcome(replace(scenario, traffic=Traffic(flows)), np.arange(scenario.n_flows))


@dataclass(frozen=True)
class AddFlows(Perturbation):
    """Append flows; a new (src, dst) pair is routed over a shortest path, existing pairs keep their path."""

    flows: tuple[Flow, ...]
    kind: ClassVar[str] = "add_flows"

    def __post_init__(self) -> None:
        object.__setattr__(self, "flows", tuple(self.flows))
        if not self.flows:
            raise self._error("flows", "at least one flow")

    def describe(self) -> str:
        return f"add {len(self.flows)} flow(s)"

    def _outcome(self, scenario: Scenario) -> Outcome:
        n = scenario.topology.n_nodes
        for i, flow in enumerate(self.flows):
            if not isinstance(flow, Flow):
                raise self._error(f"flows[{i}]", "a Flow", type(flow).__name__)
            for end in ("src", "dst"):
                check_int(f"AddFlows.flows[{i}].{end}", getattr(flow, end), maximum=n - 1)
        traffic = Traffic(scenario.traffic.flows + self.flows)
        new_pairs = [pair for pair in Traffic(self.flows).pairs() if pair not in scenario.routing.paths]
        paths = dict(scenario.routing.paths) | dict(Routing.shortest_paths(scenario.topology, new_pairs).paths)
        origin = np.concatenate([np.arange(scenario.n_flows), np.full(len(self.flows), -1)])
        return Outcome(Scenario(scenario.topology, Routing(paths), traffic), origin)


@dataclass(frozen=True)
class RemoveFlows(Perturbation):
    """Remove the flows matching ``flows`` (indices), ``pairs`` and ``tos`` (every given criterion must match)."""

    flows: tuple[int, ...] | None = None
    pairs: tuple[tuple[Node, Node], ...] | None = None
    tos: tuple[int, ...] | None = None
    kind: ClassVar[str] = "remove_flows"

    def __post_init__(self) -> None:
        if self.flows is None and self.pairs is None and self.tos is None:
            raise self._error("flows/pairs/tos", "at least one selection criterion")

    def describe(self) -> str:
        scope = _scope(self)
        return f"remove flows ({', '.join(scope)})"

    def _outcome(self, scenario: Scenario) -> Outcome:
        mask = _selection(self, scenario, self.flows, self.pairs, self.tos)
        if mask.all():
            raise self._error("flows/pairs/tos", "a selection that leaves at least one flow", int(mask.sum()))
        return Outcome(keep_flows(scenario, ~mask), np.flatnonzero(~mask))
