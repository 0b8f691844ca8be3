"""Optimization jobs: records under ``state/jobs``, run in a process pool, with progress and cancellation.

``<id>.json`` is the record (written by the service process only, atomically); the worker reports progress in
``<id>.progress`` and looks for ``<id>.cancel``. A job still queued or running when the service stopped (even by
``kill -9``) is marked failed when the service starts again: never silently lost.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import secrets
import threading
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.service.optimize_tasks import JobCancelled, exit_with_parent, run_job
from ndtwin.service.problems import ApiError

JOBS_DIR = "jobs"
ID_PATTERN = r"^j[0-9a-f]{12}$"
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _replace_text(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    with open(staging, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)


class JobFiles:
    """The files of one job."""

    def __init__(self, state: Path, job_id: str) -> None:
        folder = Path(state) / JOBS_DIR
        self.record = folder / f"{job_id}.json"
        self.progress = folder / f"{job_id}.progress"
        self.cancel = folder / f"{job_id}.cancel"

    def write_progress(self, value: float) -> None:
        _replace_text(self.progress, f"{value:.4f}")

    def read_progress(self) -> float | None:
        try:
            return float(self.progress.read_text())
        except (OSError, ValueError):
            return None

    def cancel_requested(self) -> bool:
        return self.cancel.exists()


class JobManager:
    """Submits, tracks and cancels jobs; one process pool of ``workers`` processes."""

    def __init__(self, state: Path, model: str, workers: int = 1) -> None:
        self.state, self.model, self.workers = Path(state), model, workers
        (self.state / JOBS_DIR).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._futures: dict[str, Future] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._fail_interrupted()

    def _fail_interrupted(self) -> None:
        for record in self.records():
            if record["state"] not in FINAL:
                was = record["state"]
                self._update(record["id"], state="failed", finished=_now(),
                             error=f"interrupted: the service stopped while the job was {was}")  # fmt: skip

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")  # no fork of a threaded server
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),)
            )
        return self._pool

    def records(self) -> list[dict[str, Any]]:
        """Every job, oldest first, with its current progress."""
        found = []
        for path in (self.state / JOBS_DIR).glob("j*.json"):
            try:
                found.append(self._with_progress(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda r: (r["created"], r["id"]))

    def get(self, job_id: str) -> dict[str, Any]:
        """One job; ApiError 404 if there is none."""
        path = JobFiles(self.state, job_id).record
        if not re.match(ID_PATTERN, job_id) or not path.is_file():
            raise ApiError(404, f"no job {job_id!r}", "job_id")
        return self._with_progress(json.loads(path.read_text()))

    def submit(self, kind: str, scenario_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Queue a job and return its record."""
        job_id = "j" + secrets.token_hex(6)
        record = {
            "id": job_id,
            "kind": kind,
            "scenario_id": scenario_id,
            "model": self.model,
            "params": params,
            "state": "queued",
            "progress": 0.0,
            "created": _now(),
            "finished": None,
            "error": None,
            "result": None,
        }
        _replace_text(JobFiles(self.state, job_id).record, json.dumps(record))
        with self._lock:
            try:
                future = self._executor().submit(run_job, self.state, job_id, kind, scenario_id, self.model, params)
            except BrokenProcessPool:
                self._pool = None
                future = self._executor().submit(run_job, self.state, job_id, kind, scenario_id, self.model, params)
            self._futures[job_id] = future
        future.add_done_callback(lambda done: self._finish(job_id, done))
        return record

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; ApiError 409 for a finished one."""
        record = self.get(job_id)
        if record["state"] in FINAL:
            raise ApiError(409, f"job {job_id} has already {record['state']}", "job_id")
        files = JobFiles(self.state, job_id)
        files.cancel.touch()
        future = self._futures.get(job_id)
        if future is not None and future.cancel():
            self._update(job_id, state="cancelled", finished=_now())
        return self.get(job_id)

    def _finish(self, job_id: str, future: Future) -> None:
        try:
            result = future.result()
        except CancelledError:
            return self._update(job_id, state="cancelled", finished=_now())
        except JobCancelled:
            return self._update(job_id, state="cancelled", finished=_now())
        except (ScenarioError, DatasetError, ApiError, ValueError) as error:
            return self._update(job_id, state="failed", finished=_now(), error=str(error))
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return self._update(job_id, state="failed", finished=_now(), error="the worker process died")
        except Exception as error:  # noqa: BLE001 - a job's failure is reported in its record, not raised
            return self._update(job_id, state="failed", finished=_now(), error=f"{type(error).__name__}: {error}")
        finally:
            self._futures.pop(job_id, None)
        self._update(job_id, state="succeeded", finished=_now(), progress=1.0, result=result)

    def _update(self, job_id: str, **changes: Any) -> None:
        files = JobFiles(self.state, job_id)
        with self._lock:
            record = json.loads(files.record.read_text())
            record.update(changes)
            _replace_text(files.record, json.dumps(record))
        files.progress.unlink(missing_ok=True)
        files.cancel.unlink(missing_ok=True)

    def _with_progress(self, record: dict[str, Any]) -> dict[str, Any]:
        if record["state"] == "queued":
            progress = JobFiles(self.state, record["id"]).read_progress()
            if progress is not None:
                record |= {"state": "running", "progress": progress}
        return record

    def counts(self) -> dict[str, int]:
        """Jobs by state."""
        counts = dict.fromkeys(STATES, 0)
        for record in self.records():
            counts[record["state"]] += 1
        return counts

    def shutdown(self) -> None:
        """Stop the pool (running jobs are cancelled through their files)."""
        for job_id in list(self._futures):
            JobFiles(self.state, job_id).cancel.touch()
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None  # a later job gets a new pool
