"""The agents' configuration: each node's flows as send laws in plain numbers (see ``agent.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ndtwin.emulate.layout import Layout
from ndtwin.emulate.shaping import tos_byte
from ndtwin.scenario import Flow, Scenario, SizeKind, TimeKind

AGENT_PORT = 49_000
DELAY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # live delay histograms


def flow_config(index: int, flow: Flow, layout: Layout) -> dict:
    """One flow as the agent generates it: the same laws and mean gaps as the simulator's sources."""
    law = flow.time
    gap_s = 1.0 / flow.pkts_per_s
    on_s = off_s = 0.0
    if law.kind is TimeKind.ONOFF:
        on_s, off_s = law.params["on_s"], law.params.get("off_s", 0.0)
        gap_s *= on_s / (on_s + off_s)  # the ON rate keeps the long-run mean at rate_bps
    cap = law.params.get("exp_max_factor", 0.0)
    size = flow.size
    return {
        "id": index,
        "dst": layout.node_address(flow.dst),
        "tos_byte": tos_byte(flow.tos),
        "kind": law.kind.value,
        "gap_s": gap_s,
        "gap_cap_s": cap * gap_s,
        "on_s": on_s,
        "off_s": off_s,
        "periodic": bool(law.params.get("periodic_on")),
        "sizes_bytes": [round(bits / 8) for bits in size.sizes_bits],
        "cum": np.cumsum(size.probs).tolist(),
        "uniform": size.kind is SizeKind.UNIFORM,
    }


def node_flows(scenario: Scenario, layout: Layout) -> list[list[dict]]:
    """Each node's flows as its agent sends them (index = node)."""
    flows: list[list[dict]] = [[] for _ in range(layout.n_nodes)]
    for i, flow in enumerate(scenario.traffic.flows):
        flows[flow.src].append(flow_config(i, flow, layout))
    return flows


def agent_configs(scenario: Scenario, layout: Layout, *, start_ns: int, warmup_ns: int, end_ns: int, drain_ns: int,
                  seed: int, phases: Sequence[tuple[int, Scenario]] = ()) -> list[dict]:  # fmt: skip
    """One configuration per node (index = node); ``out`` is filled in by the caller. ``phases``: (time in ns,
    scenario with the same flows) pairs at which the sources switch to that scenario's laws and rates."""
    flows = node_flows(scenario, layout)
    later = [(at_ns, node_flows(phase, layout)) for at_ns, phase in phases]
    return [
        {
            "node": node,
            "address": layout.node_address(node),
            "port": AGENT_PORT,
            "start_ns": start_ns,
            "warmup_ns": warmup_ns,
            "end_ns": end_ns,
            "drain_ns": drain_ns,
            "seed": seed * 1_000_003 + node,
            "flows": flows[node],
            **({"phases": [{"at_ns": at_ns, "flows": f[node]} for at_ns, f in later]} if later else {}),
        }
        for node in range(layout.n_nodes)
    ]
