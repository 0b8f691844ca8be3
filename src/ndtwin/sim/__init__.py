"""The physical-twin stand-in: a packet-level discrete-event simulator with a compiled kernel."""

from ndtwin.sim.simulate import simulate

__all__ = ["simulate"]
