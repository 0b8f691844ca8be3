"""Tables are not cut to 80 columns when the output is not a terminal (pipes, CI logs)."""

from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.cli.progress import console
from ndtwin.data.native import write_dataset
from ndtwin.data.sample import Sample
from ndtwin.scenario import Flow, Scenario, TimeDistribution, TimeKind, Topology, Traffic
from ndtwin.twin.qt import QueueingTheoryTwin

runner = CliRunner()


def tiny_dataset(path):
    edges = Topology.from_edges(3, [(0, 1, 1e6), (1, 2, 1e6)])
    names = ("Washington-Headquarters", "Sunnyvale-Datacenter", "Kansas-City-Exchange")
    topology = Topology(names, edges.links)
    law = TimeDistribution(TimeKind.POISSON, {})
    flows = tuple(Flow(s, d, 2e5, 0, law) for s, d in ((0, 2), (2, 0), (0, 1)))
    scenario = Scenario.with_shortest_paths(topology, Traffic(flows))
    write_dataset([Sample(scenario, QueueingTheoryTwin().predict(scenario), meta={"sample_id": "wide"})], path)
    return path


def predict_table(path, monkeypatch, columns: str | None) -> str:
    monkeypatch.setattr(console, "width", None)  # as if imported without COLUMNS (tests/conftest.py sets it)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    result = runner.invoke(app, ["predict", str(path), "--model", "qt"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_wide_table_is_whole_when_not_a_terminal(tmp_path, monkeypatch):
    text = predict_table(tiny_dataset(tmp_path / "data"), monkeypatch, columns=None)
    header = next(line for line in text.splitlines() if "rate_bps" in line)
    assert len(header) > 80
    for column in ("flow", "src", "dst", "tos", "rate_bps", "delay_s", "delay_var_s2", "loss"):
        assert column in header
    assert "Washington-Headquarters" in text and "Kansas-City-Exchange" in text
    assert "…" not in text


def test_columns_still_sets_the_width(tmp_path, monkeypatch):
    text = predict_table(tiny_dataset(tmp_path / "data"), monkeypatch, columns="60")
    assert max(len(line) for line in text.splitlines()) <= 60
