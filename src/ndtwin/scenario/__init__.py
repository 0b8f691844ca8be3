"""The scenario model: what the twin is asked about."""

from ndtwin.scenario.routing import Routing
from ndtwin.scenario.scenario import HopTable, QueueTable, Scenario
from ndtwin.scenario.topology import DEFAULT_PORT, MAX_QUEUES, Link, PortConfig, Scheduling, Topology
from ndtwin.scenario.traffic import (
    BNN_TIME_CODES,
    Flow,
    PacketSizeDistribution,
    SizeKind,
    TimeDistribution,
    TimeKind,
    Traffic,
)

__all__ = [
    "BNN_TIME_CODES",
    "DEFAULT_PORT",
    "Flow",
    "HopTable",
    "Link",
    "MAX_QUEUES",
    "PacketSizeDistribution",
    "PortConfig",
    "QueueTable",
    "Routing",
    "Scenario",
    "Scheduling",
    "SizeKind",
    "TimeDistribution",
    "TimeKind",
    "Topology",
    "Traffic",
]
