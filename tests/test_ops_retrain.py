"""Background retraining: trigger/poll/wait, promotion only when better, refusals, and survival of kill -9."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ndtwin.ops.registry import ModelRegistry
from ndtwin.ops.retrain import RetrainManager, promotion_refusal
from ndtwin.ops.store import TelemetryStore

TESTS_DIR = Path(__file__).resolve().parent


def write_model(out_dir: Path, data: dict) -> dict:
    """A trivial 'training': the model is its quality; optionally records the worker pid, sleeps or fails."""
    if "pid_file" in data:
        Path(data["pid_file"]).write_text(str(os.getpid()))
    (out_dir / "weights.json").write_text(json.dumps({"quality": data["quality"]}))
    if data.get("grade"):
        (out_dir / "grade.json").write_text(json.dumps({"grade": data["grade"]}))
    time.sleep(data.get("sleep", 0))
    if data.get("fail"):
        raise RuntimeError("training diverged")
    return {"epochs": 3}


def score_model(model_dir: Path, holdout: dict) -> float:
    """Lower is better: the holdout's difficulty divided by the model's quality."""
    return holdout["difficulty"] / json.loads((model_dir / "weights.json").read_text())["quality"]


HOLDOUT = {"difficulty": 1.0}


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    """A registry serving v0001, a model of quality 1 (holdout score 1.0)."""
    registry = ModelRegistry(tmp_path / "reg")
    initial = tmp_path / "initial"
    initial.mkdir()
    write_model(initial, {"quality": 1.0})
    registry.promote(registry.register(initial, metrics={}, data_window={}, parent=None))
    return registry


def test_background_job_promotes_a_better_candidate_and_refuses_duplicates(registry):
    manager = RetrainManager(registry, write_model, score_model)
    window = {"source": "s", "start_seq": 0, "end_seq": 100}
    assert manager.trigger("drift-1", {"quality": 2.0, "sleep": 0.3}, HOLDOUT, data_window=window, note="after drift-1")
    assert manager.running
    assert manager.poll() is None  # the worker is still starting or training; serving goes on
    assert not manager.trigger("drift-1", {"quality": 2.0}, HOLDOUT, data_window=window)
    assert not manager.trigger("drift-2", {"quality": 2.0}, HOLDOUT, data_window=window)
    result = manager.wait(timeout=60)
    assert result is not None and not manager.running
    assert (result.status, result.candidate, result.parent) == ("promoted", "v0002", "v0001")
    assert (result.candidate_score, result.serving_score) == (0.5, 1.0)
    assert result.train_seconds >= 0.3 and result.train_metrics == {"epochs": 3}
    assert registry.serving().id == "v0002"
    info = registry.get("v0002")
    assert info.tags == {"drift_id": "drift-1"} and info.data_window == window and info.note == "after drift-1"
    assert info.metrics["holdout_score"] == 0.5 and info.metrics["parent_holdout_score"] == 1.0
    assert list((registry.root / "tmp").iterdir()) == []
    assert manager.poll() is None
    # After a restart, a drift that already produced a version is not retrained again.
    restarted = RetrainManager(registry, write_model, score_model)
    assert not restarted.trigger("drift-1", {"quality": 3.0}, HOLDOUT, data_window={})


def test_candidate_must_beat_the_margin(registry):
    manager = RetrainManager(registry, write_model, score_model, margin=0.1, background=False)
    assert manager.trigger("d", {"quality": 1.05}, HOLDOUT, data_window={})
    result = manager.poll()
    assert result.status == "rejected" and "is not below 0.9" in result.reason
    assert result.candidate == "v0002" and registry.get("v0002").parent == "v0001"
    assert registry.serving().id == "v0001"
    assert manager.trigger("d2", {"quality": 1.2}, HOLDOUT, data_window={})
    assert manager.poll().status == "promoted"


def test_failed_training_is_reported_and_releases_the_lock(registry):
    manager = RetrainManager(registry, write_model, score_model)
    assert manager.trigger("d", {"quality": 5.0, "fail": True}, HOLDOUT, data_window={})
    result = manager.wait(timeout=60)
    assert result.status == "failed" and result.reason == "RuntimeError: training diverged"
    assert result.candidate is None and [v.id for v in registry.versions()] == ["v0001"]
    assert list((registry.root / "tmp").iterdir()) == []
    assert manager.trigger("d-next", {"quality": 5.0}, HOLDOUT, data_window={})
    assert manager.wait(timeout=60).status == "promoted"


def test_one_job_at_a_time_across_managers(registry):
    first = RetrainManager(registry, write_model, score_model, background=False)
    second = RetrainManager(ModelRegistry(registry.root), write_model, score_model, background=False)
    assert first.trigger("a", {"quality": 2.0}, HOLDOUT, data_window={})
    assert not second.trigger("b", {"quality": 3.0}, HOLDOUT, data_window={})  # first's result not collected yet
    assert first.poll().status == "promoted"
    assert second.trigger("b", {"quality": 3.0}, HOLDOUT, data_window={})
    assert second.poll().status == "promoted" and registry.serving().id == "v0003"


def test_no_promotion_when_serving_changed_or_grade_is_weak(registry, tmp_path):
    manager = RetrainManager(registry, write_model, score_model, background=False)
    manager.trigger("a", {"quality": 2.0}, HOLDOUT, data_window={})
    other = tmp_path / "other"
    other.mkdir()
    write_model(other, {"quality": 1.5})
    registry.promote(registry.register(other, metrics={}, data_window={}, parent="v0001"))  # v0003
    result = manager.poll()
    assert result.status == "rejected" and "serving version changed during training (v0001 -> v0003)" in result.reason
    manager.trigger("b", {"quality": 9.0, "grade": "Weak"}, HOLDOUT, data_window={})
    result = manager.poll()
    assert result.status == "rejected" and "trust grade is Weak" in result.reason
    assert registry.serving().id == "v0003"


def test_first_model_is_promoted_without_comparison(tmp_path):
    manager = RetrainManager(tmp_path / "reg", write_model, score_model, background=False)
    manager.trigger("boot", {"quality": 1.0}, HOLDOUT, data_window={})
    result = manager.poll()
    assert (result.status, result.parent, result.serving_score) == ("promoted", None, None)


def test_unpicklable_training_function_is_an_error_not_a_stuck_job(registry):
    manager = RetrainManager(registry, lambda out_dir, data: None, score_model)
    with pytest.raises(Exception, match="pickle"):
        manager.trigger("d", {}, HOLDOUT, data_window={})
    assert not manager.running
    manager.train_fn = write_model
    assert manager.trigger("d", {"quality": 2.0}, HOLDOUT, data_window={})
    assert manager.wait(timeout=60).status == "promoted"


def test_close_stops_a_running_job(registry):
    manager = RetrainManager(registry, write_model, score_model)
    manager.trigger("slow", {"quality": 2.0, "sleep": 60}, HOLDOUT, data_window={})
    manager.close()
    assert not manager.running and [v.id for v in registry.versions()] == ["v0001"]
    assert list((registry.root / "tmp").iterdir()) == []


def serve_until_killed(root: str, store_path: str, pid_file: str) -> None:
    """The operating loop of a twin, in its own process: store telemetry while a slow retrain runs, until killed."""
    manager = RetrainManager(root, write_model, score_model)
    manager.trigger("d-kill", {"quality": 3.0, "sleep": 120, "pid_file": pid_file}, HOLDOUT, data_window={})
    with TelemetryStore(store_path) as store:
        for seq in itertools.count():
            frame = pd.DataFrame({"seq": [seq], "rate_bps": [1e6 * seq], "link": ["a-b"]})
            store.append_traffic("s", frame, state={"last_seq": seq})
            manager.poll()


def alive(pid: int) -> bool:
    """Whether any thread of process ``pid`` still runs (a zombie leader may wait for its other threads to exit)."""
    try:
        zombie = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        return not zombie or len(os.listdir(f"/proc/{pid}/task")) > 1
    except (OSError, IndexError):
        return False


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_kill_9_mid_training_leaves_registry_and_store_intact(registry, tmp_path):
    store_path, pid_file = tmp_path / "telemetry.duckdb", tmp_path / "worker.pid"
    serving_before = registry.serving()
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); import test_ops_retrain as t; "
        f"t.serve_until_killed({str(registry.root)!r}, {str(store_path)!r}, {str(pid_file)!r})"
    )
    loop = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert wait_for(lambda: pid_file.is_file() and pid_file.read_text(), 60), "the training never started"
        time.sleep(0.5)  # the loop keeps appending telemetry while the worker trains
        assert loop.poll() is None
    finally:
        os.kill(loop.pid, signal.SIGKILL)
        loop.wait()
    worker = int(pid_file.read_text())
    assert wait_for(lambda: not alive(worker), 10), "the training worker outlived the killed loop"

    reopened = ModelRegistry(registry.root)
    assert [v.id for v in reopened.versions()] == ["v0001"]
    assert reopened.serving() == serving_before
    assert json.loads((reopened.serving_dir() / "weights.json").read_text()) == {"quality": 1.0}
    assert list((registry.root / "tmp").iterdir()) == []  # the killed job's work directory is gone
    with TelemetryStore(store_path) as store:
        rows = store.traffic("s")
        assert len(rows) > 0 and rows["seq"].tolist() == list(range(len(rows)))
        assert store.get_state("last_seq") == len(rows) - 1  # data and checkpoint committed together
        assert store.append_traffic("s", rows.tail(1).assign(seq=len(rows))) == 1

    manager = RetrainManager(reopened, write_model, score_model, background=False)
    assert manager.trigger("d-kill", {"quality": 3.0}, HOLDOUT, data_window={})  # the killed job produced nothing
    result = manager.poll()
    assert (result.status, result.candidate) == ("promoted", "v0002")
    assert reopened.rollback() == "v0001"


def test_promotion_needs_a_better_score_on_every_held_back_step():
    serving = [1.0, 1.0, 1.0]
    lucky = [0.2, 1.05, 1.1]  # far better on one step, pooled better too, worse on the other two
    assert "on 2 of 3 held-back steps" in promotion_refusal(lucky, serving)
    assert promotion_refusal([0.8, 0.9, 0.85], serving) == ""
    assert "on 1 of 3" in promotion_refusal([0.8, 0.9, 0.96], serving, margin=0.05)
    assert promotion_refusal([0.8, 0.9, 0.94], serving, margin=0.05) == ""
    assert "different steps" in promotion_refusal([0.5, 0.5], serving)
    assert "candidate score is" in promotion_refusal([0.5, float("nan"), 0.5], serving)
    assert promotion_refusal([0.5], None) == ""


def score_per_step(model_dir: Path, holdout: dict) -> list[float]:
    """One score per held-back step: each step's difficulty divided by the model's quality on that step."""
    quality = json.loads((model_dir / "weights.json").read_text())["quality"]
    return [d / quality.get(str(i), quality["default"]) for i, d in enumerate(holdout["difficulty"])]


def test_manager_promotes_only_a_candidate_better_on_all_held_back_steps(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    initial = tmp_path / "initial"
    initial.mkdir()
    write_model(initial, {"quality": {"default": 1.0}})  # v0001: quality 1 on every step
    registry.promote(registry.register(initial, metrics={}, data_window={}, parent=None))
    manager = RetrainManager(registry, write_model, score_per_step, background=False)
    # a candidate much better on step 0 only is rejected ...
    holdout = {"difficulty": [1.0, 1.0, 1.0]}
    assert manager.trigger("one-step", {"quality": {"default": 0.95, "0": 5.0}}, holdout, data_window={})
    result = manager.poll()
    assert result.status == "rejected" and "on 2 of 3 held-back steps" in result.reason
    assert result.candidate_score == pytest.approx([0.2, 1 / 0.95, 1 / 0.95]) and result.serving_score == [1.0] * 3
    # ... one better on all three is promoted
    assert manager.trigger("all-steps", {"quality": {"default": 1.25}}, holdout, data_window={})
    assert manager.poll().status == "promoted" and registry.serving().id == "v0003"
    # the trigger's own margin replaces the manager's: 1.25 x better again is not 30 % better
    assert manager.trigger("noisy", {"quality": {"default": 1.25 * 1.25}}, holdout, data_window={}, margin=0.3)
    result = manager.poll()
    assert result.status == "rejected" and "margin 0.3" in result.reason
    assert manager.trigger("steady", {"quality": {"default": 1.25 * 1.25}}, holdout, data_window={}, margin=0.1)
    assert manager.poll().status == "promoted"
    with pytest.raises(ValueError, match="margin"):
        manager.trigger("bad", {"quality": {"default": 2.0}}, holdout, data_window={}, margin=1.0)
