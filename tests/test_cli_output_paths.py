"""Every command that writes checks its output path before any work: a clear error naming the option, exit 2."""

import pytest
from typer.testing import CliRunner

from ndtwin.cli.common import check_output_path
from ndtwin.cli.main import app
from ndtwin.errors import DatasetError

runner = CliRunner()

TRAIN = "gnnet/2021/train"
COMMANDS = {
    "train": (["train", "{data}", "--out", "{out}", "--max-minutes", "0.2"], "--out"),
    "train ensemble": (["train", "{data}", "--out", "{out}", "--members", "2"], "--out"),
    "generate": (["generate", "{out}", "--samples", "2"], "OUT"),
    "convert": (["convert", "{data}", "{out}"], "DST"),
    "simulate": (["simulate", "{data}", "--out", "{out}"], "--out"),
    "operate --state": (["operate", "--sim", "--state", "{out}"], "--state"),
    "operate --plots": (["operate", "--sim", "--plots", "{out}"], "--plots"),
    "demo": (["demo", "--out", "{out}"], "--out"),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_output_below_a_file_is_refused_before_any_work(name, shared_data, tmp_path):
    words, option = COMMANDS[name]
    (tmp_path / "blocker").write_text("a file, not a folder")
    out = tmp_path / "blocker" / "result"
    args = [w.format(data=shared_data / TRAIN, out=out) for w in words]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{out}: {option} cannot be written: {tmp_path / 'blocker'} is a file, not a folder" in result.output
    assert "Traceback" not in result.output and "epoch" not in result.output and "step" not in result.output
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


def test_check_output_path_creates_the_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "model"
    assert check_output_path(path, "--out") == path
    assert path.parent.is_dir() and not path.exists()


def test_check_output_path_names_the_file_in_the_way(tmp_path):
    (tmp_path / "blocker").touch()
    with pytest.raises(DatasetError, match=r"--png cannot be written: .*blocker is a file, not a folder"):
        check_output_path(tmp_path / "blocker" / "deeper" / "plot.png", "--png")
