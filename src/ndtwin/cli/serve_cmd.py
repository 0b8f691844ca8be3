"""``ndtwin serve``: the twin as a REST service with a web dashboard; ``ndtwin serve token create``."""

from __future__ import annotations

from pathlib import Path

import typer

from ndtwin.cli.common import check_output_path, fail
from ndtwin.errors import DatasetError, ScenarioError

serve_app = typer.Typer(help="Serve the twin over HTTP (REST API, dashboard, metrics).")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of a service's state folder.")
serve_app.add_typer(token_app, name="token")


@serve_app.callback(invoke_without_command=True)
def serve_command(
    ctx: typer.Context,
    state: Path | None = typer.Option(None, "--state", help="Folder keeping scenarios, jobs and tokens (created)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    model: str = typer.Option(
        "default", "--model", "-m", help="'qt', 'default', 'attention', 'testbed' or a model directory."
    ),
    auth: bool = typer.Option(True, "--auth/--no-auth", help="Require bearer tokens (--no-auth only on loopback)."),
    datasets: Path | None = typer.Option(None, "--datasets", help="Folder that dataset sample references resolve in."),
    operate: Path | None = typer.Option(
        None, "--operate", help="An `ndtwin operate --state` folder (default: STATE/operate)."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="Model registry (default: the operate folder's, else STATE/registry)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes running optimization jobs."),
    max_body_mb: float = typer.Option(16.0, "--max-body-mb", help="Largest request body (MiB)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the REST API (/docs), the dashboard (/) and /metrics; every route but /healthz, the docs and the
    dashboard's files needs `Authorization: Bearer TOKEN` (create one with `ndtwin serve token create`)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        import uvicorn

        from ndtwin.service.app import create_app
        from ndtwin.service.config import ServiceConfig, loopback
    except ImportError as error:
        fail(ImportError(f"the 'service' extra is needed: pip install 'ndtwin[service]' ({error})"))
    if state is None:
        fail(ValueError("--state: expected a folder for the service's state"))
    if not auth and not loopback(host):
        fail(ValueError(f"--no-auth: only on a loopback address, got --host {host}"))
    try:
        config = ServiceConfig(state, model=model, auth=auth, datasets=datasets, operate=operate, registry=registry,
                               workers=workers, max_body_bytes=int(max_body_mb * 2**20))  # fmt: skip
        app = create_app(config)
    except (DatasetError, ScenarioError, OSError) as error:
        fail(error)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@token_app.command("create")
def token_create_command(
    state: Path = typer.Option(..., "--state", help="The service's state folder."),
    role: str = typer.Option(..., "--role", help="read (ask) or write (also change: upload, jobs, promote)."),
) -> None:
    """Print a new token; only a salted hash of it is stored, so this is the one time it is shown."""
    from ndtwin.service.tokens import ROLES, TokenStore

    if role not in ROLES:
        fail(ValueError(f"--role: expected one of {list(ROLES)}, got {role!r}"))
    store = TokenStore(state)
    try:
        check_output_path(store.path, "--state")
        token = store.create(role)
    except (DatasetError, OSError) as error:
        fail(error)
    print(token)
