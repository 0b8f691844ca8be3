"""The virtual twin: models that predict per-flow QoS, and their evaluation."""

from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.twin.evaluate import evaluate
from ndtwin.twin.qt import QueueingTheoryTwin

__all__ = ["PREDICTED_COLUMNS", "QueueingTheoryTwin", "Twin", "evaluate"]
