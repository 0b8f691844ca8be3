"""Port perturbations: scheduling policy, weights, buffers and ToS-to-queue maps of output ports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ndtwin.errors import check_number
from ndtwin.scenario import PortConfig, Scenario, Scheduling
from ndtwin.whatif.perturb.base import Node, Outcome, Perturbation, PerturbationError, link_of

_PORT_CHANGES = ("scheduling", "weights", "buffers", "buffer_scale", "tos_to_queue")


@dataclass(frozen=True)
class SetPort(Perturbation):
    """Change the output port of link ``u → v`` (every port when ``u`` and ``v`` are None): scheduling policy,
    WFQ/DRR ``weights``, per-queue ``buffers`` (in the port's buffer unit), ``buffer_scale`` (every queue's buffer
    multiplied by it) and/or ``tos_to_queue``.

    Switching to FIFO without new buffers merges the queues: one buffer of their total size, every ToS in it.
    """

    u: Node | None = None
    v: Node | None = None
    scheduling: Scheduling | str | None = None
    weights: tuple[float, ...] | None = None
    buffers: tuple[float, ...] | None = None
    buffer_scale: float | None = None
    tos_to_queue: tuple[int, ...] | None = None
    kind: ClassVar[str] = "port_change"

    def __post_init__(self) -> None:
        if (self.u is None) != (self.v is None):
            raise PerturbationError("SetPort(u, v)", "both link ends, or neither for every port", (self.u, self.v))
        if self.scheduling is not None:
            object.__setattr__(self, "scheduling", Scheduling.parse(self.scheduling, "SetPort.scheduling"))
        if self.buffers is not None and self.buffer_scale is not None:
            raise self._error("buffer_scale", "either buffers or buffer_scale, not both", self.buffer_scale)
        if self.buffer_scale is not None:
            check_number("SetPort.buffer_scale", self.buffer_scale, minimum=0, strict=True)
        if all(getattr(self, name) is None for name in _PORT_CHANGES):
            raise self._error("/".join(_PORT_CHANGES), "at least one change")

    def describe(self) -> str:
        where = "every port" if self.u is None else f"port {self.u}→{self.v}"
        changes = [f"{name}={getattr(self, name)}" for name in _PORT_CHANGES[1:] if getattr(self, name) is not None]
        if self.scheduling is not None:
            changes.insert(0, f"scheduling={self.scheduling.value}")
        return f"{where}: {', '.join(changes)}"

    def changed(self, port: PortConfig) -> PortConfig:
        """``port`` with this perturbation's changes (validated)."""
        scheduling = self.scheduling or port.scheduling
        merge = scheduling is Scheduling.FIFO and port.scheduling is not Scheduling.FIFO
        buffers, tos_to_queue = self.buffers, self.tos_to_queue
        if buffers is None:
            kept = (float(sum(port.buffers)),) if merge else port.buffers
            buffers = tuple(b * (self.buffer_scale or 1.0) for b in kept)
        if merge and tos_to_queue is None:
            tos_to_queue = (0,) * len(port.tos_to_queue)
        weights = self.weights
        if weights is None and scheduling in (Scheduling.WFQ, Scheduling.DRR):
            weights = port.weights
        return PortConfig(
            scheduling=scheduling,
            buffers=tuple(buffers),
            buffer_unit=port.buffer_unit,
            weights=tuple(weights) if weights is not None else None,
            tos_to_queue=tuple(tos_to_queue or port.tos_to_queue),
        )

    def _outcome(self, scenario: Scenario) -> Outcome:
        topology = scenario.topology
        targets = (
            range(topology.n_links) if self.u is None else [topology.link_id(*link_of(self, topology, self.u, self.v))]
        )
        links = list(topology.links)
        for lid in targets:
            links[lid] = replace(links[lid], port=self.changed(links[lid].port))
        return Outcome(replace(scenario, topology=replace(topology, links=tuple(links))), np.arange(scenario.n_flows))
