import os
from pathlib import Path

import pytest

# Wide enough that the CLI never wraps the messages tests look for (paths under tmp_path are long).
os.environ["COLUMNS"] = "250"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it are skipped without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def validate_qt():
    """``validate_qt(topology, packets, *options)``: ``ndtwin whatif validate`` of the qt model on a topology file,
    one perturbation per kind on one baseline at 60 % load, ``packets`` per flow."""

    from typer.testing import CliRunner, Result

    from ndtwin.cli.main import app

    def validate(topology: Path, packets: int, *options: str) -> Result:
        command = ["whatif", "validate", "--topology", str(topology), "--model", "qt", "--per-type", "1"]
        return CliRunner().invoke(app, [*command, "--loads", "0.6", "--packets", str(packets), *options])

    return validate
