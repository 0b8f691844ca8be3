"""Shipped twins with and without their physically bounded readouts, side by side, per dataset group.

    python bench/bounded_eval.py DIR [DIR ...] [--models default,qt]

Runs ``ndtwin eval``'s evaluation (``ndtwin.twin.evaluate``) on every directory and prints, per model variant and
per size group: flows, delay MAPE, delay R², delay MAPE of the overloaded flows (busiest link offered ≥ its
capacity) and their count, flows predicted above the physical bound (``ndtwin.scenario.bounds``) and labels above
it. ``+bound`` is the model as shipped, ``-bound`` the same model with the bounds taken out of its readout.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

from ndtwin.cli.common import sample_group
from ndtwin.data.load import open_samples
from ndtwin.twin.base import Twin
from ndtwin.twin.catalog import load_twin
from ndtwin.twin.evaluate import LOAD_CLASSES, evaluate_many
from ndtwin.twin.qt import QueueingTheoryTwin

OVERLOADED = LOAD_CLASSES[-1]


def variants(model: str) -> list[tuple[str, Twin]]:
    """The model with (as shipped) and without its bounded readout."""
    if model == "qt":
        return [("qt+bound", QueueingTheoryTwin()), ("qt-bound", QueueingTheoryTwin(bounded=False))]
    bounded, unbounded = load_twin(model), load_twin(model)
    unbounded.model.config = replace(unbounded.model.config, bounded=False)
    name = Path(model).name
    return [(f"{name}+bound", bounded), (f"{name}-bound", unbounded)]


def rows(name: str, result: dict) -> list[str]:
    """One line per group of one model's report."""
    lines = []
    sections = result["groups"] | ({"all": result} if len(result["groups"]) > 1 else {})
    for group, section in sections.items():
        delay, over = section["delay"], section["delay_by_load"][OVERLOADED]
        lines.append(
            f"{name:<16} {Path(group).name:<8} {section['n_flows']:>7} {fmt(delay['mape']):>8} {fmt(delay['r2'], 4):>8} "
            f"{fmt(over['mape']):>9} {over['n_flows']:>7} {section['n_flows_above_bound']:>7} "
            f"{section['n_labels_above_bound']:>7}"
        )
    return lines


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", type=Path, help="labelled datasets (native or datanetAPI trees)")
    parser.add_argument("--models", default="default,qt", help="comma-separated: qt, shipped models, model dirs")
    args = parser.parse_args()
    twins = [pair for model in args.models.split(",") for pair in variants(model)]
    print(
        f"{'model':<16} {'group':<8} {'flows':>7} {'MAPE %':>8} {'R²':>8} {'over MAPE':>9} {'n over':>7} "
        f"{'>bound':>7} {'lab>b':>7}"
    )
    for data in args.data:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = evaluate_many([twin for _, twin in twins], open_samples(data), group_of=sample_group)
        for (name, _), result in zip(twins, results):
            result.setdefault("groups", {data.as_posix(): result})  # a dataset of one group
            print("\n".join(rows(name, result)))
        print(f"# {data}: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
