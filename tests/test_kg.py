"""Knowledge graph (build, SPARQL, export), the leakage rule of the models, anchors, QoE formulas, eval contract."""

import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("pyoxigraph")
pytest.importorskip("ripe.atlas.sagan")

from typer.testing import CliRunner

from ndtwin.atlas import import_results
from ndtwin.cli.main import app
from ndtwin.errors import DatasetError
from ndtwin.kg.build import build_graph
from ndtwin.kg.iptable import as_name, country_code, table_source
from ndtwin.kg.models import anchors
from ndtwin.kg.models.dataset import MeasurementTables
from ndtwin.kg.models.modeldir import load_pair_gnn
from ndtwin.kg.models.splits import assign_roles, fit_mask
from ndtwin.kg.query import export_turtle, open_store, run_query
from ndtwin.ops.registry import ModelRegistry
from ndtwin.qoe.askg import add_qoe_layer
from ndtwin.qoe.scores import e_model_r, mos, qoe_class, r_to_mos

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from kg_atlas import doc_queries  # noqa: E402  (the queries of docs/KG.md, as the benchmark runs them)

FIXTURES = Path(__file__).parent / "fixtures" / "atlas_kg"  # real results of the pairs the docs queries ask about


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A graph of five real pairs (LB probe 29271, 17775 → 164.138.236.10, 6090 → 109.72.207.50 with traceroutes)."""
    out = tmp_path_factory.mktemp("kg") / "atlas"
    import_results(FIXTURES, out)
    build_graph(out)
    add_qoe_layer(out)
    return out


def test_docs_queries_answer(built):
    worst, path, rose, voip = (run_query(open_store(built), q) for q in doc_queries())
    state = pd.read_parquet(built / "state.parquet")
    # Worst targets from LB (probe 29271 is a Lebanese probe): the ranking matches the state table.
    assert worst and [r["mean_rtt_ms"] for r in worst] == sorted((r["mean_rtt_ms"] for r in worst), reverse=True)
    top = state[(state.prb_id == 29271) & (state.dst_addr == worst[0]["target"])]
    assert worst[0]["mean_rtt_ms"] == pytest.approx(top.rtt_median_s.mean() * 1e3)
    assert worst[0]["windows"] == len(top)
    # The path of 6090 → 109.72.207.50: ordered hops, public ones with a /24 and the AS of the offline table.
    assert [r["hop_index"] for r in path] == sorted(r["hop_index"] for r in path) and len(path) >= 3
    assert [r["as_name"] for r in path] == [as_name(r["address"]) for r in path]
    assert any(r["as_name"] for r in path) and all(r["as_name"] is None for r in path if r["private"])
    assert all(r["prefix"].endswith(".0-24") for r in path if r["private"] is False)
    # RTT rise: recompute the weekly means from the state table for every pair returned.
    for row in rose:
        pair = state[(state.prb_id == row["probe"]) & (state.dst_addr == row["target"])]
        day = pd.to_datetime(pair.window, unit="s")
        before = pair.rtt_median_s[(day >= "2020-02-14") & (day < "2020-02-21")].mean()
        now = pair.rtt_median_s[(day >= "2020-02-21") & (day < "2020-02-28")].mean()
        assert row["this_week_ms"] == pytest.approx(now * 1e3) and now > 1.5 * before
    assert any(r["probe"] == 17775 and r["target"] == "164.138.236.10" for r in rose)
    assert [r["mos"] for r in voip] == sorted(r["mos"] for r in voip)


def test_graph_layers_and_unknowns(built):
    store = open_store(built)
    countries = run_query(store, "SELECT ?code WHERE { ?p ndt:probeId 6090 ; ndt:inCountry/ndt:code ?code }")
    assert countries == [{"code": "QA"}]
    systems = run_query(store, "SELECT ?p ?name WHERE { ?p ndt:probeId 6090 ; ndt:inAS/ndt:name ?name }")
    probe_address = json.loads((FIXTURES / "probes_derived.json").read_text())["6090"]["from_ips"][0]
    assert systems and systems[0]["name"] == as_name(probe_address)
    sources = run_query(store, "SELECT DISTINCT ?source WHERE { ?a a ndt:AutonomousSystem ; ndt:asSource ?source }")
    assert [r["source"] for r in sources] == [f"{table_source()} (offline table of that date, via geoip2fast)"]
    no_rtt = "SELECT ?loss WHERE { ?o a ndt:Observation ; ndt:lossShare ?loss . FILTER NOT EXISTS { ?o ndt:rttMedianSeconds ?r } }"
    state = pd.read_parquet(built / "state.parquet")
    assert sorted(r["loss"] for r in run_query(store, no_rtt)) == sorted(state.loss_share[state.rtt_median_s.isna()])
    lost = run_query(store, "SELECT ?o WHERE { ?o ndt:rttMedianSeconds ?r . FILTER (?r < 0) }")
    assert lost == []  # avg = -1 never becomes an RTT


def test_query_cli_and_export(built, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["kg", "query", str(built), "SELECT ?p WHERE { ?p a ndt:Probe } ORDER BY ?p", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 3
    result = runner.invoke(app, ["kg", "query", str(built), "SELECT WHERE {"])
    assert result.exit_code == 2 and "SPARQL" in result.output
    result = runner.invoke(app, ["kg", "query", str(tmp_path), "SELECT * WHERE { ?s ?p ?o }"])
    assert result.exit_code == 2 and "run 'ndtwin kg build'" in result.output
    result = runner.invoke(app, ["kg", "qoe", str(built), "--app", "voip", "--json", "--limit", "3"])
    assert result.exit_code == 0 and len(json.loads(result.output)) == 3
    export_turtle(built, tmp_path / "g.ttl")
    import pyoxigraph as ox

    count = sum(1 for _ in ox.parse(path=str(tmp_path / "g.ttl"), format=ox.RdfFormat.TURTLE))
    total = run_query(open_store(built), "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]
    assert count == total


def test_qoe_formulas_match_hand_computed_values():
    # VoIP, RTT 100 ms, jitter 5 ms, loss 1 %: Ta = 60 ms, Id = 1.44, Ie,eff = 95·1/(1 + 25.1) = 3.6398,
    # R = 88.1202, MOS = 1 + 3.08421 + 7e-6·88.1202·28.1202·11.8798 = 4.2903.
    assert float(e_model_r(0.100, 0.005, 0.01)) == pytest.approx(88.1202, abs=1e-4)
    assert float(mos("voip", 0.100, 0.005, 0.01)) == pytest.approx(4.2903, abs=1e-4)
    assert float(r_to_mos(80)) == pytest.approx(4.024) and float(r_to_mos(-5)) == 1 and float(r_to_mos(120)) == 4.5
    # Long delay: Ta = 250 ms, Id = 6 + 0.11·72.7 = 13.997, no loss: R = 79.203.
    assert float(e_model_r(0.500, 0.0, 0.0)) == pytest.approx(79.203, abs=1e-3)
    # Web at the midpoints (RTT 210 ms, jitter 25 ms, loss 5 %) scores 3 on every metric.
    assert float(mos("web", 0.210, 0.025, 0.05)) == pytest.approx(3.0)
    # Gaming, perfect RTT and loss, worst jitter: 0.6·5 + 0.2·5 + 0.2·1 = 4.2.
    assert float(mos("gaming", 0.020, 0.050, 0.0)) == pytest.approx(4.2)
    # File transfer with every packet lost (no RTT): 1 on all three.
    assert float(mos("file_transfer", np.nan, np.nan, 1.0)) == pytest.approx(1.0)
    assert list(qoe_class([4.2, 3.5, 2.0])) == ["good", "fair", "poor"]
    with pytest.raises(ValueError, match="app"):
        mos("email", 0.1, 0.0, 0.0)


def _synthetic_tables(seed: int = 0, days: int = 20) -> MeasurementTables:
    """12 probes and 10 targets in 3 countries; RTT = country-pair base + probe and target offsets + noise."""
    rng = np.random.default_rng(seed)
    probes = pd.DataFrame(
        {
            "prb_id": np.arange(1, 13),
            "country": ["AA", "BB", "CC"] * 4,
            "address": [f"192.0.{i % 2}.{i}" for i in range(12)],
        }
    )
    targets = pd.DataFrame(
        {"dst_addr": [f"10.0.{i}.1" for i in range(10)], "country": ["AA", "BB", "CC", "AA", "BB"] * 2}
    )
    base = {("AA", "AA"): 20, ("AA", "BB"): 80, ("BB", "AA"): 80, ("BB", "BB"): 15}
    rows = []
    for p, pc in zip(probes.prb_id, probes.country):
        for t, tc in zip(targets.dst_addr, targets.country):
            for d in range(days):
                rtt = (base.get((pc, tc), 150) + 3 * p + 2 * int(t.split(".")[2]) + rng.normal(0, 2)) / 1e3
                loss = 1.0 if t == "10.0.9.1" else 0.0
                rows.append((p, t, 1_600_000_000 + d * 86_400, 8, np.nan if loss == 1 else rtt, 0.001, loss))
    state = pd.DataFrame(
        rows, columns=["prb_id", "dst_addr", "window", "results", "rtt_median_s", "jitter_s", "loss_share"]
    )
    hops = pd.DataFrame(columns=["prb_id", "dst_addr", "timestamp", "hop", "from_addr", "late", "private"])
    return MeasurementTables(state=state, hops=hops, probes=probes, targets=targets)


@pytest.mark.parametrize("split", ["unseen_pairs", "unseen_probes", "future"])
def test_evaluation_rows_never_reach_features(split):
    from ndtwin.kg.models.graph import graph_inputs

    tables = _synthetic_tables()
    roles = assign_roles(tables.state, split)
    assert (roles == "test").any() and (roles == "val").any()
    features = []
    for poison in (False, True):
        poisoned = _synthetic_tables()
        if poison:  # the evaluation rows' own measurements changed beyond recognition
            poisoned.state.loc[roles == "test", ["rtt_median_s", "loss_share", "jitter_s"]] = [9.0, 0.5, 3.0]
        fit = poisoned.fit_pairs(roles, "test")
        graph = graph_inputs(
            fit, poisoned.fit_paths(fit, split, "test"), poisoned.probes, poisoned.targets, rtt_scale=(4, 1)
        )
        x, edges = graph.tensors()
        features.append((fit, x, edges, graph.pair_features(fit)))
    (fit, x, edges, extra), (fit_p, x_p, edges_p, extra_p) = features
    pd.testing.assert_frame_equal(fit, fit_p)
    assert np.array_equal(x.numpy(), x_p.numpy()) and np.array_equal(edges.numpy(), edges_p.numpy())
    assert np.array_equal(extra.numpy(), extra_p.numpy())
    if split != "future":  # held-out pairs have no message edge: they are not fit pairs at all
        test_pairs = set(map(tuple, tables.state.loc[roles == "test", ["prb_id", "dst_addr"]].to_numpy()))
        assert not test_pairs & set(zip(fit.prb_id, fit.dst_addr))
    else:  # fit rows of the future split all precede every test row of their campaign
        assert tables.state.window[fit_mask(roles, "test")].max() < tables.state.window[roles == "test"].min()


def test_hidden_pairs_leave_the_graph():
    from ndtwin.kg.models.graph import graph_inputs

    tables = _synthetic_tables()
    roles = assign_roles(tables.state, "unseen_pairs")
    fit = tables.fit_pairs(roles, "test")
    graph = graph_inputs(
        fit, tables.fit_paths(fit, "unseen_pairs", "test"), tables.probes, tables.targets, rtt_scale=(4, 1)
    )
    hidden = np.zeros(len(fit), bool)
    hidden[:5] = True
    _, edges = graph.tensors(hidden)
    present = set(map(tuple, edges.numpy().T))
    assert not any(tuple(pair) in present for pair in graph.pair_nodes[hidden])
    assert all(tuple(pair) in present for pair in graph.pair_nodes[~hidden & np.isfinite(graph.pair_log_rtt)])


def _pairs(rtt_of, n_probes: int = 15, n_targets: int = 12, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All probe×target pairs with ``rtt_of(p, t)``; a random 30 % of them are the query, the rest the fit."""
    rows = [(p, f"t{t}", rtt_of(p, t), 0.0) for p in range(n_probes) for t in range(n_targets)]
    pairs = pd.DataFrame(rows, columns=["prb_id", "dst_addr", "rtt_ms", "loss_share"])
    query = np.random.default_rng(seed).random(len(pairs)) < 0.3
    return pairs[~query].reset_index(drop=True), pairs[query].reset_index(drop=True)


def test_matrix_completion_recovers_a_low_rank_matrix():
    rng = np.random.default_rng(1)
    u, v, w, z = rng.normal(size=15), rng.normal(size=12), rng.normal(size=15), rng.normal(size=12)
    fit, query = _pairs(lambda p, t: float(np.exp(4 + 0.3 * u[p] + 0.3 * v[t] + 0.2 * w[p] * z[t])))
    predicted = anchors.matrix_completion(fit, query, rank=1, reg=0.01, sweeps=100)["rtt_ms"]
    assert np.median(np.abs(predicted - query.rtt_ms) / query.rtt_ms) < 0.02


def test_vivaldi_embeds_euclidean_delays():
    points = np.random.default_rng(2).uniform(0, 100, size=(27, 2))
    fit, query = _pairs(lambda p, t: float(np.linalg.norm(points[p] - points[15 + t]) + 5))
    predicted = anchors.vivaldi(fit, query, dims=2, rounds=60)["rtt_ms"]
    assert np.median(np.abs(predicted - query.rtt_ms) / query.rtt_ms) < 0.15


def test_train_and_eval_contract(tmp_path, monkeypatch):
    import ndtwin.kg.models.gnn as gnn

    monkeypatch.setattr(gnn, "MAX_EPOCHS", 40)
    tables = _synthetic_tables()
    out = tmp_path / "atlas"
    (out / "traceroutes").mkdir(parents=True)
    (out / "pings").mkdir()
    tables.state.to_parquet(out / "state.parquet")
    tables.probes.to_parquet(out / "probes.parquet")
    tables.targets.to_parquet(out / "targets.parquet")
    runner = CliRunner()
    result = runner.invoke(
        app, ["kg", "train", str(out), "--arch", "sage", "--members", "1", "--registry", str(tmp_path / "reg")]
    )
    assert result.exit_code == 0, result.output
    _check_model_directory(out, tables)
    registered = ModelRegistry(tmp_path / "reg", create=False).find(model="kg-gnn", arch="sage")
    assert sorted(v.tags["split"] for v in registered) == ["future", "unseen_pairs", "unseen_probes"]
    assert all(load_pair_gnn(v.model_dir).arch == "sage" for v in registered)
    result = runner.invoke(app, ["kg", "eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"unseen_pairs", "unseen_probes", "future"}
    assert set(report["future"]) == {"history", "country_pair", "vivaldi", "matrix_completion", "sage"}
    assert set(report["unseen_probes"]) == {"country_pair", "sage"}
    for models in report.values():
        for metrics in models.values():
            assert {"mae_ms", "rmse_ms", "r2", "loss_auc"} <= set(metrics) and metrics["mae_ms"] >= 0
    assert (out / "models" / "eval.png").is_file()
    evaluation = json.loads((out / "models" / "eval.json").read_text())
    assert evaluation["qoe_unseen_pairs"]["model"] == "sage"
    ceiling = evaluation["qoe_class_ceiling_unseen_pairs"]["web"]
    assert 0 <= ceiling["next_day"] <= 1 and 1 / 3 <= ceiling["static_ceiling"] <= 1
    result = runner.invoke(app, ["kg", "train", str(out), "--arch", "gcn"])
    assert result.exit_code == 2 and "--arch" in result.output


def test_small_or_ping_less_data_gets_clear_messages(built, tmp_path, monkeypatch):
    """Five pairs cannot form the unseen-pair and unseen-probe splits: those are skipped with the counts, the future
    split still trains and is scored; traceroutes alone give no RTT to learn from: a clear error, exit 2."""
    import ndtwin.kg.models.gnn as gnn

    monkeypatch.setattr(gnn, "MAX_EPOCHS", 20)
    out = tmp_path / "small"
    shutil.copytree(built, out)
    runner = CliRunner()
    result = runner.invoke(app, ["kg", "train", str(out), "--members", "1"])
    assert result.exit_code == 0, result.output
    assert "unseen_pairs: skipped" in result.output and "0 validation" in result.output
    assert "unseen_probes: skipped" in result.output and "sage future:" in result.output
    result = runner.invoke(app, ["kg", "eval", str(out), "--json"])
    report = json.loads(result.output)
    assert report["unseen_pairs"] == {} and report["unseen_probes"] == {} and "sage" in report["future"]
    traces = tmp_path / "traces"
    traces.mkdir()
    shutil.copy(FIXTURES / "traceroutes_2019-05.jsonl.gz", traces)
    import_results(traces, tmp_path / "t")
    build_graph(tmp_path / "t")
    for command in (["kg", "train", str(tmp_path / "t")], ["kg", "eval", str(tmp_path / "t")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "no ping result with an RTT" in result.output
    result = runner.invoke(app, ["kg", "qoe", str(tmp_path / "t")])
    assert result.exit_code == 0 and "no pair has a QoE" in result.output


def _check_model_directory(out: Path, tables: MeasurementTables) -> None:
    """The unseen-pair model reloaded from its model directory predicts what training stored for the test pairs."""
    from ndtwin.kg.models.evaluate import prepare_split
    from ndtwin.kg.models.gnn import decode, query_nodes
    from ndtwin.kg.models.graph import graph_inputs

    saved = load_pair_gnn(out / "models" / "sage" / "unseen_pairs")
    assert saved.provenance["split"] == "unseen_pairs" and saved.metrics["epochs"] > 0
    data = prepare_split(tables, "unseen_pairs")
    graph = graph_inputs(*data.stages["test"], tables.probes, tables.targets, rtt_scale=saved.rtt_scale)
    query = data.stages["test_query"]
    x, edges = graph.tensors()
    with torch.no_grad():
        output = saved.model(x, edges, query_nodes(graph, query), graph.pair_features(query))
    stored = pd.read_parquet(out / "models" / "sage" / "unseen_pairs.parquet")
    np.testing.assert_allclose(decode(output, saved.rtt_scale).rtt_ms, stored["rtt_ms"], rtol=1e-5)
    config = out / "models" / "sage" / "unseen_pairs" / "config.json"
    config.write_text(json.dumps({"format": "ndtwin-gnn"}))
    with pytest.raises(DatasetError, match="config.json"):
        load_pair_gnn(config.parent)


def test_class_ceiling_and_country_pair_classes():
    from ndtwin.qoe.agreement import class_agreement, class_ceiling, country_pair_classes

    good, poor = (30.0, 1.0, 0.0), (np.nan, np.nan, 1.0)  # (rtt_ms, jitter_ms, loss_share); poor: all lost
    days = [good, good, poor, good, poor, poor]  # pair A: 3 good 1 poor (days 0-3); pair B: 2 poor (days 4-5)
    rows = pd.DataFrame(days, columns=["rtt_ms", "jitter_ms", "loss_share"]).assign(
        prb_id=[1, 1, 1, 1, 2, 2],
        dst_addr="t",
        window=[0, 86_400, 2 * 86_400, 3 * 86_400, 0, 86_400],
        src_cc=["AA"] * 4 + ["BB"] * 2,
        dst_cc="CC",
    )
    ceiling = class_ceiling(rows)["web"]
    assert ceiling["static_ceiling"] == pytest.approx(5 / 6)
    assert ceiling["n_day_pairs"] == 4 and ceiling["next_day"] == pytest.approx(2 / 4)
    query = pd.DataFrame({"prb_id": [3, 4, 5], "dst_addr": "u", "src_cc": ["AA", "BB", "DD"], "dst_cc": "CC"})
    classes = country_pair_classes(rows, query, "web")
    assert list(classes) == ["good", "poor", "good"]  # DD falls back to the target country CC: 3 good, 3 poor → first
    predicted = rows[["prb_id", "dst_addr"]].drop_duplicates().assign(qoe_class=["good", "poor"])
    assert class_agreement(rows, predicted, "web") == pytest.approx(5 / 6)


def test_history_model_labels_come_after_its_inputs():
    from ndtwin.kg.models.splits import history_label_roles

    state = _synthetic_tables().state
    roles = assign_roles(state, "future")
    inner = history_label_roles(state, roles)
    window = state.window.to_numpy()
    assert window[inner == "train"].max() < window[inner == "label"].min()
    assert (
        window[inner == "label"].max()
        < window[roles == "val"].min()
        <= window[roles == "val"].max()
        < window[roles == "test"].min()
    )


def test_siblings_take_the_most_specific_level():
    from ndtwin.kg.iptable import prefix
    from ndtwin.kg.models.siblings import sibling_median, with_sibling_keys

    assert str(prefix("10.1.2.3", "site")) == "10.1.2.0/24" and str(prefix("10.1.2.3", "network")) == "10.1.0.0/16"
    assert str(prefix("2001:db8:1:2::1", "site")) == "2001:db8:1::/48"
    assert str(prefix("2001:db8:1:2::1", "network")) == "2001:db8::/32"
    assert prefix("300.1.1.1", "site") is None and prefix(None, "network") is None
    address = {1: "192.0.2.7", 2: "192.0.9.9", 3: "198.51.100.1", 4: "1.1.1.1", 5: "104.16.0.1"}
    known = with_sibling_keys(
        pd.DataFrame(
            {
                "prb_id": [1, 1, 2, 3, 1, 4],
                "dst_addr": ["10.1.2.5", "10.1.7.1", "10.1.8.1", "10.9.0.1", "142.250.185.78", "172.217.0.1"],
            }
        ),
        address,
    )
    query = with_sibling_keys(
        pd.DataFrame(
            {
                "prb_id": [1, 1, 2, 3, 3, 1, 5],
                "dst_addr": ["10.1.2.9", "10.1.3.1", "10.1.2.9", "10.1.2.9", "8.8.8.8", "8.8.8.8", "216.58.192.1"],
            }
        ),
        address,
    )
    values, level = sibling_median(known, [10.0, 30.0, 50.0, np.nan, 70.0, 90.0], query)
    # probe 1: same /24 → 10; other /24 in the /16 → median(10, 30); probe 2: its own /16 pair (50); probe 3: a probe
    # /16 of its own whose only pair has no value, and no sibling at all for 8.8.8.8 (private-range probe, no AS);
    # probe 1 → 8.8.8.8: its pair to another address of the same AS (70); probe 5 → a Google address: probe 4 is in
    # probe 5's AS and measured another Google address (90).
    np.testing.assert_allclose(values, [10.0, 20.0, 50.0, np.nan, np.nan, 70.0, 90.0])
    assert list(level) == [0, 1, 1, -1, -1, 3, 4]


def test_as_of_an_address_comes_from_the_dated_table():
    from ndtwin.kg.iptable import as_name, table_source

    assert "RIPE NCC" in as_name("193.0.14.129") and as_name("8.8.8.8") == as_name("142.250.185.78")
    assert [as_name(a) for a in ("10.0.0.1", "198.18.0.1", "300.1.1.1", "2001:db8::1", None)] == [None] * 5
    assert "2024" in table_source()


def test_country_of_an_address_comes_from_the_dated_table():
    assert [country_code(a) for a in ("8.8.8.8", "5.21.229.74")] == ["US", "OM"]
    assert [country_code(a) for a in ("10.0.0.1", "198.18.0.1", "300.1.1.1", "2001:db8::1", None)] == [None] * 5


def test_results_without_design_files_are_located_from_results_and_table(tmp_path):
    """A plain download (result files only): probe addresses come from the ping results' source addresses and
    countries from the dated table, each with its source; the models read the same countries and addresses."""
    from ndtwin.kg.models.dataset import load_tables
    from ndtwin.kg.nodes import table_country_source

    src = tmp_path / "results"
    src.mkdir()
    for path in FIXTURES.glob("*.jsonl.gz"):
        shutil.copy(path, src / path.name)
    out = tmp_path / "atlas"
    import_results(src, out)
    assert not (out / "probes.parquet").exists()
    build_graph(out)
    pings = pd.read_parquet(out / "pings")
    first = pings[pings.prb_id == 6090].sort_values("timestamp").from_addr.iloc[0]
    store = open_store(out)
    found = run_query(
        store,
        "SELECT ?code ?source ?as WHERE { ?p ndt:probeId 6090 ; ndt:inCountry/ndt:code ?code ;"
        " ndt:countrySource ?source ; ndt:inAS/ndt:name ?as }",
    )
    assert found == [{"code": country_code(first), "source": table_country_source(), "as": as_name(first)}]
    tables = load_tables(out)
    probe = tables.probes.set_index("prb_id").loc[6090]
    assert probe["address"] == first and probe["country"] == country_code(first)
    assert tables.targets["country"].tolist() == [country_code(a) for a in tables.targets["dst_addr"]]


def _as_ipv6(address: str) -> str:
    """A global IPv6 address standing in for an IPv4 one (inside 2a00:1450::/32, an announced network)."""
    a, b, c, d = (int(x) for x in address.split("."))
    return f"2a00:1450:{a:x}{b:02x}:{c:x}::{d:x}"


def test_ipv6_results_get_prefixes_ases_and_countries(tmp_path):
    """IPv6 pings flow through import, graph and models: /48 site prefixes, ASes and countries of the IPv6 table."""
    from ndtwin.kg.models.dataset import load_tables

    src = tmp_path / "results"
    src.mkdir()
    with gzip.open(FIXTURES / "pings_2020-02.jsonl.gz", "rt") as handle:
        results = [json.loads(line) for line in handle]
    for result in results:
        result.update(af=6, dst_addr=_as_ipv6(result["dst_addr"]), src_addr="fd00::1")
        result.update(dst_name=result["dst_addr"], **({"from": _as_ipv6(result["from"])} if result.get("from") else {}))
    (src / "pings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    out = tmp_path / "atlas"
    import_results(src, out)
    build_graph(out)
    store = open_store(out)
    sites = run_query(store, "SELECT ?t ?p ?kind WHERE { ?t a ndt:Target ; ndt:inPrefix ?p . ?p a ?kind }")
    assert sites and all(r["kind"].endswith("#Prefix48") and r["p"].endswith("-48") for r in sites)
    probe = run_query(
        store, "SELECT ?as ?code WHERE { ?p ndt:probeId 17775 ; ndt:inAS/ndt:name ?as ; ndt:inCountry/ndt:code ?code }"
    )
    first = _as_ipv6("130.255.88.51")
    assert probe == [{"as": as_name(first), "code": country_code(first)}] and probe[0]["as"] == "GOOGLE"
    tables = load_tables(out)
    keyed = tables.with_locations(tables.state[["prb_id", "dst_addr"]].drop_duplicates())
    assert keyed["dst_site"].str.endswith("/48").all() and keyed["src_net"].str.endswith("/32").all()
    assert keyed["src_as"].notna().all() and keyed["dst_cc"].notna().all()


def test_residual_gnn_adds_its_correction_to_the_offset_feature(tmp_path):
    from ndtwin.kg.models.gnn import PairEnsemble, PairGNN
    from ndtwin.kg.models.graph import LOSS_OFFSET, OFFSET, PAIR_FEATURES
    from ndtwin.kg.models.modeldir import SavedPairGNN, save_pair_gnn

    torch.manual_seed(0)
    x, edges = torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]])
    pairs, extra = torch.tensor([[0, 3], [1, 2]]), torch.randn(2, PAIR_FEATURES)
    residual, plain = PairGNN("sage", 5), PairGNN("sage", 5, residual=False)
    plain.load_state_dict(residual.state_dict())
    plain_out = plain(x, edges, pairs, extra)
    torch.testing.assert_close(residual(x, edges, pairs, extra)[:, 0], plain_out[:, 0] + extra[:, OFFSET])
    torch.testing.assert_close(residual(x, edges, pairs, extra)[:, 1], plain_out[:, 1])
    torch.testing.assert_close(residual(x, edges, pairs, extra)[:, 2], plain_out[:, 2] + extra[:, LOSS_OFFSET])
    ensemble = PairEnsemble([residual, plain])
    torch.testing.assert_close(ensemble(x, edges, pairs, extra)[:, 1], plain_out[:, 1])
    torch.testing.assert_close(ensemble(x, edges, pairs, extra)[:, 0], plain_out[:, 0] + extra[:, OFFSET] / 2)
    twin = PairEnsemble([residual, PairGNN("sage", 5)])  # two residual members, saved and reloaded
    save_pair_gnn(tmp_path / "m", SavedPairGNN(twin, "sage", 5, (4.0, 1.0), {}, {}, residual=True, members=2))
    loaded = load_pair_gnn(tmp_path / "m")
    assert loaded.members == 2 and loaded.residual
    torch.testing.assert_close(loaded.model(x, edges, pairs, extra), twin(x, edges, pairs, extra))


def test_qoe_agreement_per_day_and_per_window():
    from ndtwin.qoe.agreement import class_agreement, qoe_agreement, window_metrics

    # One pair, 4 days: 3 good days (30 ms, no loss) and 1 day with every packet lost.
    rows = pd.DataFrame(
        {
            "prb_id": 1,
            "dst_addr": "t",
            "window": np.arange(4) * 86_400,
            "rtt_median_s": [0.030, 0.030, 0.030, np.nan],
            "jitter_s": [0.001, 0.001, 0.001, np.nan],
            "loss_share": [0.0, 0.0, 0.0, 1.0],
        }
    )
    rows = rows.assign(rtt_ms=rows.rtt_median_s * 1e3, jitter_ms=rows.jitter_s * 1e3)
    window = window_metrics(rows).iloc[0]
    assert window.rtt_ms == pytest.approx(30.0) and window.loss_share == pytest.approx(0.25)
    # predicted: the good days' metrics → web class good on 3 of 4 days; over the window 25 % loss scores 1 on loss:
    # 0.5·4.79 + 0.3·1 + 0.2·4.92 = 3.68 → fair, so the window class disagrees.
    predicted = pd.DataFrame(
        {"prb_id": [1], "dst_addr": ["t"], "rtt_ms": [30.0], "jitter_ms": [1.0], "loss_share": [0.0]}
    )
    web = qoe_agreement(rows, predicted)["web"]
    assert web["class_agreement"] == pytest.approx(3 / 4) and web["n_rows"] == 4
    assert web["window_class_agreement"] == 0.0 and web["n_pairs"] == 1
    classes = predicted[["prb_id", "dst_addr"]].assign(qoe_class=["fair"])
    assert class_agreement(rows, classes, "web", per_window=True) == 1.0
    assert class_agreement(rows, classes, "web") == 0.0


def test_end_loss_takes_the_lossier_end():
    fit = pd.DataFrame(
        {"prb_id": [1, 1, 1, 2, 2], "dst_addr": ["a", "b", "c", "a", "c"], "loss_share": [0.0, 0.0, 0.9, 1.0, np.nan]}
    )
    query = pd.DataFrame({"prb_id": [1, 2, 3, 3], "dst_addr": ["c", "b", "b", "z"]})
    # probe 1 median 0, target c median 0.9 → 0.9; probe 2 median 1.0 (its NaN day ignored); probe 3 unknown → the
    # target's 0; neither end known → NaN.
    np.testing.assert_allclose(anchors.end_loss(fit, query), [0.9, 1.0, 0.0, np.nan])
