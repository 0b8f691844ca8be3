"""Every `ndtwin …` command and Python snippet of README.md and the user guide runs, on small inputs, and every
relative link of the docs leads somewhere.

Each page runs in its own working directory, its fenced ``bash`` and ``python`` blocks in order, so a command may use
what an earlier one on the same page wrote (``out/...``). Heavy arguments are mapped to small ones by the tables
below; only commands that need a cluster or run until stopped are skipped, each with its reason.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.load import open_samples
from ndtwin.data.native import write_dataset

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    "README.md",
    *(
        f"docs/guide/{name}"
        for name in ("data.md", "training.md", "whatif.md", "optimize.md", "operate.md", "emulate.md", "service.md")
    ),
]
SHELL_WORDS = {"make", "source"}  # set-up lines of the README, not ndtwin commands

# Shared data sets replaced by two-sample native copies (source folder → name of the copy).
SMALL_COPIES = {
    "gnnet/2022/validation/50": "gnnet22",
    "gnnet/2021/train": "gnnet21-train",
    "gnnet/2021/validation": "gnnet21-validation",
}
# Heavy argument → small one, in every command.
SMALL_ARGUMENTS = [
    (r"--max-minutes \d+", "--max-minutes 0.05 --epochs 1"),
    (r"--samples \d+", "--samples 2 --packets-per-flow 20 --workers 1"),
    # A replay that keeps its --state feeds the registry examples: it runs as written, long enough to promote.
    (r"--steps-per-concept \d+(?!.*--state)", "--steps-per-concept 2"),
    (r"--duration \d+", "--duration 3"),
]
# Command pattern → arguments appended to keep it small (a repeated option takes the last value).
SMALL_RUNS = [
    (r"^ndtwin simulate .*--backend ns3", "--packets-per-flow 200 --workers 1"),
    (r"^ndtwin simulate (?!.*--backend ns3)", "--packets-per-flow 20 --workers 1"),
    (r"^ndtwin whatif validate", "--packets 30 --reference-packets 60 --per-type 1 --loads 0.5"),
    (r"^ndtwin whatif calibrate", "--packets 30 --per-type 1 --loads 0.5"),
    (r"^ndtwin optimize routing", "--generations 2 --packets-per-flow 50"),
    (r"^ndtwin optimize capacity", "--max-steps 6 --packets-per-flow 50"),
]
SKIPPED = [
    (r"--ray\b", "needs a Ray cluster (RAY_ADDRESS)"),
    (r"^ndtwin serve\b(?! token)", "serves until stopped"),
    (r"^'?(curl|TOKEN=|H=)", "talks to a running service (its routes are tested in tests/test_service.py)"),
    *([(r"^ndtwin emulate\b", "needs root")] if os.geteuid() != 0 else []),
]
MODEL_DIRS = {"docs/guide/whatif.md": "out/gnn"}  # a model the page calibrates: a copy of the shipped one


def blocks(page: str) -> list[tuple[str, str]]:
    """The page's fenced ``bash`` and ``python`` blocks, in order, as (language, text)."""
    text = (REPO / page).read_text(encoding="utf-8")
    return re.findall(r"^```(bash|python)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def shell_lines(text: str) -> list[str]:
    """The block's lines with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [shlex.join(words) for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


@pytest.fixture(scope="module")
def small_data(shared_data, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("small-data")
    copies = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for source, name in SMALL_COPIES.items():
            write_dataset(itertools.islice(open_samples(shared_data / source), 2), root / name)
            copies[source] = root / name
    return copies


def rewrite(text: str, shared_data: Path, small: dict[str, Path]) -> str:
    """Shared data sets → their small copies or the real shared folder; the package's files → this checkout's."""
    for source, copy in small.items():
        text = re.sub(rf"\.\./shared/data/{re.escape(source)}(?![\w/])", str(copy), text)
    text = re.sub(r"\.\./shared/data/gnnet/2022/validation(?![\w/])", str(small["gnnet/2022/validation/50"]), text)
    text = text.replace("../shared/data", str(shared_data))
    return text.replace("src/ndtwin/resources", str(REPO / "src/ndtwin/resources"))


def small_command(line: str) -> str:
    for pattern, replacement in SMALL_ARGUMENTS:
        line = re.sub(pattern, replacement, line)
    extra = [arguments for pattern, arguments in SMALL_RUNS if re.search(pattern, line)]
    return " ".join([line, *extra])


def run_shell(line: str, shared_data: Path, small: dict[str, Path]) -> str | None:
    """Run one line; the reason if it is skipped."""
    words = shlex.split(line)
    if words[0] in SHELL_WORDS:
        return "set-up"
    if words[0] == "echo":  # echo 'TEXT' > FILE
        assert words[-2] == ">", line
        Path(words[-1]).write_text(" ".join(words[1:-2]) + "\n")
        return None
    for pattern, reason in SKIPPED:
        if re.search(pattern, line):
            return reason
    command = re.sub(r"^(\w+=\S+ )+", "", line)
    assert command.startswith("ndtwin "), f"a shell line the doc test cannot run: {line}"
    words = shlex.split(rewrite(small_command(command), shared_data, small))[1:]
    target = None
    if ">" in words:
        words, target = words[: words.index(">")], words[words.index(">") + 1]
    result = CliRunner().invoke(app, words)
    assert result.exit_code == 0, f"{line}\n→ {shlex.join(words)}\n{result.output}"
    if target:
        Path(target).write_text(result.stdout)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_command_of_the_page_runs(page, shared_data, small_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if page in MODEL_DIRS:
        shutil.copytree(REPO / "src/ndtwin/resources/models/default", MODEL_DIRS[page])
    found = blocks(page)
    assert any(language == "bash" for language, _ in found), f"{page}: no bash block found"
    ran, skipped = 0, []
    for language, text in found:
        if language == "python":
            code = rewrite(text, shared_data, small_data)
            exec(compile(code, f"{page} (python block)", "exec"), {"__name__": "docs"})
            continue
        for line in shell_lines(text):
            reason = run_shell(line, shared_data, small_data)
            if reason is None:
                ran += 1
            elif reason != "set-up":
                skipped.append((line, reason))
    assert ran > 0, f"{page}: no command ran"
    for line, reason in skipped:
        warnings.warn(f"{page}: not run ({reason}): {line}", stacklevel=1)


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", [*PAGES, "CONTRIBUTING.md", "docs/BENCHMARKS.md"])
def test_relative_links_lead_to_existing_files_and_headings(page):
    source = REPO / page
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text(encoding="utf-8")):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.exists(), f"{page}: link to {target} leads nowhere"
        if anchor:
            assert anchor in heading_anchors(linked), f"{page}: no heading for #{anchor} in {path or page}"
