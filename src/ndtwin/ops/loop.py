"""The operational loop of a self-adaptive twin over a stream of measured windows (predict, then learn).

Every step (one element of windows): its traffic goes into the telemetry store, the serving model predicts its
delays (and, for comparison, the initial model, which is never retrained), a KSWIN detector watches the traffic
(no labels needed); then the measured delays arrive, are stored with the predictions served for them, and feed a
residual detector. After a drift, candidates are retrained in the background every few steps, only on labelled
windows the stream has delivered since the drift (the most recent steps held back to score them), and promoted
through the registry only when they beat the serving model with confidence: on every one of the held-back steps
(:func:`~ndtwin.ops.retrain.promotion_refusal`), not on one lucky step, and by more than the stream's own
step-to-step noise (:func:`required_gain_db`). By the same test on the initial model's stored predictions, a
retrained model that serves the latest steps worse than the initial model would have is replaced by it again. The
store holds the loop's checkpoint (in the same transaction as the step's labels), so a killed loop resumes at the
first step it had not finished.

When the windows carry an SLA delay budget, each step's windows are also flagged as violations before their labels
arrive, by :class:`~ndtwin.ops.sla.ResidualViolationRule` fitted on the windows measured since the last drift (the
serving model's own errors; likewise for the initial model), and stored with the predictions and the alarm scores
they threshold (for the synchronised twin, the mean of both models' violation probabilities); the threshold is the
one that maximised F1 on the windows measured so far (:func:`~ndtwin.ops.sla.f1_threshold`).

A replay runs far faster than the measurement clock (an element spans 100 s of traffic, a retraining takes
seconds), so before each step the loop waits for a running job, which in real operation would have finished
within the element; the serving model answers meanwhile either way.
"""

from __future__ import annotations

import base64
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ndtwin.data.metrics import nmse_db
from ndtwin.data.robust_ndt import BUDGET_COLUMN, MEASUREMENT_COLUMNS
from ndtwin.ops.drift import AnyOf, KswinDetector, ResidualDetector, relative_error
from ndtwin.ops.registry import ModelRegistry
from ndtwin.ops.retrain import RetrainManager, RetrainResult
from ndtwin.ops.sla import (
    ResidualViolationRule,
    alarm_scores,
    f1_threshold,
    flag_scores,
    mean_db,
    sla_scores,
    step_nmse_db,
    violations,
)
from ndtwin.ops.window_model import (
    HISTORY_COLUMN,
    INITIAL_ROUNDS,
    WindowDelayModel,
    flow_history,
    model_frame,
    with_element_context,
)

STORE_FILE = "telemetry.duckdb"
REGISTRY_DIR = "registry"
CHECKPOINT_KEY = "loop"
TRAFFIC_COLUMNS = ("step", "flow_id", "window_idx", *MEASUREMENT_COLUMNS)
SERVED_COLUMN = "served_delay_s"
INITIAL_COLUMN = "initial_model_delay_s"
SERVED_FLAG_COLUMN = "served_violation_flag"
INITIAL_FLAG_COLUMN = "initial_model_violation_flag"
SERVED_ALARM_COLUMN = "served_violation_score"
INITIAL_ALARM_COLUMN = "initial_model_violation_score"
PREDICTORS = (
    ("with_sync", SERVED_COLUMN, SERVED_FLAG_COLUMN, SERVED_ALARM_COLUMN),
    ("without_sync", INITIAL_COLUMN, INITIAL_FLAG_COLUMN, INITIAL_ALARM_COLUMN),
)


@dataclass(frozen=True)
class LoopSettings:
    """Detector, retraining and SLA settings (defaults: the paper's KSWIN on traffic; chosen on 5G-Crosshaul).

    Besides KSWIN (traffic windows) and the residual detector (one mean relative error per step), a step whose
    NMSE exceeds ``failure_db`` counts as a drift at once. Residual and failure alarms within ``quiet_steps`` of
    the last drift are ignored (the loop is already adapting). Retraining starts ``min_steps_after_drift`` steps
    after a drift and repeats every ``retrain_every`` steps up to ``adapt_steps`` steps after it; each candidate
    is trained on the steps since the drift except the last ``holdout_steps``, on which it is scored, and
    promoted only when its NMSE is lower than the serving model's on each of them by more than ``promotion_z``
    times the stream's own step-to-step noise (:func:`required_gain_db`). A
    candidate is trained only when those held-back steps carry at least ``holdout_min_flows`` flows: when a step
    is one connection (the robust-ndt replay), the held-back steps then include the start of a connection the
    candidate has not seen, so it must generalise beyond the connections it was trained on.
    SLA violations are flagged by :class:`~ndtwin.ops.sla.ResidualViolationRule` with ``sla_neighbours``,
    ``sla_min_windows``, learned from the windows measured since the last drift; the alarm threshold is the one
    that maximised F1 on all windows measured so far (:func:`~ndtwin.ops.sla.f1_threshold`), ``sla_threshold``
    until ``sla_min_violations`` violations have been measured.
    ``background`` runs retraining in another process; ``wait_for_retrain`` makes each step wait for a running
    job (replays, faster than the measurement clock) instead of serving on until it ends (a live stream).
    """

    kswin_alpha: float = 0.001
    kswin_window: int = 6800
    kswin_stat: int = 1200
    seed: int = 42
    residual_delta: float = 0.002
    residual_reference_steps: int = 5
    failure_db: float = 5.0
    min_steps_after_drift: int = 4
    retrain_every: int = 3
    adapt_steps: int = 40
    holdout_steps: int = 3
    holdout_min_flows: int = 2
    promotion_z: float = 2.0
    quiet_steps: int = 6
    sla_neighbours: int = 200
    sla_min_windows: int = 100
    sla_min_violations: int = 10
    sla_threshold: float = 0.5
    background: bool = True
    wait_for_retrain: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.holdout_steps < self.min_steps_after_drift:
            raise ValueError(
                f"holdout_steps: expected 1 <= holdout_steps < min_steps_after_drift ({self.min_steps_after_drift}), "
                f"got {self.holdout_steps}"
            )


@dataclass
class Checkpoint:
    """What the loop needs to resume: the next step and the store key (``seq``) of its first window, the drift
    bookkeeping, the first step the serving model served and the steps after which the initial model was restored,
    detectors and elapsed seconds."""

    next_step: int = 0
    next_seq: int = 0
    drift_step: int | None = None
    last_trigger: int | None = None
    drifts: list = field(default_factory=list)
    retrain_outcomes: list = field(default_factory=list)
    serving_since: int = 0
    fallbacks: list = field(default_factory=list)
    seconds: float = 0.0
    detectors: str = ""

    def to_state(self) -> dict:
        return asdict(self)


def _pickled(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def _unpickled(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))


def train_candidate(out_dir: Path, data: dict) -> dict:
    """Retraining job: fit a warm-started and a from-scratch model on ``data["frame"]``, keep the one better on
    the frame's last steps, refit it on the whole frame and save it to ``out_dir``."""
    frame: pd.DataFrame = data["frame"]
    warm = WindowDelayModel.load(data["warm_dir"])
    steps = np.unique(frame["step"])
    if steps.size >= 2:
        cut = steps[-max(1, steps.size // 4)]
        early, late = frame[frame["step"] < cut], frame[frame["step"] >= cut]
        scores = {
            "warm": step_score(WindowDelayModel.fit(early, warm_from=warm), late),
            "scratch": step_score(WindowDelayModel.fit(early), late),
        }
        kind = min(scores, key=scores.get)
    else:
        kind = "warm"
    model = WindowDelayModel.fit(frame, warm_from=warm if kind == "warm" else None)
    model.save(out_dir)
    return {"start": kind, "train_windows": int(len(frame))}


def step_score(model: WindowDelayModel, frame: pd.DataFrame) -> float:
    """Geometric mean of the per-step NMSE (linear; lower is better) of ``model`` on labelled ``frame``."""
    return float(10 ** (mean_db(step_nmse_db(frame["delay_s"], model.predict(frame), frame["step"])) / 10))


def holdout_step_scores(model_dir: Path, holdout: pd.DataFrame) -> list[float]:
    """NMSE (linear; lower is better) of a saved model on each held-back step, in step order."""
    model = WindowDelayModel.load(model_dir)
    return [float(10 ** (v / 10)) for v in step_nmse_db(holdout["delay_s"], model.predict(holdout), holdout["step"])]


class WindowStream(Protocol):
    """What the loop reads from a stream: :class:`ReplayStream`, or a live one (``ndtwin.ops.live_stream``)."""

    topology: str
    concept_starts: tuple[int, ...]
    patterns: tuple[str, ...]

    @property
    def n_steps(self) -> int: ...

    @property
    def has_budget(self) -> bool: ...

    @property
    def initial_training(self) -> pd.DataFrame: ...

    def concept_of_step(self, step: np.ndarray | int) -> np.ndarray: ...

    def step_windows(self, step: int) -> pd.DataFrame: ...


class OperatingLoop:
    """Runs a stream (:class:`WindowStream`) through the predict-then-learn loop, persisting everything in
    ``state_dir``."""

    def __init__(self, stream: WindowStream, state_dir: str | Path, settings: LoopSettings = LoopSettings()) -> None:
        self.stream, self.settings = stream, settings
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.source = f"stream/{stream.topology}"
        self.registry = ModelRegistry(self.state_dir / REGISTRY_DIR)

    def run(self, *, max_steps: int | None = None, on_step: Callable[[int, str], None] | None = None) -> dict:
        """Process the remaining steps (at most ``max_steps``) and return the experiment's figures."""
        from ndtwin.ops.store import TelemetryStore

        initial = self._initial_model()
        with (
            TelemetryStore(self.state_dir / STORE_FILE) as store,
            RetrainManager(
                self.registry,
                train_candidate,
                holdout_step_scores,
                background=self.settings.background,
            ) as manager,
        ):
            stored = store.get_state(CHECKPOINT_KEY, {})
            checkpoint = Checkpoint(**stored)
            if "next_seq" not in stored:  # a checkpoint written before it was kept: seq was the window's index
                checkpoint.next_seq = len(store.labelled(self.source))
            detectors = _unpickled(checkpoint.detectors) if checkpoint.detectors else self._detectors()
            serving_id, serving = self._serving()
            end = (
                self.stream.n_steps if max_steps is None else min(self.stream.n_steps, checkpoint.next_step + max_steps)
            )
            for step in range(checkpoint.next_step, end):
                started = time.perf_counter()
                waits = self.settings.background and self.settings.wait_for_retrain
                outcome = manager.wait() if waits else manager.poll()
                if outcome is not None:
                    checkpoint.retrain_outcomes.append(_outcome_record(outcome, step))
                    if on_step:
                        on_step(step, f"retrain {outcome.drift_id}: {outcome.status}")
                if self.registry.history()[-1] != serving_id:
                    serving_id, serving = self._serving()
                    checkpoint.serving_since = step
                    detectors.members["residual"].reset()
                self._step(store, step, serving, initial, detectors, checkpoint)
                self._maybe_fall_back(store, step, checkpoint, on_step)
                self._maybe_retrain(manager, store, step, checkpoint, on_step)
                checkpoint.seconds += time.perf_counter() - started
                if on_step:
                    on_step(step, "done")
            final = manager.wait()
            if final is not None:
                checkpoint.retrain_outcomes.append(_outcome_record(final, end))
                store.put_state(CHECKPOINT_KEY, checkpoint.to_state())
            return self._summary(store, checkpoint, finished=end == self.stream.n_steps)

    def served_windows(self) -> pd.DataFrame:
        """Every processed window: its traffic, measured delay and the predictions served for it."""
        from ndtwin.ops.store import TelemetryStore

        with TelemetryStore(self.state_dir / STORE_FILE, read_only=True) as store:
            return store.labelled(self.source)

    def _detectors(self) -> AnyOf:
        s = self.settings
        return AnyOf(
            {
                "traffic": KswinDetector(s.kswin_alpha, s.kswin_window, s.kswin_stat, seed=s.seed),
                "residual": ResidualDetector(delta=s.residual_delta, reference_size=s.residual_reference_steps),
            }
        )

    def _initial_model(self) -> WindowDelayModel:
        """The model trained on the initial training data: registered and promoted as the first version."""
        versions = self.registry.versions()
        if versions:
            return WindowDelayModel.load(versions[0].model_dir)
        training = model_frame(self.stream.initial_training, "conn_element_idx")
        model = WindowDelayModel.fit(training, rounds=INITIAL_ROUNDS)
        with self.registry.workspace("initial") as work:
            version = self.registry.register(
                model.save(work / "model"),
                metrics={"train_windows": len(training)},
                data_window={"source": "initial training split", "rows": len(training)},
                parent=None,
                note=f"initial model, {self.stream.patterns[0]} traffic",
            )
        self.registry.promote(version)
        return model

    def _serving(self) -> tuple[str, WindowDelayModel]:
        info = self.registry.serving()
        return info.id, WindowDelayModel.load(info.model_dir)

    def _step(
        self,
        store: Any,
        step: int,
        serving: WindowDelayModel,
        initial: WindowDelayModel,
        detectors: AnyOf,
        checkpoint: Checkpoint,
    ) -> None:
        """Predict one step, store its traffic, labels and predictions, and update the detectors."""
        rows = self.stream.step_windows(step)
        rows = rows.assign(seq=checkpoint.next_seq + np.arange(len(rows), dtype=np.int64)).reset_index(drop=True)
        traffic = rows[["seq", *TRAFFIC_COLUMNS] + ([BUDGET_COLUMN] if self.stream.has_budget else [])]
        store.append_traffic(self.source, traffic.reset_index(drop=True))
        measured_before = store.labelled(self.source)
        history = flow_history(measured_before)
        features = with_element_context(
            traffic.assign(**{HISTORY_COLUMN: traffic["flow_id"].map(history).to_numpy(float)}), "step"
        )
        predictions = {SERVED_COLUMN: serving.predict(features), INITIAL_COLUMN: initial.predict(features)}
        if self.stream.has_budget:
            predictions.update(self._violation_flags(measured_before, checkpoint.drift_step or 0, traffic, predictions))
        fired = set()
        for value in traffic["traffic_kbps"].to_numpy(float):
            if detectors.update({"traffic": value, "residual": None}):
                fired.update(detectors.fired)
        measured = rows["delay_s"].to_numpy(float)
        served = predictions[SERVED_COLUMN]
        if detectors.update({"traffic": None, "residual": relative_error(served, measured)}):
            fired.update(detectors.fired)
        if nmse_db(measured, served) > self.settings.failure_db:
            fired.add("failure")
        quiet = checkpoint.drift_step is not None and step - checkpoint.drift_step <= self.settings.quiet_steps
        if fired and not (quiet and "traffic" not in fired):
            checkpoint.drift_step, checkpoint.last_trigger = step, None
            checkpoint.drifts.append({"step": step, "detectors": sorted(fired)})
        checkpoint.next_step, checkpoint.next_seq = step + 1, checkpoint.next_seq + len(rows)
        checkpoint.detectors = _pickled(detectors)
        labels = pd.DataFrame({"seq": rows["seq"].to_numpy(), "delay_s": measured, **predictions})
        store.append_labels(self.source, labels, state={CHECKPOINT_KEY: checkpoint.to_state()})

    def _violation_flags(
        self, measured_before: pd.DataFrame, since_step: int, traffic: pd.DataFrame, predictions: dict
    ) -> dict[str, np.ndarray]:
        """SLA alarm scores and flags of one step's windows, learned from the windows measured since ``since_step``
        (before this step's delays arrive).

        Without synchronisation the score is the initial model's violation probability; the synchronised twin
        alarms on the mean of its serving model's and its initial model's probabilities: the initial model, trained
        on the most windows, ranks the spikes inside a connection well even after a concept change has moved its
        level (which the residual rule corrects), while the retrained model tracks the new level. A window is
        flagged when its score is above the threshold that maximised F1 on all windows measured so far."""
        s = self.settings
        rule = ResidualViolationRule(neighbours=s.sla_neighbours, min_windows=s.sla_min_windows)
        past = measured_before.reindex(columns=["step", "delay_s", BUDGET_COLUMN, SERVED_COLUMN, INITIAL_COLUMN])
        past = past[past["step"] >= since_step]
        probability = {
            column: rule.alarm_score(
                past[column], past["delay_s"], past[BUDGET_COLUMN], predictions[column], traffic[BUDGET_COLUMN]
            )
            for _, column, _, _ in PREDICTORS
        }
        scores = {
            SERVED_ALARM_COLUMN: (probability[SERVED_COLUMN] + probability[INITIAL_COLUMN]) / 2,
            INITIAL_ALARM_COLUMN: probability[INITIAL_COLUMN],
        }
        scored = measured_before.reindex(columns=["delay_s", BUDGET_COLUMN, *scores])
        measured = violations(scored["delay_s"], scored[BUDGET_COLUMN])
        flags = {
            flag: scores[alarm]
            > f1_threshold(measured, scored[alarm], min_violations=s.sla_min_violations, fallback=s.sla_threshold)
            for _, _, flag, alarm in PREDICTORS
        }
        return {**scores, **flags}

    def _maybe_fall_back(
        self, store: Any, step: int, checkpoint: Checkpoint, on_step: Callable[[int, str], None] | None
    ) -> None:
        """Serve the initial model again when its stored predictions beat the serving model's on each of the last
        ``holdout_steps`` steps (covering at least ``holdout_min_flows`` flows) by a promotion's required gain."""
        s = self.settings
        initial_id = self.registry.versions()[0].id
        if self.registry.history()[-1] == initial_id or step + 1 - s.holdout_steps < checkpoint.serving_since:
            return
        labelled = store.labelled(self.source)
        recent = labelled[labelled["step"] > step - s.holdout_steps]
        if recent["flow_id"].nunique() < s.holdout_min_flows:
            return
        served = step_nmse_db(recent["delay_s"], recent[SERVED_COLUMN], recent["step"])
        initial = step_nmse_db(recent["delay_s"], recent[INITIAL_COLUMN], recent["step"])
        if np.all(served - initial > self._swap_gain_db(labelled, checkpoint.drift_step or 0)):
            self.registry.promote(initial_id)
            checkpoint.fallbacks.append(step)
            store.put_state(CHECKPOINT_KEY, checkpoint.to_state())
            if on_step:
                on_step(step, "the initial model serves again")

    def _swap_gain_db(self, labelled: pd.DataFrame, since_step: int) -> float:
        """The gain (dB per step) a model needs to replace the serving one: :func:`required_gain_db` of the served
        per-step NMSE of the windows since ``since_step``."""
        since = labelled[labelled["step"] >= since_step]
        served_db = step_nmse_db(since["delay_s"], since[SERVED_COLUMN], since["step"])
        return required_gain_db(served_db, self.settings.promotion_z)

    def _maybe_retrain(
        self,
        manager: RetrainManager,
        store: Any,
        step: int,
        checkpoint: Checkpoint,
        on_step: Callable[[int, str], None] | None,
    ) -> None:
        """Trigger a background retraining when the schedule after the last drift asks for one and the held-back
        steps cover at least ``holdout_min_flows`` flows."""
        s, drift = self.settings, checkpoint.drift_step
        if drift is None:
            return
        since = step - drift + 1
        due = checkpoint.last_trigger is None or step - checkpoint.last_trigger >= s.retrain_every
        if since < s.min_steps_after_drift or since > s.adapt_steps or not due:
            return
        labelled = model_frame(store.labelled(self.source), "step")
        frame = labelled[labelled["step"] >= drift]
        cut = step + 1 - s.holdout_steps
        holdout = frame[frame["step"] >= cut]
        if holdout["flow_id"].nunique() < s.holdout_min_flows:
            return
        drift_id = f"drift{drift}-step{step}"
        warm_dir = str(self.registry.serving_dir())
        started = manager.trigger(
            drift_id,
            {"frame": frame[frame["step"] < cut], "warm_dir": warm_dir},
            holdout,
            data_window={"source": self.source, "steps": [drift, step], "holdout_steps": [cut, step]},
            note=f"retrained after the drift at step {drift}",
            margin=1 - 10 ** (-self._swap_gain_db(frame, drift) / 10),
        )
        if started:
            checkpoint.last_trigger = step
            if on_step:
                on_step(step, f"retraining {drift_id}")

    def _summary(self, store: Any, checkpoint: Checkpoint, *, finished: bool) -> dict:
        return summarize(self.stream, store.labelled(self.source), checkpoint, self.registry, finished=finished)


def required_gain_db(served_step_db: np.ndarray, z: float) -> float:
    """The gain (dB) a candidate needs on every held-back step to be promoted: ``z`` times the stream's own
    step-to-step noise, the spread of successive differences of the served per-step NMSE (dB) since the drift
    (1.4826 × their median absolute deviation / √2: robust to the level shifts between connections or concepts).
    Scale-free: a noisy stream needs a larger gain, a steady one a small gain."""
    values = np.asarray(served_step_db, dtype=float)
    steps = np.diff(values[np.isfinite(values)])
    return z * 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / np.sqrt(2) if steps.size else 0.0


def _outcome_record(outcome: RetrainResult, step: int) -> dict:
    return {
        "drift_id": outcome.drift_id,
        "status": outcome.status,
        "candidate": outcome.candidate,
        "train_seconds": outcome.train_seconds,
        "collected_at_step": step,
        "reason": outcome.reason,
    }


def summarize(
    stream: WindowStream, labelled: pd.DataFrame, checkpoint: Checkpoint, registry: ModelRegistry, *, finished: bool
) -> dict:
    """The experiment's figures from the stored windows (measured delay + predictions) and the registry.

    Besides NMSE (mean of per-step dB and pooled over windows, overall and per concept), drifts and retraining
    outcomes: ``model_swaps`` (promotions after the initial model, returns to it included: ``fallback_steps``),
    ``concept_changes`` (concept boundaries in the
    processed steps) and ``swaps_per_concept_change``; with an SLA budget, ``sla_alarms`` holds precision, recall,
    F1, PR-AUC and alarm rate of the twin's alarms (``twin``), of the plain "predicted delay > budget" rule
    (``plain_rule``, ranked by predicted / budget for PR-AUC), each with and without synchronisation, and of a
    twin that never alarms (``never_alarm``).
    """
    steps = np.sort(labelled["step"].unique())
    per_step = {
        name: step_nmse_db(labelled["delay_s"], labelled[column], labelled["step"]) for name, column, *_ in PREDICTORS
    }
    concept = stream.concept_of_step(steps)
    window_concept = stream.concept_of_step(labelled["step"].to_numpy())
    versions = {info.id: info for info in registry.versions()}
    history = registry.history()
    retrain_seconds = sum(info.metrics.get("train_seconds", 0.0) for info in versions.values() if info.parent)
    result = {
        "topology": stream.topology,
        "steps": int(steps.size),
        "finished": finished,
        "nmse_db": {name: mean_db(values) for name, values in per_step.items()},
        "nmse_db_pooled": {name: nmse_db(labelled["delay_s"], labelled[column]) for name, column, *_ in PREDICTORS},
        "nmse_db_per_concept": {
            pattern: {name: mean_db(values[concept == i]) for name, values in per_step.items()}
            for i, pattern in enumerate(stream.patterns)
            if np.any(concept == i)
        },
        "nmse_db_pooled_per_concept": {
            pattern: {
                name: nmse_db(labelled["delay_s"][window_concept == i], labelled[column][window_concept == i])
                for name, column, *_ in PREDICTORS
            }
            for i, pattern in enumerate(stream.patterns)
            if np.any(concept == i)
        },
        "drifts_detected": checkpoint.drifts,
        "retrains": sum(1 for info in versions.values() if info.parent),
        "retrain_outcomes": {
            status: sum(1 for o in checkpoint.retrain_outcomes if o["status"] == status)
            for status in ("promoted", "rejected", "failed")
        },
        "promotions": [
            {"version": v, "steps": versions[v].data_window.get("steps"), "start": versions[v].metrics.get("start")}
            for v in history[1:]
        ],
        "promotion_steps": [o["collected_at_step"] for o in checkpoint.retrain_outcomes if o["status"] == "promoted"],
        "fallback_steps": checkpoint.fallbacks,
        "model_swaps": len(history) - 1,
        "concept_changes": int(np.unique(concept).size - 1),
        "swaps_per_concept_change": (len(history) - 1) / max(int(np.unique(concept).size - 1), 1),
        "serving_version": history[-1],
        "retrain_seconds": round(retrain_seconds, 2),
        "loop_seconds": round(checkpoint.seconds, 2),
        "retrain_time_share": round(retrain_seconds / max(checkpoint.seconds, 1e-9), 4),
        "per_step_nmse_db": {name: [round(float(v), 3) for v in values] for name, values in per_step.items()},
    }
    if BUDGET_COLUMN in labelled.columns:
        actual = violations(labelled["delay_s"], labelled[BUDGET_COLUMN])
        result["sla"] = {name: flag_scores(actual, labelled[flag].astype(bool)) for name, _, flag, _ in PREDICTORS}
        result["sla_accuracy"] = {name: scores["accuracy"] for name, scores in result["sla"].items()}
        result["sla_predicted_above_budget"] = {
            name: sla_scores(labelled["delay_s"], labelled[column], labelled[BUDGET_COLUMN])
            for name, column, *_ in PREDICTORS
        }
        result["sla_alarms"] = sla_alarm_report(labelled, actual)
    return result


def sla_alarm_report(labelled: pd.DataFrame, actual: np.ndarray) -> dict:
    """Alarm scores (:func:`~ndtwin.ops.sla.alarm_scores`) of the twin, the plain rule and a never-alarm twin."""
    budget = labelled[BUDGET_COLUMN].to_numpy(float)
    report: dict = {"twin": {}, "plain_rule": {}}
    for name, column, flag, alarm in PREDICTORS:
        report["twin"][name] = alarm_scores(actual, labelled[flag].astype(bool), labelled[alarm])
        ratio = labelled[column].to_numpy(float) / budget
        report["plain_rule"][name] = alarm_scores(actual, ratio > 1, ratio)
    report["never_alarm"] = alarm_scores(actual, np.zeros(actual.size, dtype=bool), np.zeros(actual.size))
    return report
