"""Operating the twin: NMSE/SLA figures, the per-window model, restart/resume, and the drift experiment end to end."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ndtwin.errors import DatasetError
from ndtwin.ops.sla import mean_db, sla_scores, step_nmse_db
from ndtwin.ops.window_model import (
    HISTORY_COLUMN,
    WindowDelayModel,
    flow_history,
    model_frame,
    with_element_context,
    with_flow_history,
)

NDTWIN = str(Path(sys.executable).parent / "ndtwin")


def test_step_nmse_db_on_hand_computed_values():
    # step 0: errors (1, 1), y² mean (1+9)/2=5 → 1/5 → −6.990 dB; step 1: exact → −inf; step 2: error 2 on y=2 → 0 dB
    y = [1.0, 3.0, 2.0, 2.0, 2.0]
    p = [2.0, 2.0, 2.0, 2.0, 4.0]
    steps = [0, 0, 1, 1, 2]
    values = step_nmse_db(y, p, steps)
    assert values[0] == pytest.approx(10 * math.log10(0.2))
    assert values[1] == -math.inf
    assert values[2] == pytest.approx(0.0)
    assert mean_db(values) == pytest.approx((10 * math.log10(0.2) + 0.0) / 2)
    assert list(step_nmse_db([1.0, 2.0], [1.0, 4.0], [5, 3])) == [0.0, -math.inf]


def test_sla_scores_on_hand_computed_values():
    measured = [1.0, 3.0, 3.0, 1.0, 1.0]
    predicted = [3.0, 3.0, 1.0, 1.0, 1.0]
    budget = [2.0] * 5
    scores = sla_scores(measured, predicted, budget)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["precision"] == pytest.approx(1 / 2)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["measured_violation_rate"] == pytest.approx(2 / 5)
    assert math.isnan(sla_scores([1.0], [1.0], [2.0])["precision"])


def _windows(n_steps: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = n_steps * 20
    traffic = rng.uniform(100, 900, rows)
    frame = pd.DataFrame(
        {
            "step": np.repeat(np.arange(n_steps), 20),
            "flow_id": np.tile(np.repeat([1, 2], 10), n_steps),
            "traffic_kbps": traffic,
            "loss_pkts_per_s": np.zeros(rows),
            "packet_size_bytes": np.full(rows, 512.0),
            "path_length": np.full(rows, 3),
            "propag_delay_s": np.full(rows, 0.01),
            "min_link_capacity_mbps": np.ones(rows),
        }
    )
    frame["delay_s"] = 0.01 + 0.1 * (traffic / 1000) / (1 - traffic / 1000)
    return frame


def test_flow_history_uses_only_earlier_elements():
    frame = pd.DataFrame(
        {"flow_id": [1, 1, 1, 1, 2, 2], "step": [0, 0, 1, 2, 1, 2], "delay_s": [1.0, 3.0, 4.0, 9.0, 5.0, 7.0]}
    )
    history = with_flow_history(frame, "step")[HISTORY_COLUMN].to_numpy()
    # flow 1: step 0 has none, step 1 sees mean(1,3)=2, step 2 sees mean(2, 4)=3; flow 2: none, then 5
    assert np.allclose(history, [np.nan, np.nan, 2.0, 3.0, np.nan, 5.0], equal_nan=True)
    assert flow_history(frame).to_dict() == {1: pytest.approx((2 + 4 + 9) / 3), 2: pytest.approx(6.0)}


def test_element_context_stays_inside_each_element():
    frame = pd.DataFrame(
        {
            "flow_id": [1] * 7 + [2, 2],
            "step": [0] * 7 + [0, 0],
            "traffic_kbps": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0, 20.0],
        }
    )
    context = with_element_context(frame, "step")
    assert list(context["element_mean_traffic_kbps"]) == [4.0] * 7 + [15.0, 15.0]
    assert list(context["previous_traffic_kbps"]) == [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 10.0]
    # mean of the last five windows up to each one (fewer at the start of an element)
    assert list(context["trailing_traffic_kbps"]) == [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0, 15.0]


def test_window_model_learns_saves_and_loads(tmp_path):
    train, test = model_frame(_windows(30), "step"), model_frame(_windows(10, seed=1), "step")
    model = WindowDelayModel.fit(train)
    predicted = model.predict(test)
    assert float(np.mean(np.abs(predicted - test["delay_s"]) / test["delay_s"])) < 0.1
    loaded = WindowDelayModel.load(model.save(tmp_path / "model"))
    assert np.array_equal(loaded.predict(test), predicted)
    warm = WindowDelayModel.fit(test, warm_from=model)
    assert warm.booster.num_boosted_rounds() > model.booster.num_boosted_rounds()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps({**config, "features": config["features"][:9]}))
    with pytest.raises(DatasetError, match="config.json: features: expected"):
        WindowDelayModel.load(tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(DatasetError, match="config.json: kind: expected 'robust_ndt_window_delay'"):
        WindowDelayModel.load(tmp_path / "model")


def _run_until(args: list[str], marker: str) -> None:
    """Start ``ndtwin`` and kill -9 it as soon as its progress output shows ``marker``."""
    process = subprocess.Popen(
        [NDTWIN, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
    )
    for line in process.stderr:
        if marker in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"{marker!r} never appeared"


@pytest.mark.slow
def test_killed_runs_resume_without_lost_or_duplicated_rows(shared_data, tmp_path):
    from ndtwin.data.robust_ndt import read_replay
    from ndtwin.ops.loop import SERVED_COLUMN, OperatingLoop
    from ndtwin.ops.registry import ModelRegistry

    folder = shared_data / "robust_ndt" / "delay_app_database" / "5g_crosshaul"
    # 7 steps per concept: the deterministic concept's held-back steps reach its second connection (5 + 2 steps)
    args = ["operate", "--replay", str(folder), "--steps-per-concept", "7", "--state", str(tmp_path), "--json"]
    _run_until(args, "step 5/28")  # mid-run
    _run_until(args, "retraining")  # during a background retraining (the first drift is the deterministic concept)
    finished = subprocess.run(
        [NDTWIN, *args, "--plots", str(tmp_path / "plots")], capture_output=True, text=True, check=True
    )
    result = json.loads(finished.stdout)
    assert result["finished"] and result["steps"] == 28
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"5g_crosshaul_nmse.png", "5g_crosshaul_delay.png"}

    stream = read_replay(folder).truncated(7)
    served = OperatingLoop(stream, tmp_path).served_windows()
    assert list(served["seq"]) == list(range(len(stream.windows)))
    assert np.array_equal(served["delay_s"].to_numpy(), stream.windows["delay_s"].to_numpy(float))
    assert np.isfinite(served[SERVED_COLUMN]).all()
    assert result["retrain_outcomes"]["failed"] == 0
    registry = ModelRegistry(tmp_path / "registry", create=False)
    serving = WindowDelayModel.load(registry.serving_dir())
    features = with_element_context(served.assign(**{HISTORY_COLUMN: np.nan}), "step")
    assert np.isfinite(serving.predict(features)).all()


@pytest.mark.slow
def test_operate_replay_cli_beats_the_unsynchronised_twin(shared_data):
    folder = shared_data / "robust_ndt" / "delay_app_database" / "5g_crosshaul"
    finished = subprocess.run(
        [NDTWIN, "operate", "--replay", str(folder), "--json"], capture_output=True, text=True, check=True
    )
    result = json.loads(finished.stdout)
    for key in (
        "nmse_db",
        "sla_accuracy",
        "drifts_detected",
        "retrains",
        "retrain_time_share",
        "nmse_db_per_concept",
        "sla",
        "promotions",
    ):
        assert key in result
    assert result["nmse_db"]["with_sync"] < result["nmse_db"]["without_sync"]
    plain = result["sla_predicted_above_budget"]
    assert plain["with_sync"]["accuracy"] > plain["without_sync"]["accuracy"]
    # the residual rule (the default) flags fewer false alarms than "predicted delay > budget"
    assert result["sla_accuracy"]["with_sync"] > plain["with_sync"]["accuracy"]
    assert result["sla"]["with_sync"]["predicted_violation_rate"] < plain["with_sync"]["predicted_violation_rate"]
    alarms = result["sla_alarms"]
    assert alarms["twin"]["with_sync"]["f1"] > max(alarms["plain_rule"]["with_sync"]["f1"], alarms["never_alarm"]["f1"])
    assert result["retrains"] > 0 and result["drifts_detected"]


@pytest.mark.slow
def test_operate_on_a_simulated_stream(tmp_path):
    finished = subprocess.run(
        [NDTWIN, "operate", "--sim", "--steps-per-concept", "6", "--json", "--state", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(finished.stdout)
    assert result["steps"] == 18 and list(result["nmse_db_per_concept"]) == ["poisson", "on-off", "cbr"]
    assert math.isfinite(result["nmse_db"]["with_sync"]) and 0 <= result["sla_accuracy"]["with_sync"] <= 1
    assert json.loads((tmp_path / "result.json").read_text())["per_step_nmse_db"]["with_sync"]


@pytest.mark.slow
def test_operate_json_reports_swaps_and_sla_alarms_beside_baselines(shared_data):
    folder = shared_data / "robust_ndt" / "delay_app_database" / "5g_crosshaul"
    finished = subprocess.run(
        [NDTWIN, "operate", "--replay", str(folder), "--steps-per-concept", "3", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(finished.stdout)
    assert result["steps"] == 12 and result["concept_changes"] == 3
    assert result["model_swaps"] == len(result["promotions"])
    assert result["swaps_per_concept_change"] == pytest.approx(result["model_swaps"] / 3)
    assert set(result["nmse_db_pooled_per_concept"]) == set(result["nmse_db_per_concept"])
    alarms = result["sla_alarms"]
    rate = result["sla"]["with_sync"]["measured_violation_rate"]
    assert alarms["never_alarm"]["recall"] == 0 and alarms["never_alarm"]["pr_auc"] == pytest.approx(rate)
    for rule in ("twin", "plain_rule"):
        for side in ("with_sync", "without_sync"):
            scores = alarms[rule][side]
            assert set(scores) == {"precision", "recall", "f1", "pr_auc", "alarm_rate"}
            assert 0 <= scores["pr_auc"] <= 1 and 0 <= scores["f1"] <= 1
    plain = result["sla_predicted_above_budget"]["with_sync"]
    assert alarms["plain_rule"]["with_sync"]["f1"] == pytest.approx(plain["f1"])


def test_loop_settings_need_training_steps_before_the_held_back_ones():
    from ndtwin.ops.loop import LoopSettings

    with pytest.raises(ValueError, match="holdout_steps"):
        LoopSettings(holdout_steps=4, min_steps_after_drift=4)
    assert LoopSettings(holdout_steps=3, min_steps_after_drift=4).holdout_steps == 3


def test_required_gain_grows_with_the_streams_own_noise():
    from ndtwin.ops.loop import required_gain_db

    # two connections at levels -20 and -5 dB with +-1 dB step-to-step jitter, then a jump to another concept
    steady = np.array([-20.0, -19.0, -20.0, -19.0, -5.0, -4.0, -5.0, -4.0, 10.0])
    noise = 1.4826 * 1.0 / np.sqrt(2)  # the successive differences: +-1, and two jumps of 14 dB that do not count
    assert required_gain_db(steady, z=2.0) == pytest.approx(2 * noise)
    assert required_gain_db(3 * steady, z=2.0) == pytest.approx(3 * required_gain_db(steady, z=2.0))
    assert required_gain_db(steady + 25, z=2.0) == pytest.approx(required_gain_db(steady, z=2.0))
    assert required_gain_db(np.array([-3.0, np.nan]), z=2.0) == 0.0


def _loop_with_two_versions(tmp_path: Path):
    """An OperatingLoop whose registry serves a retrained version v0002 above the initial v0001."""
    from types import SimpleNamespace

    from ndtwin.ops.loop import OperatingLoop

    loop = OperatingLoop(SimpleNamespace(topology="t"), tmp_path)
    (tmp_path / "m").mkdir()
    initial = loop.registry.register(tmp_path / "m", metrics={}, data_window={}, parent=None)
    loop.registry.promote(initial)
    loop.registry.promote(loop.registry.register(tmp_path / "m", metrics={}, data_window={}, parent=initial))
    return loop


def _store_steps(store, source: str, served_error: list[float], initial_error: list[float]) -> None:
    """Two flows per step, delay 1 s; each step's served / initial predictions off by the given relative error."""
    from ndtwin.ops.loop import INITIAL_COLUMN, SERVED_COLUMN

    n = len(served_error)
    seq = np.arange(2 * n)
    store.append_traffic(source, pd.DataFrame({"seq": seq, "step": seq // 2, "flow_id": seq % 2}))
    served, initial = np.repeat(served_error, 2), np.repeat(initial_error, 2)
    labels = {"seq": seq, "delay_s": np.ones(2 * n), SERVED_COLUMN: 1 + served, INITIAL_COLUMN: 1 + initial}
    store.append_labels(source, pd.DataFrame(labels))


@pytest.mark.parametrize(
    ("served_error", "initial_error", "falls_back"),
    [
        ([0.1, 0.1, 0.1, 0.5, 0.5, 0.5], [0.1] * 6, True),  # initial better by ~14 dB on each of the last 3 steps
        ([0.1, 0.1, 0.1, 0.5, 0.05, 0.5], [0.1] * 6, False),  # not on every one of them
        # better on each (by 4.4, 2.5, 6.0 dB) but not all beyond 2 × the served NMSE's step-to-step noise (3.3 dB)
        ([0.2, 0.3, 0.2, 0.25, 0.2, 0.3], [0.15] * 6, False),
    ],
)
def test_a_retrained_model_gives_way_to_the_initial_one_only_on_evidence(
    tmp_path, served_error, initial_error, falls_back
):
    from ndtwin.ops.loop import Checkpoint
    from ndtwin.ops.store import TelemetryStore

    loop = _loop_with_two_versions(tmp_path)
    checkpoint = Checkpoint(drift_step=0, serving_since=0)
    with TelemetryStore(tmp_path / "store.duckdb") as store:
        _store_steps(store, loop.source, served_error, initial_error)
        loop._maybe_fall_back(store, 5, checkpoint, None)
    assert (loop.registry.history()[-1] == "v0001") is falls_back
    assert checkpoint.fallbacks == ([5] if falls_back else [])


def test_no_fall_back_before_the_serving_model_served_the_held_back_steps(tmp_path):
    from ndtwin.ops.loop import Checkpoint
    from ndtwin.ops.store import TelemetryStore

    loop = _loop_with_two_versions(tmp_path)
    checkpoint = Checkpoint(drift_step=0, serving_since=4)  # steps 3-5 held back; step 3 served by another model
    with TelemetryStore(tmp_path / "store.duckdb") as store:
        _store_steps(store, loop.source, [0.5] * 6, [0.1] * 6)
        loop._maybe_fall_back(store, 5, checkpoint, None)
    assert loop.registry.history()[-1] == "v0002" and checkpoint.fallbacks == []
