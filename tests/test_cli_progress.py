"""Progress bars with a known total estimate the time left."""

import io
import time

from rich.console import Console

from ndtwin.cli import progress


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
