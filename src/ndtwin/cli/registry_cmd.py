"""``ndtwin registry``: list, promote and roll back model versions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.ops.registry import ModelRegistry, RegistryError, VersionInfo

registry_app = typer.Typer(no_args_is_help=True, help="Model registry: list, promote, rollback.")

SHOWN_METRICS = 3  # metrics per version in the table; --json has them all

ROOT_OPTION = typer.Option(
    Path("ndtwin-registry"),
    "--root",
    envvar="NDTWIN_REGISTRY",
    help="Registry directory (default: $NDTWIN_REGISTRY, else ./ndtwin-registry).",
)


def _open(root: Path) -> ModelRegistry:
    try:
        return ModelRegistry(root, create=False)
    except RegistryError as error:
        fail(error)


def _metrics_text(info: VersionInfo) -> str:
    items = list(info.metrics.items())[:SHOWN_METRICS]
    return "  ".join(
        f"{name} {value:.4g}" if isinstance(value, (int, float)) else f"{name} {value}" for name, value in items
    )


@registry_app.command("list")
def list_command(
    root: Path = ROOT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """The registered versions, oldest first; * marks the serving one."""
    registry = _open(root)
    try:
        versions, history = registry.versions(), registry.history()
    except RegistryError as error:
        fail(error)
    serving = history[-1] if history else None
    if as_json:
        payload = {
            "root": str(root),
            "serving": serving,
            "history": history,
            "versions": [v.to_dict() for v in versions],
        }
        print(json.dumps(payload))
        return
    table = Table(title=f"registry {root}: {len(versions)} version(s), serving {serving or 'none'}")
    for column in ("", "id", "created (UTC)", "parent", "metrics", "note"):
        table.add_column(column)
    for info in versions:
        marker = "*" if info.id == serving else ""
        created = info.created.replace("T", " ").removesuffix("+00:00")
        table.add_row(marker, info.id, created, info.parent or "–", _metrics_text(info), info.note)
    console.print(table)


@registry_app.command("promote")
def promote_command(
    version: str = typer.Argument(..., help="Version id to serve, e.g. v0003."), root: Path = ROOT_OPTION
) -> None:
    """Serve VERSION (refused for a model whose trust grade is Weak)."""
    registry = _open(root)
    try:
        before = registry.history()
        registry.promote(version)
    except RegistryError as error:
        fail(error)
    console.print(f"serving {version} (was {before[-1] if before else 'none'})")


@registry_app.command("rollback")
def rollback_command(root: Path = ROOT_OPTION) -> None:
    """Serve the previously serving version again."""
    registry = _open(root)
    try:
        before = registry.history()
        serving = registry.rollback()
    except RegistryError as error:
        fail(error)
    console.print(f"serving {serving} (rolled back from {before[-1]})")
