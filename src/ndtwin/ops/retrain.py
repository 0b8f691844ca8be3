"""Background retraining: train a candidate in a separate process, register it, promote it if it scores better.

The loop calls :meth:`RetrainManager.trigger` when a drift is detected, :meth:`~RetrainManager.poll` at each
step and :meth:`~RetrainManager.wait` at the end. Training runs in a ``spawn`` process, so the serving model keeps
answering and a crash in training cannot corrupt the serving process. The job (in the worker process):

1. ``train_fn(out_dir, train_data) -> dict | None`` writes a model directory into ``out_dir`` (inside a registry
   work directory) and may return JSON-serialisable training metrics;
2. ``score_fn(model_dir, holdout) -> float | list[float]`` (lower is better, e.g. MAPE) scores the candidate and
   the model serving at the trigger on held-back recent data: one score, or one per held-back step;
3. the candidate is registered with parent = the version serving at the trigger, tag ``drift_id`` and metrics
   ``holdout_score``, ``parent_holdout_score``, ``train_seconds`` (plus the training metrics).

:meth:`~RetrainManager.poll` then promotes the candidate (in the calling process) only if it is better with
confidence (:func:`promotion_refusal`: its score is below ``serving_score * (1 - margin)`` on every held-back step,
so one lucky step does not swap the model; ``margin`` is the manager's, or the trigger's own) and the serving version did not change meanwhile; with no serving version
it is promoted as is. ``train_fn`` and ``score_fn`` must be module-level functions (they are pickled into the worker),
and should limit their own threads (e.g. ``torch.set_num_threads(1)``). The worker dies with the process that
started it (Linux), and the work directory of a killed job is removed by the next :class:`ModelRegistry` opened.
"""

from __future__ import annotations

import ctypes
import fcntl
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from ndtwin.ops.registry import ModelRegistry, RegistryError

TrainFn = Callable[[Path, Any], dict | None]
Scores = float | Sequence[float]
ScoreFn = Callable[[Path, Any], Scores]
Status = Literal["promoted", "rejected", "failed"]
RETRAIN_LOCK = "retrain.lock"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RetrainResult:
    """What became of one retraining job.

    ``status``: promoted, rejected (scored no better, or refused by the registry: see ``reason``) or failed (the
    training or scoring raised, or the worker died: ``reason`` holds the error).
    """

    drift_id: str
    status: Status
    candidate: str | None
    parent: str | None
    candidate_score: Scores | None
    serving_score: Scores | None
    train_seconds: float | None
    reason: str = ""
    train_metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class _JobSpec:
    """Everything the worker needs (pickled into it)."""

    root: Path
    train_fn: TrainFn
    score_fn: ScoreFn
    train_data: Any
    holdout: Any
    drift_id: str
    parent: str | None
    data_window: dict
    note: str
    starter_pid: int
    margin: float


class RetrainManager:
    """Runs one retraining job at a time in a background process and promotes its result when it is better."""

    def __init__(
        self,
        registry: ModelRegistry | str | Path,
        train_fn: TrainFn,
        score_fn: ScoreFn,
        *,
        margin: float = 0.0,
        background: bool = True,
    ) -> None:
        """``margin``: relative improvement required to promote (0.05 = the candidate's score must be at least
        5 % lower; scores must be positive, lower is better, e.g. an error). ``background=False`` runs jobs synchronously inside :meth:`trigger` (deterministic replays)."""
        self.margin = _checked_margin(margin)
        self.registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
        self.train_fn, self.score_fn, self.background = train_fn, score_fn, background
        self._triggered: set[str] = set()
        self._spec: _JobSpec | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Any = None
        self._outcome: dict | None = None
        self._lock: IO | None = None

    @property
    def running(self) -> bool:
        """Whether a job was started and its result not yet collected by :meth:`poll`."""
        return self._spec is not None

    def trigger(
        self,
        drift_id: str,
        train_data: Any,
        holdout: Any,
        *,
        data_window: dict,
        note: str = "",
        margin: float | None = None,
    ) -> bool:
        """Start retraining for drift ``drift_id``; return False (and start nothing) if a job is running, in this
        or another process on the same registry, or if ``drift_id`` was already triggered (by this manager or as
        the tag of a registered version). ``margin`` replaces the manager's for this job (e.g. one scaled to the
        data's noise)."""
        drift_id = str(drift_id)
        margin = self.margin if margin is None else _checked_margin(margin)
        if self.running or drift_id in self._triggered or self.registry.find(drift_id=drift_id):
            return False
        if not self._acquire_lock():
            return False
        self._triggered.add(drift_id)
        history = self.registry.history()
        self._spec = _JobSpec(
            root=self.registry.root,
            train_fn=self.train_fn,
            score_fn=self.score_fn,
            train_data=train_data,
            holdout=holdout,
            drift_id=drift_id,
            parent=history[-1] if history else None,
            data_window=data_window,
            note=note,
            starter_pid=os.getpid(),
            margin=margin,
        )
        if not self.background:
            self._outcome = _outcome_of(self._spec)
            return True
        context = multiprocessing.get_context("spawn")
        self._connection, sender = context.Pipe(duplex=False)
        process = context.Process(target=_run_job, args=(self._spec, sender), daemon=True, name=f"retrain-{drift_id}")
        try:
            process.start()
        except Exception:  # e.g. train_fn, score_fn or the data cannot be pickled
            self._triggered.discard(drift_id)
            self._finish()
            raise
        finally:
            sender.close()
        self._process = process
        return True

    def poll(self) -> RetrainResult | None:
        """The result of the job if it finished since the last call (promoting the candidate if better), else None."""
        if self._spec is None:
            return None
        if self.background:
            if not self._connection.poll():
                return None
            try:
                self._outcome = self._connection.recv()
            except EOFError:
                self._process.join()
                self._outcome = {"error": f"the training process died (exit code {self._process.exitcode})"}
        spec, outcome = self._spec, self._outcome
        self._finish()
        return self._decide(spec, outcome)

    def wait(self, timeout: float | None = None) -> RetrainResult | None:
        """Block until the running job finishes (or ``timeout`` seconds) and return :meth:`poll`'s result."""
        if self._spec is not None and self.background:
            self._connection.poll(timeout)
        return self.poll()

    def close(self) -> None:
        """Stop a running job (its work directory is removed) and release the retraining lock."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join()
            self.registry.clean()
        self._finish()

    def __enter__(self) -> RetrainManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _decide(self, spec: _JobSpec, outcome: dict) -> RetrainResult:
        common = {"drift_id": spec.drift_id, "parent": spec.parent}
        if "error" in outcome:
            return RetrainResult(
                status="failed",
                candidate=None,
                candidate_score=None,
                serving_score=None,
                train_seconds=None,
                reason=outcome["error"],
                **common,
            )
        facts = {
            **common,
            "candidate": outcome["candidate"],
            "candidate_score": outcome["candidate_score"],
            "serving_score": outcome["serving_score"],
            "train_seconds": outcome["train_seconds"],
            "train_metrics": outcome["train_metrics"],
        }
        reason = self._reason_to_reject(spec, outcome["candidate_score"], outcome["serving_score"])
        if not reason:
            try:
                self.registry.promote(outcome["candidate"])
            except RegistryError as error:
                reason = str(error)
        return RetrainResult(status="rejected" if reason else "promoted", reason=reason, **facts)

    def _reason_to_reject(self, spec: _JobSpec, candidate: Scores, serving: Scores | None) -> str:
        history = self.registry.history()
        now_serving = history[-1] if history else None
        if now_serving != spec.parent:
            return f"the serving version changed during training ({spec.parent} -> {now_serving})"
        return promotion_refusal(candidate, serving, spec.margin)

    def _acquire_lock(self) -> bool:
        lock = open(self.registry.root / RETRAIN_LOCK, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._lock = lock
        return True

    def _finish(self) -> None:
        if self._process is not None:
            # The worker has sent its outcome and is exiting: a short wait reaps it (no zombie) without stalling the
            # loop; one still alive is reaped when the next worker starts.
            self._process.join(timeout=1.0)
        if self._connection is not None:
            self._connection.close()
        if self._lock is not None:
            self._lock.close()
        self._spec = self._process = self._connection = self._outcome = self._lock = None


def promotion_refusal(candidate: Scores, serving: Scores | None, margin: float = 0.0) -> str:
    """Why a candidate must not replace the serving model ("" when it may), from their scores (lower is better) on
    the same held-back steps: one score each, or one per step.

    The candidate must score below ``serving * (1 - margin)`` on every step: being better on some steps only, or
    on the pooled score thanks to one step, is not better with confidence. Without a (finite) serving score the
    candidate is accepted if its own scores are finite."""
    cand = np.atleast_1d(np.asarray(candidate, dtype=float))
    if cand.size == 0 or not np.all(np.isfinite(cand)):
        return f"candidate score is {_listed(cand)}"
    if serving is None:
        return ""
    serv = np.atleast_1d(np.asarray(serving, dtype=float))
    if serv.shape != cand.shape:
        return f"candidate and serving were scored on different steps ({cand.size} vs {serv.size} scores)"
    if not np.all(np.isfinite(serv)):
        return ""
    needed = serv * (1 - margin)
    worse = int(np.sum(cand >= needed))
    if not worse:
        return ""
    return (
        f"candidate score {_listed(cand)} is not below {_listed(needed)} (serving {_listed(serv)}, margin {margin:g})"
        + (f" on {worse} of {cand.size} held-back steps" if cand.size > 1 else "")
    )


def _checked_margin(margin: float) -> float:
    if not 0 <= margin < 1:
        raise ValueError(f"margin: expected a number in [0, 1), got {margin!r}")
    return float(margin)


def _listed(values: np.ndarray) -> str:
    text = ", ".join(f"{v:.4g}" for v in values)
    return text if values.size == 1 else f"[{text}]"


def _run_job(spec: _JobSpec, sender: Any) -> None:
    """Worker process: die with the starter, run the job and send its outcome."""
    _die_with(spec.starter_pid)
    sender.send(_outcome_of(spec))
    sender.close()


def _outcome_of(spec: _JobSpec) -> dict:
    """Train, score and register; a dict of the facts, or ``{"error": ...}``."""
    try:
        registry = ModelRegistry(spec.root)
        with registry.workspace("train") as work:
            out_dir = work / "model"
            out_dir.mkdir()
            start = time.perf_counter()
            train_metrics = dict(spec.train_fn(out_dir, spec.train_data) or {})
            seconds = round(time.perf_counter() - start, 3)
            candidate_score = _plain_scores(spec.score_fn(out_dir, spec.holdout))
            parent_dir = None if spec.parent is None else registry.get(spec.parent).model_dir
            serving_score = None if parent_dir is None else _plain_scores(spec.score_fn(parent_dir, spec.holdout))
            metrics = {
                **train_metrics,
                "holdout_score": candidate_score,
                "parent_holdout_score": serving_score,
                "train_seconds": seconds,
            }
            candidate = registry.register(
                out_dir,
                metrics=metrics,
                data_window=spec.data_window,
                parent=spec.parent,
                note=spec.note,
                tags={"drift_id": spec.drift_id},
            )
    except Exception as error:  # reported to the loop, which keeps serving
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "candidate": candidate,
        "candidate_score": candidate_score,
        "serving_score": serving_score,
        "train_seconds": seconds,
        "train_metrics": train_metrics,
    }


def _plain_scores(scores: Scores) -> Scores:
    """A score, or a list of per-step scores, as JSON-ready floats."""
    return float(scores) if np.ndim(scores) == 0 else [float(v) for v in scores]


def _die_with(starter_pid: int) -> None:
    """Ask Linux to kill this process when its starter dies; exit now if it already has."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != starter_pid:
        os._exit(1)
