import json
import types

import numpy as np
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.errors import ScenarioError
from ndtwin.ops.live_run import Phase, parse_phase
from ndtwin.ops.live_stream import LiveStream, counter_windows, detection_delays
from ndtwin.scenario import PacketSizeDistribution, Topology
from ndtwin.scenario.generate import all_pairs_scenario

pytest.importorskip("duckdb", reason="the 'ops' extra (duckdb) is not installed")

from test_emulate import existing_namespaces, live  # noqa: E402, F401

LINE_GML = """graph [
  directed 0
  node [ id 0 label "a" ]
  node [ id 1 label "b" ]
  node [ id 2 label "c" ]
  edge [ source 0 target 1 capacity 10 delay 1 ]
  edge [ source 1 target 2 capacity 10 delay 1 ]
]
"""


def test_phase_parsing_names_the_option():
    assert parse_phase("onoff:0.6:45") == Phase("onoff", 0.6, 45.0)
    for text in ("onoff:0.6", "pareto:0.5:10", "poisson:x:10", "poisson:0.5:-1"):
        with pytest.raises(ScenarioError, match="--phase"):
            parse_phase(text)


def test_counter_windows_difference_the_agents_counters():
    topology = Topology.from_edges(3, [(0, 1, 1e6), (1, 2, 1e6)])
    scenario = all_pairs_scenario(topology, max_utilization=0.5, size=PacketSizeDistribution.fixed(8000.0))
    before = {"sent": {0: 10, 1: 5}, "received": {0: [8, 8_000_000], 1: [5, 5_000_000]}}
    after = {"sent": {0: 30, 1: 5, 2: 4}, "received": {0: [26, 44_000_000], 1: [5, 5_000_000], 2: [4, 8_000_000]}}
    windows = counter_windows(before, after, scenario, window_s=2.0).set_index("flow_id")
    assert list(windows.index) == [0, 2]  # flow 1 received nothing in the window
    assert windows.loc[0, "delay_s"] == pytest.approx(36e-3 / 18)
    assert windows.loc[2, "delay_s"] == pytest.approx(2e-3)
    assert windows.loc[0, "loss_pkts_per_s"] == pytest.approx(1.0)  # 20 sent, 18 received in 2 s
    assert windows.loc[0, "traffic_kbps"] == pytest.approx(18 * 8000 / 2.0 / 1e3)
    assert windows.loc[2, "path_length"] == np.bincount(scenario.hops.flow)[2]


def test_detection_delay_is_to_the_first_alarm_after_each_change():
    stream = types.SimpleNamespace(
        concept_starts=(0, 10, 20, 30),
        change_times_ns=lambda: [100_000_000_000, 120_000_000_000],
        processed_ns={s: 80_000_000_000 + 2_000_000_000 * s for s in range(30)},
    )
    drifts = [{"step": 3}, {"step": 12}, {"step": 15}]
    assert detection_delays(stream, drifts) == [4.0, None]  # step 12 done at 104 s; no alarm after step 20


def test_training_must_leave_windows_of_the_first_phase():
    emulation = types.SimpleNamespace(durations_s=[10.0, 10.0])
    with pytest.raises(ScenarioError, match="--train-seconds"):
        LiveStream(emulation, ["a", "b"], window_s=2.0, train_s=8.0, name="x")
    stream = LiveStream(emulation, ["a", "b"], window_s=2.0, train_s=4.0, name="x")
    assert stream.concept_starts == (0, 3, 8) and stream.n_steps == 8


def test_cli_refuses_bad_live_input_before_building(tmp_path):
    topology = tmp_path / "line.gml"
    topology.write_text(LINE_GML)
    result = CliRunner().invoke(app, ["operate", "--live", str(topology), "--phase", "poisson:0.5"])
    assert result.exit_code != 0 and "--phase" in result.output and "Traceback" not in result.output
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "telemetry.duckdb").write_text("")
    result = CliRunner().invoke(app, ["operate", "--live", str(topology), "--state", str(tmp_path / "state")])
    assert result.exit_code != 0 and "cannot resume" in result.output
    result = CliRunner().invoke(app, ["operate", "--live", str(tmp_path / "none.gml")])
    assert result.exit_code != 0 and "none.gml" in result.output


def test_live_loop_sees_both_patterns_and_leaves_nothing(live, tmp_path):  # noqa: F811
    """A 3-node line, all-pairs flows: 10 s of Poisson then 10 s of ON-OFF, 1-s windows, 4 s of training."""
    topology = tmp_path / "line.gml"
    topology.write_text(LINE_GML)
    before = set(existing_namespaces())
    args = ["operate", "--live", str(topology), "--phase", "poisson:0.5:10", "--phase", "onoff:0.5:10"]
    result = CliRunner().invoke(app, [*args, "--window", "1", "--train-seconds", "4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("nmse_db", "drifts_detected", "promotions", "sla_alarms", "detection_delay_s", "cpu_saturated"):
        assert key in out
    assert set(out["sla_alarms"]) == {"twin", "plain_rule", "never_alarm"}
    assert out["steps"] == 16 and out["change_steps"] == [6] and len(out["detection_delay_s"]) == 1
    assert out["windows_per_pattern"]["poisson@0.5"] > 0 and out["windows_per_pattern"]["onoff@0.5"] > 0
    delay = out["mean_delay_s_per_pattern"]
    assert delay["onoff@0.5"] > delay["poisson@0.5"]  # the sources did switch: ON bursts at twice the rate queue up
    assert np.isfinite(out["nmse_db"]["with_sync"])
    assert set(existing_namespaces()) <= before
