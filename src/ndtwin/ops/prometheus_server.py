"""A real Prometheus server (the ``prometheus`` binary, e.g. Debian's package) configured by ndtwin.

Its configuration and data live under one state folder (``prometheus.yml``, ``data/``, ``prometheus.log``); it
scrapes the given targets every second and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ndtwin.errors import DatasetError

SCRAPE_INTERVAL_S = 1
READY_TIMEOUT_S = 60.0


def prometheus_config(targets: list[str]) -> str:
    """``prometheus.yml`` scraping ``targets`` (``host:port``) every ``SCRAPE_INTERVAL_S``."""
    listed = ", ".join(f'"{target}"' for target in targets)
    return (
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  evaluation_interval: {SCRAPE_INTERVAL_S}s\n"
        f"scrape_configs:\n  - job_name: ndtwin-emulate\n    static_configs:\n      - targets: [{listed}]\n"
    )


class PrometheusServer:
    """Context manager: a Prometheus server on ``127.0.0.1:port`` scraping ``targets``, data under ``state_dir``."""

    def __init__(self, state_dir: str | Path, targets: list[str], port: int) -> None:
        self.state_dir, self.targets, self.port = Path(state_dir), targets, port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            raise DatasetError("prometheus", "not installed (apt-get install -y prometheus, or make install)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "prometheus.yml"
        config.write_text(prometheus_config(self.targets))
        log = (self.state_dir / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.state_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DatasetError(self.state_dir / "prometheus.log", "prometheus exited on start; see this log")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise DatasetError(self.state_dir / "prometheus.log", f"prometheus not ready after {READY_TIMEOUT_S:g} s")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
