"""RIPE Atlas import: firmware quirks, bad lines, bad files and the CLI, on real results copied from the data."""

import gzip
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("ripe.atlas.sagan")

from typer.testing import CliRunner

from ndtwin.atlas import import_results, read_table
from ndtwin.atlas.parse import is_private
from ndtwin.cli.main import app
from ndtwin.errors import DatasetError

FIXTURES = Path(__file__).parent / "fixtures" / "atlas"


@pytest.fixture
def imported(tmp_path):
    report = import_results(FIXTURES, tmp_path / "out")
    return report, read_table(tmp_path / "out", "pings"), read_table(tmp_path / "out", "traceroutes")


def test_ping_quirks(imported):
    report, pings, _ = imported
    assert report.pings == 5 and report.bad_lines == 0
    ok, lost, partial, dup, error = (pings.iloc[i] for i in range(5))
    assert ok.rtt_min_s == pytest.approx(0.254671923) and ok.rtt_max_s == pytest.approx(0.25818322)
    assert ok.rtt_median_s == pytest.approx(0.255234099) and ok.loss_share == 0
    assert ok.jitter_s == pytest.approx(
        (abs(258.18322 - 254.671923) + abs(254.671923 - 255.234099)) / 2e3, abs=1e-6
    )  # sagan rounds to µs
    # avg = -1: every packet lost, so no RTT (never -1 ms) and loss share 1.
    assert lost.received == 0 and lost.loss_share == 1 and lost.rtt_median_s != lost.rtt_median_s
    assert partial.loss_share == pytest.approx(1 / 3) and partial.rtt_min_s == pytest.approx(0.066068025)
    # The duplicate reply (972 ms) is counted but left out of the RTT statistics.
    assert dup.duplicates == 1 and dup.rtt_max_s == pytest.approx(0.176563915)
    assert dup.rtt_median_s == pytest.approx((0.176563915 + 0.13048678) / 2) and dup.loss_share == pytest.approx(1 / 3)
    # A probe that could not send: an error packet, nothing sent, loss unknown rather than 0.
    assert error.sent == 0 and error.errors == 1 and error.loss_share != error.loss_share


def test_traceroute_quirks(imported):
    report, _, hops = imported
    assert report.traceroutes == 4 and report.hop_replies == len(hops)
    late = hops[hops.late]
    assert len(late) == 1 and late.iloc[0].from_addr == "2.51.180.2" and late.iloc[0].rtt_s != late.iloc[0].rtt_s
    timeouts = hops[hops.timeout]
    assert len(timeouts) > 0 and timeouts.from_addr.isna().all() and timeouts.rtt_s.isna().all()
    assert (hops.icmp_error == "N").sum() >= 1 and hops.dup.sum() >= 1
    assert hops[hops.from_addr == "192.168.70.254"].private.all()
    assert not hops[hops.from_addr == "109.200.218.195"].private.any()


def test_private_addresses():
    assert is_private("10.1.2.3") and is_private("100.64.0.1") and not is_private("8.8.8.8")
    assert is_private("not-an-address") is None


def test_json_array_and_single_object(tmp_path):
    lines = (FIXTURES / "pings.jsonl").read_text().splitlines()
    (tmp_path / "array.json").write_text(json.dumps([json.loads(line) for line in lines]))
    assert import_results(tmp_path / "array.json", tmp_path / "a").pings == 5
    (tmp_path / "one.json").write_text(lines[0])
    assert import_results(tmp_path / "one.json", tmp_path / "b").pings == 1


def test_bad_lines_are_named_skipped_and_counted(tmp_path):
    lines = (FIXTURES / "pings.jsonl").read_text().splitlines()
    missing = json.loads(lines[0])
    del missing["rcvd"]
    src = tmp_path / "mixed.jsonl.gz"
    with gzip.open(src, "wt") as handle:
        handle.write("\n".join([lines[0], "{not json", json.dumps(missing), '{"foo": 1}', lines[1]]) + "\n")
    report = import_results(src, tmp_path / "out")
    assert report.pings == 2 and report.bad_lines == 3
    assert report.problems[0].startswith(f"{src}:2: not JSON")
    assert report.problems[1] == f"{src}:3: ping result without field 'rcvd'"
    assert report.problems[2].startswith(f"{src}:4: not a RIPE Atlas result")


def test_truncated_gzip_names_the_file_and_keeps_the_old_output(tmp_path):
    data = gzip.compress((FIXTURES / "pings.jsonl").read_bytes() * 50)
    src = tmp_path / "cut.jsonl.gz"
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    import_results(FIXTURES, out)
    with pytest.raises(DatasetError, match=r"cut.jsonl.gz: unreadable after line \d+"):
        import_results(src, out)
    assert len(read_table(out, "pings")) == 5


def test_non_ripe_json_is_a_clear_error(tmp_path):
    src = tmp_path / "other.json"
    src.write_text(json.dumps([{"name": "x", "value": 1}]))
    with pytest.raises(
        DatasetError, match=r"other.json: no RIPE Atlas ping or traceroute result.*other.json:1: not a RIPE"
    ):
        import_results(src, tmp_path / "out")
    with pytest.raises(DatasetError, match="no such file"):
        import_results(tmp_path / "absent", tmp_path / "out")


def test_cli_import(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES, src)
    (src / "broken.jsonl").write_text((FIXTURES / "pings.jsonl").read_text().splitlines()[0] + "\n[1, 2]\n")
    result = CliRunner().invoke(app, ["atlas", "import", str(src), str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["pings"] == 6 and summary["bad_lines"] == 1 and "broken.jsonl:2" in summary["problems"][0]
    result = CliRunner().invoke(app, ["atlas", "import", str(tmp_path / "nope.json"), str(tmp_path / "o")])
    assert result.exit_code == 2 and "no such file" in result.output and "Traceback" not in result.output


def test_shared_campaign_file_imports(shared_data, tmp_path):
    src = shared_data / "ripe_atlas" / "menog"
    lines = []
    with gzip.open(src / "traceroute_2019-05.jsonl.gz", "rt") as handle:
        for _ in range(200):
            lines.append(next(handle))
    (tmp_path / "t.jsonl").write_text("".join(lines))
    report = import_results(tmp_path / "t.jsonl", tmp_path / "out")
    assert report.traceroutes == 200 and report.bad_lines == 0
