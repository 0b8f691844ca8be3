"""What a run created, written before it creates anything, so that a run killed outright is cleaned up by the next.

One JSON file per run under ``STATE_DIR`` (a tmpfs, cleared at boot like the namespaces themselves) names the
owning process (pid and start time) and the namespaces. A later run removes the namespaces of every file whose
owner is gone; runs still alive are left alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ndtwin.emulate.host import delete_namespace, existing_namespaces

STATE_DIR = Path("/run/ndtwin/emulate")


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class RunState:
    """The state file of the run ``run_id`` owned by this process."""

    def __init__(self, run_id: str, namespaces: list[str], state_dir: Path = STATE_DIR) -> None:
        self.path = state_dir / f"{run_id}.json"
        self.namespaces = namespaces

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "start": process_start(os.getpid()), "namespaces": self.namespaces}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(self.path)

    def remove(self) -> None:
        """Delete the run's namespaces (those that exist) and its state file."""
        present = existing_namespaces()
        for namespace in self.namespaces:
            if namespace in present:
                delete_namespace(namespace)
        self.path.unlink(missing_ok=True)


def sweep_stale(state_dir: Path = STATE_DIR) -> list[str]:
    """Remove what runs whose process is gone left behind; returns the namespaces deleted."""
    swept: list[str] = []
    for path in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            pid, start, namespaces = int(record["pid"]), record["start"], list(record["namespaces"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge; a file being written is replaced atomically
        if process_start(pid) == start and start is not None:
            continue
        present = existing_namespaces()
        for namespace in namespaces:
            if namespace in present:
                delete_namespace(namespace)
                swept.append(namespace)
        path.unlink(missing_ok=True)
    return swept
