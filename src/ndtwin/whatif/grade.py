"""Grades of a twin's what-if answers — Excellent, Good or Weak — stored with a model as ``grade.json``.

A grade reads two overall scores of a TrustReport: the relative MAE of predicted changes (MAE of Δ divided by the
mean simulated |Δ|) and the R² of predicted against simulated Δ. Excellent and Good each need both bounds met;
anything else (including a score that could not be computed) is Weak. The registry refuses to promote a Weak model.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ndtwin.errors import DatasetError, ScenarioError, check_number
from ndtwin.whatif.validate import TrustReport

GRADE_FILE = "grade.json"
GRADES = ("Excellent", "Good", "Weak")


@dataclass(frozen=True)
class GradeBounds:
    """Largest relative delta MAE and smallest delta R² for each grade above Weak."""

    excellent_mae_rel: float = 0.25
    excellent_r2: float = 0.9
    good_mae_rel: float = 0.5
    good_r2: float = 0.7

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_number(f"bounds.{name}", value, minimum=0)
        if self.excellent_mae_rel > self.good_mae_rel or self.excellent_r2 < self.good_r2:
            raise ScenarioError("bounds", "Excellent bounds at least as strict as Good ones", asdict(self))


def grade(report: TrustReport, bounds: GradeBounds = GradeBounds()) -> str:
    """The grade of ``report``'s overall scores under ``bounds``."""
    mae_rel, r2 = report.overall.delta_mae_rel, report.overall.delta_r2
    if not (math.isfinite(mae_rel) and math.isfinite(r2)):
        return "Weak"
    if mae_rel <= bounds.excellent_mae_rel and r2 >= bounds.excellent_r2:
        return "Excellent"
    if mae_rel <= bounds.good_mae_rel and r2 >= bounds.good_r2:
        return "Good"
    return "Weak"


def write_grade(model_dir: str | Path, report: TrustReport, bounds: GradeBounds = GradeBounds()) -> dict[str, Any]:
    """Grade ``report`` and write ``{"grade", "bounds", "report"}`` to ``model_dir/grade.json``; returns it."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise DatasetError(model_dir, "expected an existing model directory to write grade.json into")
    document = {"grade": grade(report, bounds), "bounds": asdict(bounds), "report": report.to_dict()}
    (model_dir / GRADE_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document


def read_grade(model_dir: str | Path) -> dict[str, Any] | None:
    """The ``grade.json`` of a model directory, or None when it has none; DatasetError if it is malformed."""
    path = Path(model_dir) / GRADE_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(path, f"unreadable JSON ({error})") from None
    if not isinstance(document, dict) or document.get("grade") not in GRADES:
        raise DatasetError(path, f"expected an object whose 'grade' is one of {list(GRADES)}")
    return document
