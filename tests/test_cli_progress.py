"""Progress bars with a known total estimate the time left; simulate knows its total before it starts."""

import io
import time

from rich.console import Console

from ndtwin.cli import progress
from ndtwin.data.load import count_samples, open_samples
from ndtwin.data.native import write_dataset


def rendered(monkeypatch, total: int | None) -> str:
    screen = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=screen, force_terminal=True, width=150))
    with progress.progress_bar("simulating", total) as advance:
        for _ in range(3):
            time.sleep(0.05)
            advance("sample")
    return screen.getvalue()


def test_a_bar_with_a_total_shows_the_time_left(monkeypatch):
    text = rendered(monkeypatch, total=3)
    assert "3/3" in text and "elapsed," in text and "left" in text
    assert "left" not in rendered(monkeypatch, total=None)


def test_count_samples_matches_what_is_read(shared_data, tmp_path):
    tree = shared_data / "gnnet/2022/validation/50"
    assert count_samples(tree) == sum(1 for _ in open_samples(tree)) == 14
    written = write_dataset(open_samples(shared_data / "gnnet/2021/train"), tmp_path / "native")
    assert count_samples(tmp_path / "native") == written == 50
