"""The virtual twin: models that predict per-flow QoS, and their evaluation."""

from ndtwin.twin.base import PREDICTED_COLUMNS, Twin

__all__ = ["PREDICTED_COLUMNS", "Twin"]
