"""Perturbations: small, composable changes of a Scenario for what-if questions.

Each perturbation is a frozen dataclass with ``apply(scenario) -> Scenario`` and ``describe() -> str``;
``a + b`` (or ``Compose((a, b, …))``) applies them in order. ``outcome(scenario)`` also tells which baseline
flow each perturbed flow comes from and which flows were dropped because a failure disconnected them.
Nodes may be given by index or by name. Errors name the perturbation and its bad field.
"""

from ndtwin.whatif.perturb.base import Compose, Outcome, Perturbation, PerturbationError
from ndtwin.whatif.perturb.ports import SetPort
from ndtwin.whatif.perturb.topology import FailLink, FailNode, SetCapacity, SetPath, SetWeight
from ndtwin.whatif.perturb.traffic import AddFlows, RemoveFlows, ScaleTraffic

__all__ = [
    "AddFlows",
    "Compose",
    "FailLink",
    "FailNode",
    "Outcome",
    "Perturbation",
    "PerturbationError",
    "RemoveFlows",
    "ScaleTraffic",
    "SetCapacity",
    "SetPath",
    "SetPort",
    "SetWeight",
]
