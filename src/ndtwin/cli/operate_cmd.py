"""``ndtwin operate``: run the twin's operational loop (telemetry, drift, retraining, SLA) over a stream."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import typer
from rich.table import Table

from ndtwin.cli.common import check_output_path, fail
from ndtwin.cli.progress import console
from ndtwin.errors import DatasetError


def operate_command(
    replay: Path | None = typer.Option(
        None, "--replay", help="A robust-ndt DATABASE/TOPOLOGY folder, e.g. robust_ndt/delay_app_database/passion."
    ),
    sim: bool = typer.Option(False, "--sim", help="Operate on a simulated stream (Poisson → ON-OFF → CBR) instead."),
    live: Path | None = typer.Option(
        None, "--live", help="A GraphML/GML topology to emulate (as root) and operate on while its traffic changes."
    ),
    phases: list[str] = typer.Option(
        [], "--phase", help="--live: LAW:LOAD:SECONDS (poisson, onoff, cbr; busiest-link load), repeatable, in order."
    ),
    duration: float | None = typer.Option(
        None, "--duration", help="--live without --phase: seconds of the default Poisson → ON-OFF → heavier schedule."
    ),
    window: float = typer.Option(2.0, "--window", help="--live: seconds per measurement window (one loop step)."),
    train_seconds: float = typer.Option(
        30.0, "--train-seconds", help="--live: first seconds of the first phase that train the initial model."
    ),
    capacity: float = typer.Option(2e6, "--capacity", help="--live: emulated bit/s of the fastest link."),
    seed: int = typer.Option(
        0, "--seed", help="--live: seed of the flows' rates and of the sources; --sim: seed of the simulated stream."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    plots: Path | None = typer.Option(None, "--plots", help="Folder for PNG plots over time."),
    state: Path | None = typer.Option(
        None, "--state", help="Folder keeping store, registry and checkpoint; rerunning resumes where it stopped."
    ),
    steps_per_concept: int | None = typer.Option(
        None, "--steps-per-concept", min=1, help="Keep only the first N steps of each concept (quick runs)."
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after N steps (resume later)."),
) -> None:
    """Replay a stream through the self-adaptive twin, with and without synchronisation, and score both.

    A retrained candidate replaces the serving model only when its NMSE is lower on every one of the last few
    labelled steps it was not trained on, by more than twice the stream's own step-to-step noise; by the same
    test, the initial model serves again when it would have served the last steps better. A window is
    flagged as an SLA violation (delay above its budget) when the estimated probability of one, learned from the
    model's own errors on windows measured since the last drift, exceeds the threshold that maximised F1 on the
    windows measured so far; the plain "predicted delay > budget" rule is scored alongside.

    JSON keys (with_sync / without_sync inside each): nmse_db (mean of per-step dB), nmse_db_pooled (all windows),
    nmse_db_per_concept, nmse_db_pooled_per_concept, drifts_detected, retrains, retrain_outcomes, promotions,
    fallback_steps, model_swaps, concept_changes, swaps_per_concept_change, sla (accuracy, precision, recall, f1 of
    the twin's flags), sla_accuracy, sla_predicted_above_budget (the plain rule), sla_alarms (precision, recall, f1,
    pr_auc, alarm_rate of the twin's alarms "twin", of the plain rule "plain_rule" and of "never_alarm"). With
    --live (as root): the topology emulated through the --phase schedule, plus detection_delay_s (per pattern
    change), windows_per_pattern, mean_delay_s_per_pattern, capacity_scale, cpu and cpu_saturated.
    """
    if sum((replay is not None, sim, live is not None)) != 1:
        fail(ValueError("give exactly one of --replay DIR, --sim and --live TOPOLOGY"))
    if live is not None:
        _operate_live(live, phases, duration, window, train_seconds, capacity, seed, state, as_json)
        return
    from ndtwin.ops.loop import LoopSettings, OperatingLoop

    try:
        for path, option in ((state, "--state"), (plots, "--plots")):
            if path is not None:
                check_output_path(path, option)
        if sim:
            from ndtwin.ops.sim_stream import LOOP_SETTINGS, simulated_stream

            stream = simulated_stream(steps_per_concept=steps_per_concept or 25, seed=seed)
            settings = LoopSettings(**LOOP_SETTINGS)
        else:
            from ndtwin.data.robust_ndt import read_replay

            stream = read_replay(replay)
            stream = stream.truncated(steps_per_concept) if steps_per_concept else stream
            settings = LoopSettings()
    except DatasetError as error:
        fail(error)
    with tempfile.TemporaryDirectory(prefix="ndtwin-operate-") as scratch:
        loop = OperatingLoop(stream, state or Path(scratch), settings)
        result = loop.run(max_steps=max_steps, on_step=lambda step, event: _report(step, event, stream.n_steps))
        served = loop.served_windows()
    if state is not None:
        (state / "result.json").write_text(json.dumps(_plain(result)))
    if plots is not None:
        _write_plots(result, served, stream, plots)
    summary = {key: value for key, value in result.items() if key != "per_step_nmse_db"}
    if as_json:
        print(json.dumps(_plain(summary)))
        return
    console.print(_table(summary))


def _operate_live(
    topology_file: Path,
    phase_texts: list[str],
    duration: float | None,
    window: float,
    train_seconds: float,
    capacity: float,
    seed: int,
    state: Path | None,
    as_json: bool,
) -> None:
    """``--live``: check every input, then emulate the schedule and operate on it."""
    from ndtwin.data.topology_io import read_topology
    from ndtwin.emulate.host import HostError, check_host
    from ndtwin.errors import ScenarioError
    from ndtwin.ops.live_run import DEFAULT_PHASES, Phase, operate_live, parse_phase

    try:
        if phase_texts and duration is not None:
            raise ScenarioError("--duration", "no --duration with --phase (each phase gives its seconds)", duration)
        if phase_texts:
            schedule = [parse_phase(text) for text in phase_texts]
        else:
            share = (duration or sum(p.duration_s for p in DEFAULT_PHASES)) / len(DEFAULT_PHASES)
            schedule = [Phase(p.law, p.load, share) for p in DEFAULT_PHASES]
        if state is not None:
            check_output_path(state, "--state")
            if state.is_dir() and any(state.iterdir()):
                raise ScenarioError("--state", "a new or empty folder (a live run cannot resume)", str(state))
        topology = read_topology(topology_file)
        check_host()
        with tempfile.TemporaryDirectory(prefix="ndtwin-operate-") as scratch:
            result = operate_live(
                topology, topology_file.stem, schedule, state or Path(scratch), window_s=window,
                train_s=train_seconds, capacity_bps=capacity, seed=seed,
                on_step=None if as_json else lambda step, event: _report(step, event, None),
            )  # fmt: skip
    except (DatasetError, ScenarioError, HostError, ValueError) as error:
        fail(error)
    if state is not None:
        (state / "result.json").write_text(json.dumps(_plain(result)))
    summary = {key: value for key, value in result.items() if key != "per_step_nmse_db"}
    if as_json:
        print(json.dumps(_plain(summary)))
        return
    console.print(_table(summary))
    console.print(f"detection delay after each pattern change (s): {summary['detection_delay_s']}")


def _report(step: int, event: str, n_steps: int | None) -> None:
    if event == "done":
        console.print(f"step {step + 1}/{n_steps or '?'}", style="dim")
    else:
        console.print(f"step {step}: {event}")


def _plain(value: object) -> object:
    """``value`` with NaN as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _write_plots(result: dict, served, stream, folder: Path) -> None:
    from ndtwin.ops.loop import INITIAL_COLUMN, SERVED_COLUMN
    from ndtwin.ops.plots import plot_delay_trace, plot_step_nmse

    folder.mkdir(parents=True, exist_ok=True)
    plot_step_nmse(result, stream.concept_starts, stream.patterns, folder / f"{stream.topology}_nmse.png")
    plot_delay_trace(
        served,
        stream.concept_starts,
        stream.patterns,
        folder / f"{stream.topology}_delay.png",
        predicted_columns={"with sync": SERVED_COLUMN, "without sync": INITIAL_COLUMN},
        title=f"{stream.topology}: measured vs predicted delay",
    )
    console.print(f"plots written to {folder}")


def _fmt(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _table(summary: dict) -> Table:
    table = Table(
        title=f"{summary['topology']}: {summary['steps']} steps, {summary['retrains']} retrains, "
        f"{len(summary['promotions'])} promotions, {len(summary['drifts_detected'])} drifts"
    )
    for column in ("figure", "with sync", "without sync"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_row("NMSE dB (mean of steps)", *(_fmt(summary["nmse_db"][k]) for k in ("with_sync", "without_sync")))
    for concept, values in summary["nmse_db_per_concept"].items():
        table.add_row(f"  {concept}", *(_fmt(values[k]) for k in ("with_sync", "without_sync")))
    table.add_row("NMSE dB (pooled)", *(_fmt(summary["nmse_db_pooled"][k]) for k in ("with_sync", "without_sync")))
    table.add_row("model swaps per concept change", _fmt(summary["swaps_per_concept_change"]), "0")
    if "sla_alarms" in summary:
        for rule, label in (("twin", "SLA alarms"), ("plain_rule", "SLA predicted > budget")):
            for name in ("precision", "recall", "f1", "pr_auc"):
                scores = summary["sla_alarms"][rule]
                table.add_row(f"{label} {name}", *(_fmt(scores[k][name]) for k in ("with_sync", "without_sync")))
        never = summary["sla_alarms"]["never_alarm"]
        for name in ("f1", "pr_auc"):
            table.add_row(f"never alarm {name}", _fmt(never[name]), _fmt(never[name]))
    return table
