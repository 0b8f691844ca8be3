"""SPARQL over a built knowledge graph, and its Turtle export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyoxigraph as ox

from ndtwin.errors import DatasetError
from ndtwin.kg.build import STORE_DIR
from ndtwin.kg.vocab import PREFIXES


def open_store(out: Path) -> ox.Store:
    """The store of ``out`` (read-only), or a clear error if ``ndtwin kg build`` has not made one."""
    path = Path(out) / STORE_DIR
    if not path.is_dir():
        raise DatasetError(out, "no knowledge graph here: run 'ndtwin kg build' on this folder first")
    return ox.Store.read_only(str(path))


def _value(term: Any) -> Any:
    if term is None:
        return None
    if isinstance(term, ox.Literal):
        kind = term.datatype.value.rsplit("#", 1)[-1]
        if kind in ("integer", "int", "long"):
            return int(term.value)
        if kind in ("double", "decimal", "float"):
            return float(term.value)
        if kind == "boolean":
            return term.value == "true"
        return term.value
    return term.value


def run_query(store: ox.Store, sparql: str) -> list[dict[str, Any]] | bool:
    """Rows (variable → Python value) of a SELECT, the answer of an ASK; ``ndt:``/``res:``/``xsd:`` are predeclared."""
    try:
        answer = store.query(PREFIXES + sparql)
    except SyntaxError as error:
        raise ValueError(f"SPARQL: {error}") from None
    if isinstance(answer, ox.QueryBoolean):
        return bool(answer)
    if isinstance(answer, ox.QueryTriples):
        return [
            {"subject": t.subject.value, "predicate": t.predicate.value, "object": _value(t.object)} for t in answer
        ]
    names = [variable.value for variable in answer.variables]
    return [{name: _value(solution[name]) for name in names} for solution in answer]


def export_turtle(out: Path, destination: Path) -> None:
    """Write the whole graph as Turtle."""
    open_store(out).dump(str(destination), format=ox.RdfFormat.TURTLE, from_graph=ox.DefaultGraph())
