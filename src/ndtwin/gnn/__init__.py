"""The learned virtual twin: a RouteNet-Fermi-style graph neural network (needs the ``gnn`` extra: torch)."""

from ndtwin.gnn.ensemble import EnsembleTwin, load_gnn_twin
from ndtwin.gnn.model import ModelConfig, RouteNetLike
from ndtwin.gnn.twin import GnnTwin

load = load_gnn_twin

__all__ = ["EnsembleTwin", "GnnTwin", "ModelConfig", "RouteNetLike", "load"]
