"""ndtwin: a network digital twin predicting per-flow delay, jitter and loss."""

from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    Scheduling,
    TimeDistribution,
    TimeKind,
    Topology,
    Traffic,
)

__version__ = "0.1.0"

__all__ = [
    "DatasetError",
    "Flow",
    "Link",
    "PacketSizeDistribution",
    "PortConfig",
    "Routing",
    "Scenario",
    "ScenarioError",
    "Scheduling",
    "TimeDistribution",
    "TimeKind",
    "Topology",
    "Traffic",
]
