"""Build the wheel, install it into a fresh virtualenv outside the source tree and run ``ndtwin demo`` there.

    python bench/wheel_check.py [--keep DIR]

Checks what a user of the published package gets: the shipped models and the example topology come from inside
the wheel, the demo runs from an empty directory, and the versions installed are those of constraints.txt.
Prints the time of each step. ``--keep DIR`` works in DIR (kept afterwards) instead of a temporary folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = "gnn"  # what `ndtwin demo` needs beyond the core dependencies


def step(name: str, command: list[str], cwd: Path) -> str:
    """Run ``command`` in ``cwd``, print its duration and return its standard output; exit on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    print(f"{name}: {time.perf_counter() - start:.1f} s (exit {done.returncode})", flush=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def check(work: Path) -> None:
    dist, venv, empty = work / "dist", work / "venv", work / "empty"
    empty.mkdir(parents=True)
    # sdist, then the wheel from it: no leftovers of an in-tree build/ folder end up in the wheel
    step("build sdist and wheel", [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=work)
    wheel = next(dist.glob("ndtwin-*.whl"))
    step("create venv", [sys.executable, "-m", "venv", str(venv)], cwd=work)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt")]
    step(f"install {wheel.name}[{EXTRAS}]", [*pip, f"{wheel}[{EXTRAS}]"], cwd=work)
    ndtwin = str(venv / "bin" / "ndtwin")
    print(step("ndtwin --version", [ndtwin, "--version"], cwd=empty).strip())
    where = step(
        "package location", [str(venv / "bin" / "python"), "-c", "import ndtwin; print(ndtwin.__file__)"], empty
    )
    if ROOT in Path(where.strip()).parents:
        sys.exit(f"ndtwin was imported from the source tree ({where.strip()}), not from the wheel")
    output = step("ndtwin demo", [ndtwin, "demo"], cwd=empty)
    print("\n".join(line for line in output.splitlines() if line.startswith(("twin (", "plot:"))))
    if not (empty / "out" / "demo" / "demo.png").is_file():
        sys.exit("the demo wrote no out/demo/demo.png")
    print("wheel check passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args()
    if args.keep:
        check(args.keep.resolve())
        return
    with tempfile.TemporaryDirectory(prefix="ndtwin-wheel-") as work:
        check(Path(work))


if __name__ == "__main__":
    main()
