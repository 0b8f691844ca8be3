"""Errors raised on bad input: each names the offending field or file and what was expected."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


class ScenarioError(ValueError):
    """An invalid scenario value. ``field`` is a dotted path such as ``topology.links[3].capacity_bps``."""

    def __init__(self, field: str, expected: str, got: Any = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        message = f"{field}: expected {expected}"
        if got is not None:
            message += f", got {got!r}"
        super().__init__(message)

    def __reduce__(self) -> tuple:
        """Pickle by constructor arguments, so the error crosses from worker processes intact."""
        return (ScenarioError, (self.field, self.expected, self.got))


class DatasetError(ValueError):
    """A file or directory that cannot be read as a dataset."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self) -> tuple:
        """Pickle by constructor arguments, so the error crosses from worker processes intact."""
        return (DatasetError, (self.path, self.problem))


def _finite_float(field: str, expected: str, value: Any) -> float:
    """``value`` as a finite float (a bool is not one), else ScenarioError naming ``field`` and ``expected``."""
    if isinstance(value, bool):
        raise ScenarioError(field, expected, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScenarioError(field, expected, value) from None
    if not math.isfinite(number):
        raise ScenarioError(field, expected, value)
    return number


def check_number(field: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float, raising ScenarioError if it is not one or is out of range.

    ``strict`` makes ``minimum`` exclusive (``value > minimum``).
    """
    bound = ""
    if minimum is not None:
        bound = f" {'>' if strict else '>='} {minimum:g}"
    expected = f"a finite number{bound}"
    number = _finite_float(field, expected, value)
    if minimum is not None and (number < minimum or (strict and number == minimum)):
        raise ScenarioError(field, expected, value)
    return number


def check_int(field: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]``, raising ScenarioError otherwise."""
    expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    number = _finite_float(field, expected, value)
    if number != int(number):
        raise ScenarioError(field, expected, value)
    integer = int(number)
    if integer < minimum or (maximum is not None and integer > maximum):
        raise ScenarioError(field, expected, value)
    return integer
