"""``ndtwin optimize``: routing optimization, capacity planning and failure analysis with the twin."""

from __future__ import annotations

import typer

from ndtwin.cli.optimize.capacity import capacity_command
from ndtwin.cli.optimize.failures import failures_command
from ndtwin.cli.optimize.routing import routing_command

optimize_app = typer.Typer(no_args_is_help=True, help="Optimization with the twin as oracle.")
optimize_app.command("routing")(routing_command)
optimize_app.command("capacity")(capacity_command)
optimize_app.command("failures")(failures_command)
