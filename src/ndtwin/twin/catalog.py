"""Resolve a model name or directory, as given on the command line, to a Twin."""

from __future__ import annotations

from pathlib import Path

from ndtwin.errors import ScenarioError
from ndtwin.twin.base import Twin
from ndtwin.twin.qt import QueueingTheoryTwin

BUILTIN = {"qt": QueueingTheoryTwin}
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
SHIPPED = ("default", "attention", "testbed")


def load_twin(spec: str) -> Twin:
    """``"qt"`` → the queueing-theory baseline; ``"default"``/``"attention"``/``"testbed"`` → the trained GNNs shipped in
    ``ndtwin/resources/models``; any other existing directory → the model saved there: a tabular model if it holds
    ``tabular.json`` (``ndtwin.tabular``), else a GNN or GNN ensemble (``ndtwin train [--members N]``)."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    path = SHIPPED_MODELS / spec if spec in SHIPPED else Path(spec)
    if spec in SHIPPED and not path.is_dir():
        raise ScenarioError(
            "--model",
            f"a shipped model, but {spec!r} is not shipped with this version yet "
            "(train one with `ndtwin train --out DIR` and pass DIR)",
            spec,
        )
    if not path.is_dir():
        raise ScenarioError("--model", f"one of {sorted(BUILTIN)}, {list(SHIPPED)} or a model directory", spec)
    from ndtwin.tabular.models import TabularTwin, is_tabular_dir

    if is_tabular_dir(path):
        return TabularTwin.load(path)
    try:
        from ndtwin.gnn.ensemble import load_gnn_twin
    except ImportError as error:
        raise ScenarioError("--model", f"the 'gnn' extra installed to load a model directory ({error})", spec) from None
    return load_gnn_twin(path)
