"""The learned virtual twin: a RouteNet-Fermi-style graph neural network (needs the ``gnn`` extra: torch)."""

from ndtwin.gnn.model import ModelConfig, RouteNetLike
from ndtwin.gnn.twin import GnnTwin

load = GnnTwin.load

__all__ = ["GnnTwin", "ModelConfig", "RouteNetLike", "load"]
