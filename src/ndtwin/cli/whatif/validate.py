"""``ndtwin whatif validate``: how well models predict the changes of a simulated what-if suite, and their grade."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.cli.whatif.inputs import parse_loads, topology_of
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.suite import REFERENCE_PACKETS


def validate_command(
    topology: str = typer.Option(
        ..., "--topology", help="A GraphML/GML file, powerlaw:N or backbone:N (drawn with --seed)."
    ),
    models: list[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to score; repeat to compare."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    out: Path | None = typer.Option(None, "--out", help="Model directory to write grade.json into (one model)."),
    per_type: int = typer.Option(2, "--per-type", help="Perturbations of each kind per baseline."),
    loads: str = typer.Option("0.5,0.8", "--loads", help="Busiest-link utilisations of the baselines."),
    packets: int = typer.Option(400, "--packets", help="Simulated packets per flow."),
    reference_packets: int = typer.Option(
        REFERENCE_PACKETS,
        "--reference-packets",
        help="Packets per flow of the reference runs interval coverage is judged against (0: judge it against the "
        "--packets runs).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the suite (traffic, perturbations, simulator)."),
    workers: int = typer.Option(1, "--workers", help="Simulation processes."),
    suite_cache: Path | None = typer.Option(
        None,
        "--suite-cache",
        help="Directory keeping simulated suites: a suite simulated before with the same settings is read from it.",
    ),
) -> None:
    """Simulate a suite of perturbations on a topology and score how well models predict the changes."""
    from ndtwin.whatif.grade import grade, write_grade
    from ndtwin.whatif.report import trust_table
    from ndtwin.whatif.suite_cache import cached_suite
    from ndtwin.whatif.validate import score_twin

    try:
        if out is not None and len(models) != 1:
            raise ScenarioError("--out", "exactly one --model to grade", models)
        if out is not None and not out.is_dir():
            raise ScenarioError("--out", "an existing model directory to write grade.json into", str(out))
        twins = [load_twin(m) for m in models]
        name, topo = topology_of(topology, seed)
        with console.status(f"simulating the what-if suite on {name}…"):
            suite, _ = cached_suite(
                suite_cache,
                topo,
                per_type=per_type,
                loads=parse_loads(loads),
                seed=seed,
                packets_per_flow=packets,
                workers=workers,
                name=name,
                reference_packets=reference_packets or None,
            )
        reports = [score_twin(twin, suite) for twin in twins]
        if out is not None:
            write_grade(out, reports[0])
    except (DatasetError, ScenarioError) as error:
        fail(error)
    results = [{**r.to_dict(), "grade": grade(r)} for r in reports]
    if as_json:
        print(json.dumps(results[0] if len(results) == 1 else {"models": results}))
        return
    for report, result in zip(reports, results):
        console.print(trust_table(report, result["grade"]))
    if out is not None:
        console.print(f"grade written to {out / 'grade.json'}")
