"""What-if analysis: perturb a scenario, predict before and after with intervals, and validate the twin's answers."""

from ndtwin.whatif.perturb import (
    AddFlows,
    Compose,
    FailLink,
    FailNode,
    Outcome,
    Perturbation,
    PerturbationError,
    RemoveFlows,
    ScaleTraffic,
    SetCapacity,
    SetPath,
    SetPort,
    SetWeight,
)

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
