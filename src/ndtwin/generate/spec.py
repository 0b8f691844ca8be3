"""GenerationSpec: the parameter ranges random scenarios are drawn from, with BNN-UPC (GNNet 2022)-like defaults.

The defaults follow the 2022 data-generation ranges (../shared/data/gnnet/SIM_SEMANTICS.md §3, §5, §6): per-pair
rates ∝ U(0.1, 1), ToS 10/30/60 %, per-node FIFO/SP/WFQ/DRR with the dataset's weight sets, 8k–64k-bit buffers per
queue, the five packet-size profiles over {500…1500} bits, Poisson / CBR / ON-OFF(5 s, 5 s) sources and the
capacities seen in the validation sets.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Scheduling, TimeKind

DEFAULT_PACKETS_PER_FLOW = 400
"""Measured packets of the slowest flow per sample; see docs/BENCHMARKS.md for the standard error it gives."""

TIME_LAWS = (TimeKind.POISSON.value, TimeKind.CBR.value, TimeKind.ONOFF.value)

Weights = tuple[float, float, float]
NamedProbs = tuple[tuple[str, float], ...]  # also given as a {name: weight} mapping


MAX_INTENSITY = 2.0  # the GNNet 2022 samples offer their busiest links up to 1.9 times their capacity


@dataclass(frozen=True)
class GenerationSpec:
    """Ranges and choices for random scenarios. Probabilities may be given on any positive scale.

    ``topologies``: sources (see :mod:`ndtwin.generate.topologies`), one drawn uniformly per sample.
    ``intensity``: range of the busiest link's offered utilisation the traffic is scaled to (above 1: overload).
    ``rate_spread``: each ordered pair's rate is proportional to U(low, high).
    ``capacities_bps``: link capacities; each link gets the smallest one that carries its load (see scenario_draw).
    ``size_profiles``: probability vectors over ``packet_sizes_bits``, one drawn per flow.
    ``scheduling_probs`` / ``time_probs``: ``{name: weight}``, stored as normalised ``(name, probability)`` pairs.
    ``onoff_s``: mean ON and OFF periods of ON-OFF sources; ``onoff_periodic``: they send as the BNN-UPC simulator
    does (a packet at each ON start, then on a clock) instead of as a Poisson process while ON.
    ``packets_per_flow``: measured packets of the slowest flow of a sample (``simulate``'s horizon).
    ``flows_per_pair``: range [low, high] of the number of flows per ordered pair (drawn per pair, uniformly);
    more flows per pair put as many flows on a link of a small graph as on one of a large graph.
    ``pair_share``: range of the share of ordered pairs that send traffic, drawn per sample (below 1: sparse
    traffic matrices, where a few flows fill a link).
    """

    topologies: tuple[str, ...] = ("powerlaw:10-25",)
    intensity: tuple[float, float] = (0.3, 1.0)
    rate_spread: tuple[float, float] = (0.1, 1.0)
    tos_probs: tuple[float, ...] = (0.1, 0.3, 0.6)
    capacities_bps: tuple[float, ...] = (10_000.0, 25_000.0, 40_000.0, 100_000.0, 250_000.0)
    scheduling_probs: NamedProbs = (("FIFO", 1.0), ("SP", 1.0), ("WFQ", 1.0), ("DRR", 1.0))
    wfq_weights: tuple[Weights, ...] = ((60, 30, 10), (65, 25, 10), (70, 20, 10), (80, 10, 10), (33.3, 33.3, 33.4))
    drr_weights: tuple[Weights, ...] = ((90, 5, 5), (70, 25, 5), (60, 30, 10), (50, 40, 10), (33.3, 33.3, 33.4))
    buffers_bits: tuple[float, ...] = (8000.0, 16000.0, 32000.0, 64000.0)
    packet_sizes_bits: tuple[float, ...] = (500.0, 750.0, 1000.0, 1250.0, 1500.0)
    size_profiles: tuple[tuple[float, ...], ...] = (
        (0.22, 0.05, 0.06, 0.62, 0.05),
        (0.08, 0.16, 0.35, 0.21, 0.20),
        (0.53, 0.16, 0.07, 0.10, 0.14),
        (0.10, 0.16, 0.36, 0.24, 0.14),
        (0.05, 0.28, 0.25, 0.27, 0.15),
    )
    time_probs: NamedProbs = (("poisson", 1.0), ("cbr", 1.0), ("onoff", 1.0))
    onoff_s: tuple[float, float] = (5.0, 5.0)
    onoff_periodic: bool = False
    packets_per_flow: int = DEFAULT_PACKETS_PER_FLOW
    flows_per_pair: tuple[int, int] = (1, 1)
    pair_share: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        set_ = partial(object.__setattr__, self)
        if isinstance(self.topologies, str) or not self.topologies:
            raise ScenarioError("spec.topologies", "a non-empty list of topology sources", self.topologies)
        set_("topologies", tuple(str(t) for t in self.topologies))
        set_("intensity", _range("spec.intensity", self.intensity, strict=True))
        if self.intensity[1] > MAX_INTENSITY:
            raise ScenarioError("spec.intensity", f"utilisations up to {MAX_INTENSITY}", list(self.intensity))
        set_("rate_spread", _range("spec.rate_spread", self.rate_spread, strict=True))
        set_("tos_probs", _probs("spec.tos_probs", self.tos_probs))
        set_("capacities_bps", tuple(sorted(_positive("spec.capacities_bps", self.capacities_bps))))
        policies = [s.value for s in Scheduling]
        set_("scheduling_probs", _named_probs("spec.scheduling_probs", self.scheduling_probs, policies))
        set_("wfq_weights", _weight_sets("spec.wfq_weights", self.wfq_weights))
        set_("drr_weights", _weight_sets("spec.drr_weights", self.drr_weights))
        set_("buffers_bits", _positive("spec.buffers_bits", self.buffers_bits))
        set_("packet_sizes_bits", _positive("spec.packet_sizes_bits", self.packet_sizes_bits))
        profiles = _sequence("spec.size_profiles", self.size_profiles)
        for i, profile in enumerate(profiles):
            if _sequence(f"spec.size_profiles[{i}]", profile) and len(profile) != len(self.packet_sizes_bits):
                expected = f"{len(self.packet_sizes_bits)} probabilities (one per packet size)"
                raise ScenarioError(f"spec.size_profiles[{i}]", expected, profile)
        set_("size_profiles", tuple(_probs(f"spec.size_profiles[{i}]", p) for i, p in enumerate(profiles)))
        set_("time_probs", _named_probs("spec.time_probs", self.time_probs, list(TIME_LAWS)))
        set_("onoff_s", _range("spec.onoff_s", self.onoff_s, strict=True, ordered=False))
        if not isinstance(self.onoff_periodic, bool):
            raise ScenarioError("spec.onoff_periodic", "true or false", self.onoff_periodic)
        set_("packets_per_flow", check_int("spec.packets_per_flow", self.packets_per_flow, minimum=1))
        low, high = _range("spec.flows_per_pair", self.flows_per_pair, strict=True)
        set_("flows_per_pair", (check_int("spec.flows_per_pair[0]", low, minimum=1),
                                check_int("spec.flows_per_pair[1]", high, minimum=1)))  # fmt: skip
        set_("pair_share", _range("spec.pair_share", self.pair_share, strict=True))
        if self.pair_share[1] > 1:
            raise ScenarioError("spec.pair_share", "shares in (0, 1]", list(self.pair_share))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GenerationSpec:
        """A spec from a mapping of field names (e.g. a parsed JSON/TOML file); unknown names are refused."""
        known = {f.name for f in fields(cls)}
        for name in values:
            if name not in known:
                raise ScenarioError(f"spec.{name}", f"one of the spec fields {sorted(known)}")
        return cls(**dict(values))

    @classmethod
    def load(cls, path: str | Path) -> GenerationSpec:
        """Read a spec from a ``.json`` or ``.toml`` file; errors name the file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            values = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (OSError, ValueError) as err:
            raise DatasetError(path, f"cannot read a generation spec ({err})") from None
        if not isinstance(values, dict):
            raise DatasetError(path, "a generation spec must be a JSON object / TOML table of spec fields")
        try:
            return cls.from_dict(values)
        except ScenarioError as err:
            raise DatasetError(path, str(err)) from None

    def with_overrides(self, **changes: Any) -> GenerationSpec:
        """A validated copy with the given fields replaced; ``None`` values leave a field unchanged."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (as stored in a dataset's provenance)."""
        return json.loads(
            json.dumps(
                asdict(self) | {"scheduling_probs": dict(self.scheduling_probs), "time_probs": dict(self.time_probs)}
            )
        )


def _sequence(field: str, values: Any) -> tuple:
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__") or len(values) == 0:
        raise ScenarioError(field, "a non-empty list", values)
    return tuple(values)


def _positive(field: str, values: Any) -> tuple[float, ...]:
    values = _sequence(field, values)
    return tuple(check_number(f"{field}[{i}]", v, minimum=0, strict=True) for i, v in enumerate(values))


def _range(field: str, values: Any, *, strict: bool, ordered: bool = True) -> tuple[float, float]:
    pair = _sequence(field, values)
    if len(pair) != 2:
        raise ScenarioError(field, "two numbers [low, high]", values)
    low, high = (check_number(f"{field}[{i}]", v, minimum=0, strict=strict) for i, v in enumerate(pair))
    if ordered and low > high:
        raise ScenarioError(field, "low <= high", list(pair))
    return low, high


def _probs(field: str, values: Any) -> tuple[float, ...]:
    probs = tuple(check_number(f"{field}[{i}]", v, minimum=0) for i, v in enumerate(_sequence(field, values)))
    if sum(probs) <= 0:
        raise ScenarioError(field, "probabilities with a positive sum", list(probs))
    return tuple(p / sum(probs) for p in probs)


def _named_probs(field: str, values: Any, names: list[str]) -> NamedProbs:
    """``{name: weight}`` (or pairs) over ``names`` as normalised ``(name, probability)`` pairs, in ``names`` order."""
    try:
        items = dict(values.items() if isinstance(values, Mapping) else values)
    except (TypeError, ValueError):
        raise ScenarioError(field, "a {name: weight} mapping", values) from None
    canonical = {n.lower(): n for n in names}
    for name in items:
        if str(name).lower() not in canonical:
            raise ScenarioError(f"{field}.{name}", f"one of {names}")
    given = {canonical[str(k).lower()]: v for k, v in items.items()}
    chosen = [n for n in names if n in given]
    probs = _probs(field, [given[n] for n in chosen])
    return tuple((n, p) for n, p in zip(chosen, probs) if p > 0)


def _weight_sets(field: str, values: Any) -> tuple[Weights, ...]:
    sets = _sequence(field, values)
    for i, weights in enumerate(sets):
        if len(_sequence(f"{field}[{i}]", weights)) != 3:
            raise ScenarioError(f"{field}[{i}]", "3 queue weights", weights)
    return tuple(_positive(f"{field}[{i}]", w) for i, w in enumerate(sets))  # type: ignore[misc]
