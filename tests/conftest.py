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
