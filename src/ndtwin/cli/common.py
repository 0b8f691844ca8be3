"""Helpers shared by the command modules: errors, output paths, problem reports, sample groups and error tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.table import Table

from ndtwin.cli.progress import console
from ndtwin.data.datanet import ReadReport
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError
from ndtwin.twin.evaluate import LOAD_CLASSES


def sample_group(sample: Sample) -> str:
    """The dataset directory a sample came from (e.g. ``50`` for gnnet/2022/validation/50)."""
    source = str(sample.meta.get("source", ""))
    return Path(source.rsplit(":", 1)[0]).parent.as_posix()


def fail(error: Exception) -> NoReturn:
    """Print ``error`` and exit with status 2."""
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code=2)


def check_output_path(path: Path, option: str, *, file: bool = False) -> Path:
    """``path``, with its parent folders created, so that a command can write it after its work is done.

    Call it before any long work: raises DatasetError naming ``option`` and ``path`` when the folders cannot be
    created (a parent is a regular file, no permission), or when ``file`` is set and ``path`` is a folder."""
    if file and path.is_dir():
        raise DatasetError(path, f"{option} cannot be written: expected a file path, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(path, f"{option} cannot be written: {_blocking_reason(path, error)}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DatasetError(path, f"{option} cannot be written: no permission to write in {path.parent}")
    return path


def _blocking_reason(path: Path, error: OSError) -> str:
    for ancestor in reversed(path.parents):
        if ancestor.exists() and not ancestor.is_dir():
            return f"{ancestor} is a file, not a folder"
    return error.strerror or str(error)


def report_problems(report: ReadReport) -> None:
    """Print the samples a reader skipped or could not read."""
    if report.skipped_unstable:
        console.print(f"[yellow]skipped {report.skipped_unstable} unstable sample(s)[/yellow]")
    for error in report.errors:
        console.print(f"[red]unreadable:[/red] {error}")


def error_table(result: dict, title: str) -> Table:
    """The errors of an evaluation report, one row per target (and per group when there are several)."""
    table = Table(
        title=f"{title}: {result['n_samples']} samples, {result['n_flows']} flows, {result.get('seconds', '?')} s"
    )
    for column in ("target", "group", "MAPE %", "NMSE dB", "MAE", "RMSE", "R²"):
        table.add_column(column, justify="left" if column in ("target", "group") else "right")
    sections = [("all", result)] + list(result.get("groups", {}).items())
    for target in ("delay", "jitter", "loss", "loss (lossy flows)"):
        for name, section in sections:
            key, sub = (target, None) if "(" not in target else ("loss", "lossy_flows")
            errors = section.get(key)
            if errors is None:
                continue
            errors = errors[sub] if sub else errors
            table.add_row(target, name, *(_fmt(errors[m]) for m in ("mape", "nmse_db", "mae", "rmse", "r2")))
    return table


def load_table(result: dict, title: str) -> Table:
    """Delay errors by the offered load of each flow's busiest link (``delay_by_load``), overall and per group,
    with the flows predicted beyond the scenario's physical bounds."""
    table = Table(title=f"{title}: delay by load of the busiest link (offered / capacity)")
    for column in ("load", "group", "flows", "MAPE %", "R²", "above bound"):
        table.add_column(column, justify="left" if column in ("load", "group") else "right")
    for name, section in [("all", result)] + list(result.get("groups", {}).items()):
        above = f"{section['n_flows_above_bound']} ({section['n_labels_above_bound']} labels)"
        for load in LOAD_CLASSES:
            errors = section.get("delay_by_load", {}).get(load)
            if errors is None or not errors["n_flows"]:
                continue
            table.add_row(load, name, str(errors["n_flows"]), _fmt(errors["mape"]), _fmt(errors["r2"]), above)
            above = ""
    return table


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
