"""The base of perturbations: ``Perturbation``, their ``Outcome``, ``Compose`` and the helpers every family uses
to read nodes, links and flows (errors named by the perturbation and its argument)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ndtwin.errors import ScenarioError
from ndtwin.scenario import Routing, Scenario, Topology, Traffic

Node = int | str


class PerturbationError(ScenarioError):
    """A perturbation that cannot be applied; ``field`` names the perturbation and its argument, e.g. ``FailLink.u``
    (``FailLink(u, v)`` when the two together are wrong)."""

    def __reduce__(self) -> tuple:
        return (type(self), (self.field, self.expected, self.got))


@dataclass(frozen=True)
class Outcome:
    """A perturbed scenario and how its flows relate to the baseline's.

    ``origin[i]`` is the baseline index of perturbed flow ``i`` (−1 for an added flow); ``dropped`` lists the
    baseline flows removed because a failure left them without a route (only with ``drop_disconnected``).
    """

    scenario: Scenario
    origin: np.ndarray
    dropped: tuple[int, ...] = ()

    @classmethod
    def unchanged_flows(cls, scenario: Scenario) -> Outcome:
        return cls(scenario, np.arange(scenario.n_flows))

    def then(self, nxt: Outcome) -> Outcome:
        """This outcome followed by ``nxt``, a perturbation's outcome on this one's scenario (flows mapped back to
        this outcome's baseline)."""
        origin = np.where(nxt.origin >= 0, self.origin[np.maximum(nxt.origin, 0)], -1)
        dropped = self.dropped + tuple(int(self.origin[i]) for i in nxt.dropped if self.origin[i] >= 0)
        return Outcome(nxt.scenario, origin, dropped)


class Perturbation:
    """Base of all perturbations. Subclasses implement ``_outcome`` and ``describe``."""

    kind: ClassVar[str] = "perturbation"  # the family used to group validation scores

    def apply(self, scenario: Scenario) -> Scenario:
        """The perturbed scenario."""
        return self.outcome(scenario).scenario

    def outcome(self, scenario: Scenario) -> Outcome:
        """The perturbed scenario with the flow correspondence; errors are prefixed with this perturbation."""
        try:
            return self._outcome(scenario)
        except PerturbationError:
            raise
        except ScenarioError as error:
            name = type(self).__name__
            where = error.field if error.field.startswith(f"{name}.") else f"{name}: {error.field}"
            raise PerturbationError(where, error.expected, error.got) from None

    def describe(self) -> str:
        raise NotImplementedError

    def _outcome(self, scenario: Scenario) -> Outcome:
        raise NotImplementedError

    def _error(self, field_name: str, expected: str, got: object = None) -> PerturbationError:
        return PerturbationError(f"{type(self).__name__}.{field_name}", expected, got)

    def __add__(self, other: Perturbation) -> Compose:
        if not isinstance(other, Perturbation):
            return NotImplemented
        return Compose(_steps(self) + _steps(other))


def _steps(p: Perturbation) -> tuple[Perturbation, ...]:
    return p.steps if isinstance(p, Compose) else (p,)


@dataclass(frozen=True)
class Compose(Perturbation):
    """Several perturbations applied in order."""

    steps: tuple[Perturbation, ...]
    kind: ClassVar[str] = "compose"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        for i, step in enumerate(self.steps):
            if not isinstance(step, Perturbation):
                raise self._error(f"steps[{i}]", "a Perturbation", type(step).__name__)

    def describe(self) -> str:
        return " + ".join(step.describe() for step in self.steps) or "no change"

    def _outcome(self, scenario: Scenario) -> Outcome:
        result = Outcome.unchanged_flows(scenario)
        for step in self.steps:
            result = result.then(step.outcome(result.scenario))
        return result


def node_of(p: Perturbation, topology: Topology, field_name: str, node: Node) -> int:
    """The index of ``node`` (index or name); an error naming ``p``'s argument ``field_name`` if there is none."""
    try:
        return topology.node_index(node)
    except ScenarioError as error:
        raise p._error(field_name, error.expected, node) from None


def link_of(p: Perturbation, topology: Topology, u: Node, v: Node) -> tuple[int, int]:
    """The node indices of link ``u → v``; an error naming ``p``'s arguments if it does not exist."""
    src, dst = node_of(p, topology, "u", u), node_of(p, topology, "v", v)
    if topology.link_id(src, dst) is None:
        raise PerturbationError(f"{type(p).__name__}(u, v)", "the two ends of a link of the topology", (u, v))
    return src, dst


def keep_flows(scenario: Scenario, keep: np.ndarray) -> Scenario:
    """``scenario`` with only the flows where ``keep`` is True (and the paths of their pairs)."""
    traffic = Traffic(tuple(f for f, k in zip(scenario.traffic.flows, keep) if k))
    pairs = set(traffic.pairs())
    routing = Routing({pair: path for pair, path in scenario.routing.paths.items() if pair in pairs})
    return Scenario(scenario.topology, routing, traffic)
