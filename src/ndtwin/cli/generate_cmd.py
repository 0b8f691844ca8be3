"""``ndtwin generate``: simulate random scenarios into a labelled native dataset, resumable after a crash."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import typer

from ndtwin.cli.common import check_output_path, fail
from ndtwin.cli.progress import console, progress_bar
from ndtwin.data.native import is_native_dataset, sample_ids
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.generate import GenerationSpec, pending_indices, run_generation


def generate_command(
    out: Path = typer.Argument(..., help="Native dataset folder to create, or to resume/extend."),
    samples: int = typer.Option(
        ..., "--samples", "-n", help="Samples of the run: ids 0..N-1 (present ones are skipped)."
    ),
    seed: int = typer.Option(0, help="Run seed: sample i is fully determined by (seed, i) and the spec."),
    spec_file: Path | None = typer.Option(None, "--spec", help="JSON or TOML file of GenerationSpec fields."),
    topology: list[str] | None = typer.Option(
        None,
        "--topology",
        "-t",
        help="Topology source (repeatable): powerlaw:NMIN-NMAX, backbone:NMIN-NMAX, a GraphML/GML file or a folder.",
    ),
    intensity: str | None = typer.Option(None, help="Busiest-link utilisation range LOW-HIGH, e.g. 0.3-1.0."),
    packets_per_flow: int | None = typer.Option(None, help="Measured packets of the slowest flow per sample."),
    workers: int | None = typer.Option(None, help="Worker processes (default: all cores; not used with --ray)."),
    use_ray: bool = typer.Option(
        False,
        "--ray",
        help="Run samples as Ray tasks on the cluster at RAY_ADDRESS, else on a local one (needs the "
        "'ray' extra; every node needs ndtwin and the topology files at the same paths).",
    ),
    chunk_size: int = typer.Option(
        32, help="Samples per written part file (at most this many are redone after a kill)."
    ),
) -> None:
    """Generate labelled samples: random scenarios (BNN-UPC-like ranges by default) simulated packet by packet."""
    try:
        check_output_path(out, "OUT")
        spec = GenerationSpec.load(spec_file) if spec_file else GenerationSpec()
        spec = spec.with_overrides(
            topologies=tuple(topology) if topology else None,
            intensity=_range(intensity),
            packets_per_flow=packets_per_flow,
        )
        todo = pending_indices(out, spec, seed, samples)
        console.print(f"{out}: {samples - len(todo)} of {samples} samples present, generating {len(todo)}")
        start, count = time.perf_counter(), 0
        with progress_bar(f"generating {out}", total=len(todo)) as advance:

            def on_sample(sample: Sample) -> None:
                nonlocal count
                count += 1
                advance(f"{count / (time.perf_counter() - start):.2f} samples/s · {sample.sample_id}")

            command = _command_line(out, samples, seed, spec_file, topology, intensity, packets_per_flow)
            result = run_generation(
                out,
                spec,
                seed,
                todo,
                command=command,
                workers=workers,
                use_ray=use_ray,
                chunk_size=chunk_size,
                on_sample=on_sample,
            )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    except KeyboardInterrupt:
        kept = len(sample_ids(out)) if is_native_dataset(out) else 0
        console.print(f"interrupted: {kept} samples kept in {out}; run the same command to resume")
        raise typer.Exit(code=130) from None
    rate = result.written / result.seconds if result.seconds > 0 else 0.0
    console.print(f"wrote {result.written} samples to {out} in {result.seconds:.1f} s ({rate:.2f} samples/s)")


def _command_line(out: Path, samples: int, seed: int, spec_file: Path | None, topology: list[str] | None,
                  intensity: str | None, packets_per_flow: int | None) -> str:  # fmt: skip
    """The command that reproduces this run's samples (worker and chunk options do not change them)."""
    words = ["ndtwin", "generate", str(out), "--samples", str(samples), "--seed", str(seed)]
    words += ["--spec", str(spec_file)] if spec_file else []
    for source in topology or ():
        words += ["--topology", source]
    words += ["--intensity", intensity] if intensity else []
    words += ["--packets-per-flow", str(packets_per_flow)] if packets_per_flow is not None else []
    return shlex.join(words)


def _range(text: str | None) -> tuple[float, float] | None:
    """``"LOW-HIGH"`` (or a single value) as a pair of floats; ScenarioError naming --intensity otherwise."""
    if text is None:
        return None
    parts = text.split("-")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ScenarioError("--intensity", "LOW-HIGH, e.g. 0.3-1.0", text) from None
    if len(values) not in (1, 2):
        raise ScenarioError("--intensity", "LOW-HIGH, e.g. 0.3-1.0", text)
    return values[0], values[-1]
