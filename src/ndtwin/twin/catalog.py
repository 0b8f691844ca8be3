"""Resolve a model name or directory, as given on the command line, to a Twin."""

from __future__ import annotations

from ndtwin.errors import ScenarioError
from ndtwin.twin.base import Twin
from ndtwin.twin.qt import QueueingTheoryTwin

BUILTIN = {"qt": QueueingTheoryTwin}


def load_twin(spec: str) -> Twin:
    """``"qt"`` → the queueing-theory baseline. Trained model directories come with the learned twins."""
    try:
        return BUILTIN[spec]()
    except KeyError:
        raise ScenarioError("--model", f"one of {sorted(BUILTIN)}", spec) from None
