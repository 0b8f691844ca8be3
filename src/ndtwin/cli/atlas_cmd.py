"""``ndtwin atlas``: import RIPE Atlas ping and traceroute results into tidy Parquet tables."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.errors import DatasetError

atlas_app = typer.Typer(no_args_is_help=True, help="RIPE Atlas measurement results.")


@atlas_app.command("import")
def import_command(
    src: Path = typer.Argument(..., help="A .json, .jsonl or .jsonl.gz file of results, or a folder of them."),
    out: Path = typer.Argument(..., help="Output folder (pings/, traceroutes/, probes/targets tables)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Files read in parallel processes."),
    as_json: bool = typer.Option(False, "--json", help="Print the import report as one JSON object."),
) -> None:
    """Parse results with ripe.atlas.sagan; bad lines are reported with file:line, skipped and counted."""
    from ndtwin.atlas import import_results

    start = time.perf_counter()
    try:
        report = import_results(src, out, workers=workers)
    except DatasetError as error:
        fail(error)
    summary = report.as_dict() | {"seconds": round(time.perf_counter() - start, 2), "out": str(out)}
    if as_json:
        print(json.dumps(summary))
        return
    console.print(
        f"{report.files} file(s): {report.pings} ping results, {report.traceroutes} traceroutes "
        f"({report.hop_replies} hop replies) → {out} in {summary['seconds']} s"
    )
    for kind, count in report.other_types.items():
        console.print(
            f"[yellow]skipped {count} result(s) of type {kind!r} (only ping and traceroute are read)[/yellow]"
        )
    if report.bad_lines:
        console.print(f"[yellow]skipped {report.bad_lines} bad line(s):[/yellow]")
        for problem in report.problems:
            console.print(f"  {problem}", markup=False, highlight=False)
        if report.bad_lines > len(report.problems):
            console.print(f"  … and {report.bad_lines - len(report.problems)} more")
