"""Settings of a running service and the layout of its state folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BODY_BYTES = 16 * 2**20
OPERATE_DIR = "operate"
REGISTRY_DIR = "registry"


@dataclass(frozen=True)
class ServiceConfig:
    """``state``: the folder keeping scenarios, jobs and tokens (created). ``model``: what ``load_twin`` takes.
    ``auth``: require bearer tokens. ``datasets``: the folder dataset references are resolved in (None: no dataset
    references). ``operate``: an ``ndtwin operate --state`` folder to report drift and SLA of (default:
    ``state/operate`` when it exists). ``registry``: the model registry to list, promote and roll back (default:
    the operate folder's, else ``state/registry``). ``workers``: processes running optimization jobs."""

    state: Path
    model: str = "default"
    auth: bool = True
    datasets: Path | None = None
    operate: Path | None = None
    registry: Path | None = None
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("state", "datasets", "operate", "registry"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        self.state.mkdir(parents=True, exist_ok=True)

    @property
    def operate_dir(self) -> Path | None:
        """The operate folder, when there is one."""
        folder = self.operate if self.operate is not None else self.state / OPERATE_DIR
        return folder if folder.is_dir() else None

    @property
    def registry_dir(self) -> Path:
        """The registry root."""
        if self.registry is not None:
            return Path(self.registry)
        operate = self.operate_dir
        if operate is not None and (operate / REGISTRY_DIR).is_dir():
            return operate / REGISTRY_DIR
        return self.state / REGISTRY_DIR


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or localhost)."""
    return host in ("localhost", "::1") or host.startswith("127.")
