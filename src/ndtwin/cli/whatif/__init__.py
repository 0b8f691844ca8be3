"""``ndtwin whatif``: what-if answers (``run``), their trust validation (``validate``) and interval calibration
(``calibrate``)."""

from __future__ import annotations

import typer

from ndtwin.cli.whatif.calibrate import calibrate_command
from ndtwin.cli.whatif.run import run_command
from ndtwin.cli.whatif.validate import validate_command

whatif_app = typer.Typer(no_args_is_help=True, help="What-if analysis and trust validation.")
whatif_app.command("run")(run_command)
whatif_app.command("validate")(validate_command)
whatif_app.command("calibrate")(calibrate_command)
