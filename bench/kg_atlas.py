"""Internet-measurement twin end to end on the shared RIPE Atlas set: import, graph build, SPARQL questions,
GNN training on three splits, evaluation against the classical anchors, QoE agreement.

    nice -n 10 .venv/bin/python bench/kg_atlas.py --out /tmp/kg-bench --workers 2

Prints the import/build/query times (wall, and CPU seconds including worker processes: on a busy machine the
wall time mostly measures the other jobs) and the evaluation tables as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ndtwin.atlas import import_results
from ndtwin.kg.build import build_graph
from ndtwin.kg.models.gnn import ARCHS
from ndtwin.kg.models.run import best_trained, evaluate_all, split_test_rows, train_arch, trained_predictions
from ndtwin.kg.query import open_store, run_query
from ndtwin.qoe.agreement import class_ceiling, qoe_agreement
from ndtwin.qoe.askg import add_qoe_layer

DOCS_QUERIES = Path(__file__).resolve().parents[1] / "docs" / "KG.md"


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(label: str, fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), _cpu_s()
    result = fn(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - wall:.2f} s wall, {_cpu_s() - cpu:.2f} s CPU", flush=True)
    return result


def doc_queries() -> list[str]:
    """The ```sparql blocks of docs/KG.md."""
    text = DOCS_QUERIES.read_text()
    return [block.split("```", 1)[0] for block in text.split("```sparql\n")[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path("../shared/data/ripe_atlas/menog"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/kg-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--archs", nargs="*", default=list(ARCHS))
    parser.add_argument("--skip-import", action="store_true", help="Reuse an existing import in --out.")
    args = parser.parse_args()
    if not args.skip_import:
        report = timed("import", import_results, args.src, args.out, workers=args.workers)
        print(json.dumps(report.as_dict() | {"problems": report.problems[:5]}))
    built = timed("kg build (3 layers)", lambda: (build_graph(args.out), add_qoe_layer(args.out)))
    print(built[0], f"+ {built[1]} QoE triples")
    store = open_store(args.out)
    for number, query in enumerate(doc_queries(), start=1):
        rows = timed(f"docs/KG.md query {number}", run_query, store, query)
        print(f"  {len(rows)} rows; first: {rows[:1]}")
    for arch in args.archs:
        facts = timed(f"train {arch}", train_arch, args.out, arch)
        print(json.dumps(facts), flush=True)
    report = timed("eval", evaluate_all, args.out)
    print(json.dumps(report, indent=1, default=str))
    best = best_trained(report, "unseen_pairs")
    if best:
        predicted, _ = trained_predictions(args.out, best, "unseen_pairs")
        test_rows = split_test_rows(args.out, "unseen_pairs")
        qoe = qoe_agreement(test_rows, predicted)
        print(f"QoE of unseen pairs from {best} predictions vs measured:", json.dumps(qoe, indent=1))
        print("QoE class ceiling of a per-pair prediction, next-day agreement:", json.dumps(class_ceiling(test_rows)))


if __name__ == "__main__":
    main()
