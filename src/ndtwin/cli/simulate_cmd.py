"""``ndtwin simulate``: re-simulate the scenarios of a dataset, store the results or compare with its labels."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import typer

from ndtwin.cli.common import check_output_path, error_table, fail, report_problems, sample_group
from ndtwin.cli.progress import console, progress_bar
from ndtwin.data.datanet import ReadReport
from ndtwin.data.load import open_samples
from ndtwin.data.native import DatasetWriter
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.parallel import default_workers
from ndtwin.sim.resimulate import BACKENDS, SimSettings, check_simulable, resimulate
from ndtwin.twin.evaluate import evaluate_predictions


def simulate_command(
    data: Path = typer.Argument(
        ..., help="Samples whose scenarios to simulate: a native dataset or a datanetAPI tree."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the simulated samples to this native dataset."),
    compare: bool = typer.Option(False, "--compare", help="Report the simulator's errors against the samples' labels."),
    as_json: bool = typer.Option(False, "--json", help="With --compare: print one JSON object instead of a table."),
    backend: str = typer.Option("ndtwin", help=f"Simulator: {' or '.join(BACKENDS)}."),
    packets_per_flow: int | None = typer.Option(None, help="Measured packets of the slowest flow (default 1000)."),
    duration: float | None = typer.Option(None, help="Generation time in seconds, instead of --packets-per-flow."),
    warmup_fraction: float = typer.Option(0.1, help="Share of the generation time discarded as warm-up."),
    seed: int = typer.Option(0, help="Random seed of every simulation."),
    workers: int = typer.Option(default_workers(), help="Parallel simulator processes."),
) -> None:
    """Simulate the scenario of every sample in DATA (--out and/or --compare)."""
    if out is None and not compare:
        fail(ScenarioError("simulate", "--out DIR and/or --compare", "neither"))
    report = ReadReport()
    start = time.perf_counter()
    try:
        settings = SimSettings(backend, packets_per_flow, duration, warmup_fraction, seed)
        if out is not None:
            check_output_path(out, "--out")
        writer = (
            DatasetWriter(out, provenance={"simulated_from": str(data), "settings": vars(settings)})
            if out
            else nullcontext()
        )
        with warnings.catch_warnings(), console.status(f"checking that {backend} can simulate every sample"):
            warnings.simplefilter("ignore")
            total = check_simulable(settings, open_samples(data))
        with warnings.catch_warnings(), progress_bar(f"simulating {data} ({backend})", total) as advance, writer:
            warnings.simplefilter("ignore")
            pairs = resimulate(open_samples(data, report), settings, workers=workers)
            stored = _store(pairs, writer) if out else pairs
            result = evaluate_predictions(
                ((sample, simulated.flow_labels) for sample, simulated in stored),
                model=f"sim:{backend}",
                group_of=sample_group,
                on_sample=lambda s: advance(sample_group(s)),
            )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["settings"] = vars(settings) | {"workers": workers}
    result["skipped_unstable"] = report.skipped_unstable
    result["errors"] = [str(e) for e in report.errors]
    if compare and as_json:
        print(json.dumps(result))
    elif compare:
        console.print(error_table(result, title=f"simulator ({backend}) vs labels of {data}"))
    if out:
        console.print(f"wrote {result['n_samples']} simulated samples to {out}")
    report_problems(report)
    if result["n_samples"] == 0:
        raise typer.Exit(code=1)


def _store(pairs: Iterator[tuple[Sample, Sample]], writer: DatasetWriter) -> Iterator[tuple[Sample, Sample]]:
    """Pass the pairs on, writing each simulated sample first."""
    for sample, simulated in pairs:
        writer.write(simulated)
        yield sample, simulated
