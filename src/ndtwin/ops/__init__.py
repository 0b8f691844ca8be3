"""The twin's lifecycle: telemetry store, drift detectors, model registry and background retraining.

``store`` needs duckdb and ``drift`` needs river (the ``ops`` extra); names are imported on first use, so the
registry (and the ``ndtwin registry`` command) work without them.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "AnyOf": "drift",
    "DriftDetector": "drift",
    "KswinDetector": "drift",
    "MultivariateDetector": "drift",
    "ResidualDetector": "drift",
    "relative_error": "drift",
    "ModelRegistry": "registry",
    "RegistryError": "registry",
    "VersionInfo": "registry",
    "RetrainManager": "retrain",
    "RetrainResult": "retrain",
    "TelemetryStore": "store",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ndtwin.ops' has no attribute {name!r}")
    return getattr(import_module(f"ndtwin.ops.{_HOMES[name]}"), name)
