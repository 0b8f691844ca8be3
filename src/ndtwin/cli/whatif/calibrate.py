"""``ndtwin whatif calibrate``: a model's 90 % intervals, calibrated on simulated what-if suites."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ndtwin.cli.common import check_output_path, fail
from ndtwin.cli.progress import console
from ndtwin.cli.whatif.inputs import parse_loads, topology_of
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.twin.catalog import SHIPPED, SHIPPED_MODELS, load_twin

METHOD = (
    "split conformal, residual quantiles per path-utilisation × ToS bin, bins split by network size at "
    "{sizes} nodes, every scenario weighted equally"
)
ANCHORED_METHOD = (
    "answers anchored on the measured baseline (see ndtwin.whatif.anchor), " + METHOD + ", widths scaled by the "
    "twin's residual spread on the measured baseline"
)


def calibrate_command(
    model: str = typer.Argument(
        ..., help="'default', 'attention', 'testbed' or a model directory: the intervals are written there."
    ),
    topologies: list[str] = typer.Option(
        ...,
        "--topology",
        help="Calibration topology (file, powerlaw:N or backbone:N); repeatable. Not one the model trained on.",
    ),
    per_type: int = typer.Option(2, "--per-type", help="Perturbations of each kind per baseline."),
    loads: str = typer.Option("0.3,0.5,0.7,0.9", "--loads", help="Busiest-link utilisations of the baselines."),
    packets: int = typer.Option(400, "--packets", help="Simulated packets per flow."),
    seed: int = typer.Option(1, "--seed", help="Seed of the calibration suites."),
    workers: int = typer.Option(1, "--workers", help="Simulation processes."),
    suite_cache: Path | None = typer.Option(
        None,
        "--suite-cache",
        help="Directory keeping simulated suites: a suite simulated before with the same settings is read from it.",
    ),
    coverage: float = typer.Option(0.9, "--coverage", help="Target coverage of the intervals."),
) -> None:
    """Calibrate a model's intervals on simulated what-if suites: per bin of similar flows (network size, busiest
    link on the path, ToS), the quantiles of the model's errors, every scenario weighted equally
    (intervals.json); and the same for answers anchored on a measured baseline, with each baseline's repeat run
    standing in for the measurement (intervals_anchored.json)."""
    from ndtwin.whatif.anchor import ANCHORED_INTERVALS_FILE, AnchorCase, calibrate_anchored
    from ndtwin.whatif.intervals import DEFAULT_SIZE_EDGES, INTERVALS_FILE, calibrate
    from ndtwin.whatif.suite import suite_samples
    from ndtwin.whatif.suite_cache import cached_suite

    model_dir = SHIPPED_MODELS / model if model in SHIPPED else Path(model)
    try:
        load_set = parse_loads(loads)
        twin = load_twin(str(model_dir))
        for name in (INTERVALS_FILE, ANCHORED_INTERVALS_FILE):  # before the simulations, not after them
            check_output_path(model_dir / name, "MODEL")
        runs, used, anchor_cases, anchor_truths = [], [], [], []
        for k, entry in enumerate(topologies):
            name, topo = topology_of(entry, seed + k)
            with console.status(f"simulating the calibration suite on {name}…"):
                suite, _ = cached_suite(
                    suite_cache,
                    topo,
                    per_type=per_type,
                    loads=load_set,
                    seed=seed + k,
                    packets_per_flow=packets,
                    workers=workers,
                    name=name,
                    reference_packets=None,
                )
            samples = suite_samples(suite)
            predictions = [twin.predict(s.scenario) for s in samples]
            runs += [(s.scenario, p, s.flow_labels) for s, p in zip(samples, predictions)]
            first_case = 2 * len(suite.baselines)  # suite_samples: baselines, repeats, cases
            for case, prediction in zip(suite.cases, predictions[first_case:]):
                b = case.baseline
                anchor_cases.append(
                    AnchorCase(
                        suite.baselines[b].scenario,
                        predictions[b],
                        suite.repeats[b].flow_labels,
                        case.sample.scenario,
                        prediction,
                        case.origin,
                    )
                )
                anchor_truths.append(case.sample.flow_labels)
            used.append({"topology": entry, "name": name, "seed": seed + k})
        command = (
            f"ndtwin whatif calibrate {model} "
            + " ".join(f"--topology {t}" for t in topologies)
            + f" --per-type {per_type} --loads {loads} --packets {packets} --seed {seed} --coverage {coverage}"
        )
        sizes = ", ".join(map(str, DEFAULT_SIZE_EDGES))
        provenance = {
            "method": METHOD.format(sizes=sizes),
            "model_trained_with": _training_command(model_dir),
            "calibration_suites": used,
            "loads": list(load_set),
            "per_type": per_type,
            "packets_per_flow": packets,
            "n_scenarios": len(runs),
            "n_flows": int(sum(len(r[2]) for r in runs)),
            "command": command,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        intervals = calibrate(runs, coverage=coverage, provenance=provenance)
        anchored = calibrate_anchored(
            anchor_cases,
            anchor_truths,
            coverage=coverage,
            provenance={
                **provenance,
                "method": ANCHORED_METHOD.format(sizes=sizes),
                "measurement": f"each baseline's repeat run ({packets} packets of the slowest flow, a seed of its own)",
                "n_scenarios": len(anchor_cases),
                "n_flows": int(sum(len(t) for t in anchor_truths)),
            },
        )
        path = intervals.save(model_dir)
        anchored_path = anchored.save(model_dir)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    console.print(f"wrote {path} ({provenance['n_scenarios']} simulated scenarios, {provenance['n_flows']} flows)")
    console.print(
        f"wrote {anchored_path} (anchoring weights "
        + ", ".join(f"{m} {w:.2f}" for m, w in anchored.weights.items())
        + ")"
    )


def _training_command(model_dir: Path) -> Any:
    """The command the model was trained with, as its provenance.json records it (None without one)."""
    path = model_dir / "provenance.json"
    return json.loads(path.read_text()).get("command") if path.is_file() else None
