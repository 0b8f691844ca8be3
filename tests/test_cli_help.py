"""Every command's help reads as plain text: no typer placeholders such as ``{data}`` or ``<bool>``."""

import re
from importlib.metadata import version

import click
import typer
from typer.testing import CliRunner

from ndtwin.cli.main import app

runner = CliRunner()
PLACEHOLDER = re.compile(r"<[a-z_\[\]| ]+>|\{[a-z_]+\}")


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """``()`` and the words of every (sub)command below ``command``."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, (*path, name))
    return paths


def test_every_help_is_free_of_placeholders():
    paths = command_paths(typer.main.get_command(app))
    assert ("whatif", "run") in paths and ("registry", "promote") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output
        assert not PLACEHOLDER.findall(result.output), (path, PLACEHOLDER.findall(result.output))


def test_help_names_arguments_and_option_values_in_capitals():
    text = runner.invoke(app, ["train", "--help"]).output
    assert "train [OPTIONS] DATA..." in text
    assert re.search(r"--out\s+-o\s+PATH", text) and re.search(r"--epochs\s+INTEGER", text)
    assert re.search(r"--moe\s+--no-moe\s+Mixture", text)  # a flag shows no type


def test_version_comes_from_the_package_metadata():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ndtwin {version('ndtwin')}"
