"""The wheel carries what the package needs at run time outside the source tree: shipped models, topology, ns-3
model source, the dashboard's assets and the ``ndtwin`` command. (bench/wheel_check.py installs it in a fresh venv and runs the demo.)"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ndtwin"


def test_the_wheel_holds_the_shipped_models_and_topology(tmp_path):
    pytest.importorskip("build")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("ndtwin-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data_files = [  # every file of the package that is not Python: models, topology, ns-3 source, dashboard assets
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    missing = [
        str(p.relative_to(PACKAGE.parent)) for p in data_files if p.relative_to(PACKAGE.parent).as_posix() not in names
    ]
    assert not missing, missing
    assert {"ndtwin/resources/models/default/weights.safetensors", "ndtwin/resources/Abilene.graphml"} <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "ndtwin = ndtwin.cli.main:app" in zipfile.ZipFile(wheel).read(entry_points).decode()
