"""Model registry: immutable numbered versions of model directories, a serving pointer, promote and rollback.

Layout of ``root``::

    versions/v0001/version.json   id, created (UTC ISO time), metrics, data_window, parent, note, tags
    versions/v0001/model/         the registered model directory, copied as is
    serving.json                  {"serving": "v0003", "history": ["v0001", "v0003"]}
    tmp/                          work directories (registrations in progress, training outputs)
    .lock                         flock held around every write

The model goes to ``versions/<id>/model/`` (not beside ``version.json``) so a model directory that has its own
``version.json`` cannot clash. A registration is copied into ``tmp/`` and renamed into ``versions/`` in one
step; the serving pointer is replaced with ``os.replace``: a crash at any moment leaves either the old or the
new state. Work directories of dead processes are removed when a registry is opened.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

VERSION_FILE = "version.json"
SERVING_FILE = "serving.json"
GRADE_FILE = "grade.json"
OWNER_FILE = ".owner"
_VERSION_ID = re.compile(r"^v(\d{4,})$")


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message names the registry root and the version."""

    def __init__(self, root: str | Path, problem: str) -> None:
        self.root = Path(root)
        self.problem = problem
        super().__init__(f"registry {root}: {problem}")

    def __reduce__(self) -> tuple:
        """Pickle by constructor arguments, so the error crosses from worker processes intact."""
        return (RegistryError, (self.root, self.problem))


@dataclass(frozen=True)
class VersionInfo:
    """One registered version; ``model_dir`` is the directory to load the model from."""

    id: str
    created: str
    metrics: dict
    data_window: dict
    parent: str | None
    note: str
    model_dir: Path
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready fields (``model_dir`` as a string)."""
        return {**asdict(self), "model_dir": str(self.model_dir)}


class ModelRegistry:
    """Versions of model directories under ``root``; several processes may use one registry at once."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        """Open the registry at ``root``, creating it unless ``create`` is False (then RegistryError if absent)."""
        self.root = Path(root)
        if not create and not (self.root / "versions").is_dir():
            raise RegistryError(self.root, "no registry here (expected a directory holding versions/)")
        try:
            (self.root / "versions").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
        except OSError as error:
            raise RegistryError(self.root, f"cannot create the registry directories ({error.strerror})") from None
        self.clean()

    def clean(self) -> None:
        """Remove the work directories and files that dead processes left in ``tmp/`` (done on every open)."""
        with self._locked():
            for entry in (self.root / "tmp").iterdir():
                if entry.is_dir() and not _held(entry / OWNER_FILE):
                    shutil.rmtree(entry, ignore_errors=True)
                elif not entry.is_dir():
                    entry.unlink(missing_ok=True)

    def register(
        self,
        model_dir: str | Path,
        *,
        metrics: dict,
        data_window: dict,
        parent: str | None,
        note: str = "",
        tags: dict | None = None,
    ) -> str:
        """Copy ``model_dir`` into a new version and return its id (``v0001``, ``v0002``, …).

        ``metrics`` and ``data_window`` (e.g. the source and seq range trained on) must be JSON-serialisable;
        ``parent`` must be a registered version or None; ``tags`` are free string labels (e.g. ``drift_id``).
        """
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise RegistryError(
                self.root, f"model directory {model_dir} does not exist (expected a directory to register)"
            )
        if parent is not None:
            self.get(parent)
        record = {
            "metrics": metrics,
            "data_window": data_window,
            "parent": parent,
            "note": note,
            "tags": dict(tags or {}),
        }
        try:
            json.dumps(record)
        except (TypeError, ValueError) as error:
            raise RegistryError(
                self.root, f"metrics, data_window and tags must be JSON-serialisable ({error})"
            ) from None
        with self._locked():
            version = f"v{max(self._numbers(), default=0) + 1:04d}"
            staging = Path(tempfile.mkdtemp(prefix=f"register-{version}-", dir=self.root / "tmp"))
            shutil.copytree(model_dir, staging / "model")
            created = datetime.now(UTC).isoformat(timespec="seconds")
            _write_json(staging / VERSION_FILE, {"id": version, "created": created, **record})
            os.rename(staging, self.root / "versions" / version)
        return version

    def versions(self) -> list[VersionInfo]:
        """All versions, oldest first."""
        return [self.get(f"v{number:04d}") for number in sorted(self._numbers())]

    def get(self, version: str) -> VersionInfo:
        """The version ``version``; RegistryError if there is none."""
        path = self.root / "versions" / str(version) / VERSION_FILE
        if not _VERSION_ID.match(str(version)) or not path.is_file():
            known = [f"v{n:04d}" for n in sorted(self._numbers())]
            listed = f"{known[0]}–{known[-1]}" if known else "none"
            raise RegistryError(self.root, f"version {version}: not registered (registered: {listed})")
        record = _read_json(self.root, path)
        try:
            return VersionInfo(
                id=record["id"],
                created=record["created"],
                metrics=record["metrics"],
                data_window=record["data_window"],
                parent=record["parent"],
                note=record["note"],
                model_dir=path.parent / "model",
                tags=record.get("tags", {}),
            )
        except KeyError as missing:
            raise RegistryError(self.root, f"version {version}: {path} lacks the field {missing}") from None

    def find(self, **tags: str) -> list[VersionInfo]:
        """Versions whose tags include all of ``tags``, oldest first."""
        return [info for info in self.versions() if all(info.tags.get(k) == v for k, v in tags.items())]

    def serving(self) -> VersionInfo | None:
        """The serving version, or None before the first promotion."""
        history = self.history()
        return self.get(history[-1]) if history else None

    def serving_dir(self) -> Path | None:
        """The serving version's model directory, or None."""
        info = self.serving()
        return None if info is None else info.model_dir

    def history(self) -> list[str]:
        """Promoted versions, oldest first; the last is serving."""
        path = self.root / SERVING_FILE
        if not path.is_file():
            return []
        history = _read_json(self.root, path).get("history")
        if not isinstance(history, list):
            raise RegistryError(self.root, f"{path}: expected a 'history' list of version ids")
        return history

    def promote(self, version: str) -> None:
        """Serve ``version``. Refuses a version whose model directory has a ``grade.json`` with grade "Weak".

        Promoting the serving version is a no-op.
        """
        info = self.get(version)
        grade_path = info.model_dir / GRADE_FILE
        if grade_path.is_file():
            grade = _read_json(self.root, grade_path).get("grade")
            if str(grade).lower() == "weak":
                raise RegistryError(
                    self.root, f"version {version}: not promoted, its trust grade is Weak ({grade_path})"
                )
        with self._locked():
            history = self.history()
            if history and history[-1] == version:
                return
            self._write_history(history + [version])

    def rollback(self) -> str:
        """Serve the previously serving version again and return its id; RegistryError if there is none."""
        with self._locked():
            history = self.history()
            if len(history) < 2:
                serving = history[-1] if history else "none"
                raise RegistryError(
                    self.root, f"cannot roll back: no version served before the serving one ({serving})"
                )
            self._write_history(history[:-1])
        return history[-2]

    @contextmanager
    def workspace(self, prefix: str = "work") -> Iterator[Path]:
        """A fresh directory inside ``root/tmp``, held (flock) by this process and removed on exit.

        If the process dies, the next registry opened on ``root`` removes it.
        """
        with self._locked():
            path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.root / "tmp"))
            owner = open(path / OWNER_FILE, "w")
            fcntl.flock(owner, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            owner.close()

    def _numbers(self) -> list[int]:
        matches = (_VERSION_ID.match(p.name) for p in (self.root / "versions").iterdir())
        return [int(m.group(1)) for m in matches if m]

    def _write_history(self, history: list[str]) -> None:
        staging = self.root / "tmp" / f"{SERVING_FILE}.{os.getpid()}"
        serving = history[-1] if history else None
        _write_json(staging, {"serving": serving, "history": history})
        os.replace(staging, self.root / SERVING_FILE)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _held(owner_file: Path) -> bool:
    """Whether a live process holds the flock on ``owner_file``."""
    try:
        handle: IO = open(owner_file)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w") as handle:
        json.dump(value, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(root: Path, path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RegistryError(root, f"{path}: unreadable ({error})") from None
    if not isinstance(value, dict):
        raise RegistryError(root, f"{path}: expected a JSON object")
    return value
