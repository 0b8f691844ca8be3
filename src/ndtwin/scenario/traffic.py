"""Traffic: flows with a source, destination, ToS, mean rate, inter-arrival law and packet-size law."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from types import MappingProxyType

import numpy as np

from ndtwin.errors import ScenarioError, check_int, check_number


class TimeKind(str, Enum):
    """Inter-arrival law of a flow. The BNN-UPC dataset code of each is in ``BNN_TIME_CODES``."""

    POISSON = "poisson"
    CBR = "cbr"  # constant packet rate
    ONOFF = "onoff"  # exponential ON/OFF periods, Poisson arrivals while ON
    UNIFORM = "uniform"
    NORMAL = "normal"
    PPBP = "ppbp"
    TRACE = "trace"
    EXTERNAL = "external"


BNN_TIME_CODES: dict[int, TimeKind] = {
    0: TimeKind.POISSON,
    1: TimeKind.CBR,
    2: TimeKind.UNIFORM,
    3: TimeKind.NORMAL,
    4: TimeKind.ONOFF,
    5: TimeKind.PPBP,
    6: TimeKind.TRACE,
    7: TimeKind.EXTERNAL,
}

_REQUIRED_TIME_PARAMS: dict[TimeKind, tuple[str, ...]] = {
    TimeKind.ONOFF: ("on_s", "off_s"),
    TimeKind.UNIFORM: ("min_pkts_per_s", "max_pkts_per_s"),
    TimeKind.NORMAL: ("std_pkts_per_s",),
}


@dataclass(frozen=True)
class TimeDistribution:
    """Inter-arrival law. ``params`` are numeric and in SI units (``on_s``, ``off_s``, ``exp_max_factor``, …)."""

    kind: TimeKind = TimeKind.POISSON
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, TimeKind):
            try:
                object.__setattr__(self, "kind", TimeKind(str(self.kind).lower()))
            except ValueError:
                raise ScenarioError("time.kind", f"one of {[k.value for k in TimeKind]}", self.kind) from None
        clean = {}
        for name, value in dict(self.params).items():
            clean[str(name)] = check_number(f"time.params.{name}", value, minimum=0)
        for name in _REQUIRED_TIME_PARAMS.get(self.kind, ()):
            if name not in clean:
                raise ScenarioError(f"time.params.{name}", f"a value for {self.kind.value} traffic")
        if self.kind is TimeKind.ONOFF and clean["on_s"] <= 0:
            raise ScenarioError("time.params.on_s", "a mean ON period > 0", clean["on_s"])
        object.__setattr__(self, "params", MappingProxyType(clean))

    def __reduce__(self) -> tuple:
        """Pickle as (kind, plain dict): a read-only mapping proxy cannot be pickled (worker processes need it)."""
        return (TimeDistribution, (self.kind, dict(self.params)))

    @classmethod
    def poisson(cls) -> TimeDistribution:
        return cls(TimeKind.POISSON)

    @classmethod
    def cbr(cls) -> TimeDistribution:
        return cls(TimeKind.CBR)

    @classmethod
    def on_off(cls, on_s: float, off_s: float, *, periodic: bool = False) -> TimeDistribution:
        """Exponential ON and OFF periods of mean ``on_s`` and ``off_s``. Packets arrive as a Poisson process
        while ON, or (``periodic``) one at the start of each ON period and then at the ticks of a free-running
        clock, as in the BNN-UPC simulator."""
        return cls(TimeKind.ONOFF, {"on_s": on_s, "off_s": off_s} | ({"periodic_on": 1.0} if periodic else {}))

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.params.items()))))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeDistribution) and (self.kind, dict(self.params)) == (
            other.kind,
            dict(other.params),
        )


class SizeKind(str, Enum):
    """Packet-size law. ``UNIFORM`` is continuous over ``[sizes[0], sizes[1]]``; the others are discrete."""

    DETERMINISTIC = "deterministic"
    UNIFORM = "uniform"
    BINOMIAL = "binomial"  # two equiprobable sizes (BNN-UPC code 2)
    GENERIC = "generic"  # any discrete law (BNN-UPC code 3)


@dataclass(frozen=True)
class PacketSizeDistribution:
    """Packet sizes in bits with their probabilities."""

    sizes_bits: tuple[float, ...]
    probs: tuple[float, ...]
    kind: SizeKind = SizeKind.GENERIC

    def __post_init__(self) -> None:
        if not isinstance(self.kind, SizeKind):
            try:
                object.__setattr__(self, "kind", SizeKind(str(self.kind).lower()))
            except ValueError:
                raise ScenarioError("size.kind", f"one of {[k.value for k in SizeKind]}", self.kind) from None
        sizes = tuple(
            check_number(f"size.sizes_bits[{i}]", s, minimum=0, strict=True) for i, s in enumerate(self.sizes_bits)
        )
        probs = tuple(check_number(f"size.probs[{i}]", p, minimum=0) for i, p in enumerate(self.probs))
        if not sizes or len(sizes) != len(probs):
            raise ScenarioError("size.probs", f"one probability per size ({len(sizes)} sizes)", self.probs)
        if abs(sum(probs) - 1.0) > 1e-3:
            raise ScenarioError("size.probs", "probabilities summing to 1", round(sum(probs), 6))
        if self.kind is SizeKind.UNIFORM and (len(sizes) != 2 or sizes[0] > sizes[1]):
            raise ScenarioError("size.sizes_bits", "[min, max] for a uniform size law", sizes)
        object.__setattr__(self, "sizes_bits", sizes)
        total = sum(probs)
        if abs(total - 1.0) > 1e-12:  # normalise only when needed, so re-building a law keeps it exactly
            probs = tuple(p / total for p in probs)
        object.__setattr__(self, "probs", probs)

    @classmethod
    def fixed(cls, size_bits: float) -> PacketSizeDistribution:
        return cls((size_bits,), (1.0,), SizeKind.DETERMINISTIC)

    @classmethod
    def uniform(cls, min_bits: float, max_bits: float) -> PacketSizeDistribution:
        return cls((min_bits, max_bits), (0.5, 0.5), SizeKind.UNIFORM)

    @classmethod
    def discrete(cls, sizes_bits: Sequence[float], probs: Sequence[float]) -> PacketSizeDistribution:
        return cls(tuple(sizes_bits), tuple(probs), SizeKind.GENERIC)

    @property
    def mean_bits(self) -> float:
        if self.kind is SizeKind.UNIFORM:
            return (self.sizes_bits[0] + self.sizes_bits[1]) / 2
        return float(np.dot(self.sizes_bits, self.probs))

    @property
    def second_moment_bits2(self) -> float:
        if self.kind is SizeKind.UNIFORM:
            a, b = self.sizes_bits
            return (a * a + a * b + b * b) / 3
        return float(np.dot(np.square(self.sizes_bits), self.probs))

    @property
    def min_bits(self) -> float:
        return min(s for s, p in zip(self.sizes_bits, self.probs) if p > 0 or self.kind is SizeKind.UNIFORM)


DEFAULT_SIZE = PacketSizeDistribution.fixed(8000.0)


@dataclass(frozen=True)
class Flow:
    """One flow ``src → dst`` with mean offered rate ``rate_bps`` (bits/s, over ON and OFF periods)."""

    src: int
    dst: int
    rate_bps: float
    tos: int = 0
    time: TimeDistribution = field(default_factory=TimeDistribution)
    size: PacketSizeDistribution = DEFAULT_SIZE

    @property
    def pkts_per_s(self) -> float:
        return self.rate_bps / self.size.mean_bits


@dataclass(frozen=True)
class Traffic:
    """The flows of a scenario, in a fixed order (flow index = position)."""

    flows: tuple[Flow, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "flows", tuple(self.flows))
        for i, flow in enumerate(self.flows):
            where = f"traffic.flows[{i}]"
            if not isinstance(flow, Flow):
                raise ScenarioError(where, "a Flow", type(flow).__name__)
            check_int(f"{where}.src", flow.src)
            check_int(f"{where}.dst", flow.dst)
            if flow.src == flow.dst:
                raise ScenarioError(where, "different source and destination", (flow.src, flow.dst))
            check_number(f"{where}.rate_bps", flow.rate_bps, minimum=0, strict=True)
            check_int(f"{where}.tos", flow.tos)

    def __len__(self) -> int:
        return len(self.flows)

    @cached_property
    def rate_bps(self) -> np.ndarray:
        return np.array([f.rate_bps for f in self.flows], dtype=float)

    @cached_property
    def mean_size_bits(self) -> np.ndarray:
        return np.array([f.size.mean_bits for f in self.flows], dtype=float)

    @cached_property
    def second_moment_bits2(self) -> np.ndarray:
        return np.array([f.size.second_moment_bits2 for f in self.flows], dtype=float)

    @cached_property
    def tos(self) -> np.ndarray:
        return np.array([f.tos for f in self.flows], dtype=np.int64)

    def pairs(self) -> list[tuple[int, int]]:
        """Distinct (src, dst) pairs in first-seen order."""
        return list(dict.fromkeys((int(f.src), int(f.dst)) for f in self.flows))

    def scaled(self, factor: float) -> Traffic:
        """A copy with every flow's rate multiplied by ``factor``."""
        check_number("traffic scale factor", factor, minimum=0, strict=True)
        return Traffic(tuple(Flow(f.src, f.dst, f.rate_bps * factor, f.tos, f.time, f.size) for f in self.flows))
