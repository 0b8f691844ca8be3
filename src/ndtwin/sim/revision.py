"""Which simulator made a set of labels: a digest of the sources that decide what the simulator computes."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

# The kernel, how a scenario becomes its plan, how runs become labels, and the run window.
_SEMANTICS = ("kernel.py", "plan.py", "labels.py", "simulate.py")


@cache
def simulator_revision() -> str:
    """Twelve hex digits that change whenever any source deciding the simulated labels changes (even a comment:
    conservative), so that labels from another simulator are told apart by cached suites and generated datasets."""
    digest = hashlib.sha1()
    here = Path(__file__).parent
    for name in _SEMANTICS:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]
