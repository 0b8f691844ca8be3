"""A Scenario as a live Linux network (namespaces, veth links, tc shaping) with measured per-flow QoS."""

from ndtwin.emulate.host import HostError
from ndtwin.emulate.run import DEFAULT_CAPACITY_BPS, Emulation, EmulationSettings, emulate, prepare

__all__ = ["DEFAULT_CAPACITY_BPS", "Emulation", "EmulationSettings", "HostError", "emulate", "prepare"]
