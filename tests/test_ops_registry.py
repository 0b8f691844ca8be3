"""Model registry: atomic versions, serving pointer, promote/rollback, Weak grade refusal, concurrency, CLI."""

import json
import multiprocessing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.ops.registry import ModelRegistry, RegistryError

runner = CliRunner()


def model_dir(path: Path, weights: str = "w", grade: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "weights.bin").write_text(weights)
    (path / "version.json").write_text('{"a model file": "with the name of the registry record"}')
    if grade is not None:
        (path / "grade.json").write_text(json.dumps({"grade": grade}))
    return path


def register(registry: ModelRegistry, source: Path, parent=None, **metrics) -> str:
    window = {"source": "s", "end_seq": 9}
    return registry.register(source, metrics=metrics or {"mape": 1.0}, data_window=window, parent=parent)


def test_register_copies_the_model_with_its_record(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    source = model_dir(tmp_path / "m", "first")
    window = {"source": "s", "start_seq": 0, "end_seq": 50}
    first = registry.register(
        source, metrics={"delay_mape": 12.5}, data_window=window, parent=None, note="initial", tags={"drift_id": "d0"}
    )
    source.joinpath("weights.bin").write_text("changed later")
    second = register(registry, source, parent=first)
    assert (first, second) == ("v0001", "v0002")
    info = registry.get(first)
    assert info.model_dir == tmp_path / "reg" / "versions" / "v0001" / "model"
    assert (info.model_dir / "weights.bin").read_text() == "first"
    assert (info.model_dir / "version.json").is_file()  # the model's own files are kept as they are
    assert info.metrics == {"delay_mape": 12.5} and info.data_window["end_seq"] == 50 and info.note == "initial"
    assert info.parent is None and registry.get(second).parent == first
    assert info.created.endswith("+00:00")
    assert [v.id for v in registry.versions()] == [first, second]
    assert [v.id for v in registry.find(drift_id="d0")] == [first]
    assert list((tmp_path / "reg" / "tmp").iterdir()) == []


def test_register_refuses_bad_input(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    with pytest.raises(RegistryError, match="model directory .*absent does not exist"):
        register(registry, tmp_path / "absent")
    with pytest.raises(RegistryError, match="version v0007: not registered"):
        register(registry, model_dir(tmp_path / "m"), parent="v0007")
    with pytest.raises(RegistryError, match="JSON-serialisable"):
        registry.register(tmp_path / "m", metrics={"x": object()}, data_window={}, parent=None)
    assert registry.versions() == []


def test_promote_and_rollback_follow_the_history(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    ids = [register(registry, model_dir(tmp_path / f"m{i}", str(i))) for i in range(3)]
    assert registry.serving() is None and registry.serving_dir() is None
    for version in ids:
        registry.promote(version)
    registry.promote(ids[2])  # already serving: no-op
    assert registry.history() == ids
    assert (registry.serving_dir() / "weights.bin").read_text() == "2"
    assert registry.rollback() == ids[1]
    assert registry.serving().id == ids[1]
    assert ModelRegistry(tmp_path / "reg").history() == ids[:2]  # persisted
    assert registry.rollback() == ids[0]
    with pytest.raises(RegistryError, match=r"cannot roll back: no version served before the serving one \(v0001\)"):
        registry.rollback()


def test_promote_refuses_a_weak_model(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    good = register(registry, model_dir(tmp_path / "good", grade="Strong"))
    weak = register(registry, model_dir(tmp_path / "weak", grade="Weak"))
    registry.promote(good)
    expected = f"registry {tmp_path / 'reg'}: version {weak}: not promoted, its trust grade is Weak"
    with pytest.raises(RegistryError, match=expected):
        registry.promote(weak)
    assert registry.serving().id == good


def test_abandoned_work_directories_are_removed_but_held_ones_kept(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    abandoned = tmp_path / "reg" / "tmp" / "register-v0001-x"
    model_dir(abandoned / "model")
    (tmp_path / "reg" / "tmp" / "serving.json.123").write_text("{")
    with registry.workspace("train") as held:
        (held / "partial").write_text("training")
        ModelRegistry(tmp_path / "reg")
        assert held.is_dir() and not abandoned.exists()
        assert [p.name for p in (tmp_path / "reg" / "tmp").iterdir()] == [held.name]
    assert not held.exists()
    assert registry.versions() == []


def register_many(root: str, count: int) -> list[str]:
    registry = ModelRegistry(root)
    source = model_dir(Path(root).parent / f"m-{multiprocessing.current_process().pid}")
    return [register(registry, source) for _ in range(count)]


def test_concurrent_processes_get_distinct_versions(tmp_path):
    root = str(tmp_path / "reg")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        ids = [i for batch in pool.starmap(register_many, [(root, 4), (root, 4)]) for i in batch]
    assert sorted(ids) == [f"v{n:04d}" for n in range(1, 9)]
    assert len(ModelRegistry(root).versions()) == 8


def test_unreadable_records_are_named(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    version = register(registry, model_dir(tmp_path / "m"))
    record = tmp_path / "reg" / "versions" / version / "version.json"
    record.write_text("{not json")
    with pytest.raises(RegistryError, match=f"{record}: unreadable"):
        registry.get(version)
    (tmp_path / "reg" / "serving.json").write_text('{"serving": "v0001"}')
    with pytest.raises(RegistryError, match="expected a 'history' list"):
        registry.history()


def test_cli_lists_promotes_and_rolls_back(tmp_path, monkeypatch):
    root = tmp_path / "reg"
    registry = ModelRegistry(root)
    first = registry.register(model_dir(tmp_path / "a"), metrics={"delay_mape": 12.5}, data_window={}, parent=None)
    second = registry.register(model_dir(tmp_path / "b"), metrics={"delay_mape": 9.25}, data_window={}, parent=first)
    weak = registry.register(model_dir(tmp_path / "c", grade="Weak"), metrics={}, data_window={}, parent=second)
    assert runner.invoke(app, ["registry", "promote", first, "--root", str(root)]).exit_code == 0
    promoted = runner.invoke(app, ["registry", "promote", second, "--root", str(root)])
    assert promoted.exit_code == 0 and f"serving {second} (was {first})" in promoted.output

    monkeypatch.setenv("NDTWIN_REGISTRY", str(root))
    listed = runner.invoke(app, ["registry", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.stdout)
    assert payload["serving"] == second and [v["id"] for v in payload["versions"]] == [first, second, weak]
    assert payload["versions"][1]["metrics"] == {"delay_mape": 9.25} and payload["versions"][1]["parent"] == first
    table = runner.invoke(app, ["registry", "list"])
    assert table.exit_code == 0 and "delay_mape 9.25" in table.output and "*" in table.output

    refused = runner.invoke(app, ["registry", "promote", weak])
    assert refused.exit_code == 2 and f"registry {root}: version {weak}: not promoted" in refused.output
    unknown = runner.invoke(app, ["registry", "promote", "v0042"])
    assert unknown.exit_code == 2 and "version v0042: not registered (registered: v0001–v0003)" in unknown.output
    rolled = runner.invoke(app, ["registry", "rollback"])
    assert rolled.exit_code == 0 and f"serving {first} (rolled back from {second})" in rolled.output
    again = runner.invoke(app, ["registry", "rollback"])
    assert again.exit_code == 2 and "cannot roll back" in again.output


def test_cli_names_a_missing_registry(tmp_path):
    result = runner.invoke(app, ["registry", "list", "--root", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and f"registry {tmp_path / 'nowhere'}: no registry here" in result.output
    assert not (tmp_path / "nowhere").exists()
