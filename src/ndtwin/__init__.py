"""ndtwin: a network digital twin predicting per-flow delay, jitter and loss."""

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("ndtwin")  # one source: pyproject.toml, through the installed package's metadata
except PackageNotFoundError:  # sources on the path without an install
    __version__ = "unknown"

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
