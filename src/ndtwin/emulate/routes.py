"""The scenario's routing as kernel routes: destination-based where every path agrees, policy rules elsewhere.

At each node, the next hop towards a destination that most paths through the node use goes into the main table;
a path that leaves the node by another neighbour gets an ``ip rule`` matching its source and destination that
looks up a table holding one route via that neighbour. Routes cover only the emulated addresses.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ndtwin.emulate.layout import EMULATION_RANGE, Layout, interface_name
from ndtwin.scenario import Routing

RULE_PRIORITY = 1000
TABLE_BASE = 1000  # table of the routes via neighbour v: TABLE_BASE + v


def next_hops(routing: Routing, n_nodes: int) -> list[dict[tuple[int, int], int]]:
    """For every node, the next hop of each routed (source, destination) pair that passes through it."""
    hops: list[dict[tuple[int, int], int]] = [{} for _ in range(n_nodes)]
    for pair, path in routing.paths.items():
        for u, v in zip(path, path[1:]):
            hops[u][pair] = v
    return hops


def route_commands(layout: Layout, routing: Routing) -> list[list[str]]:
    """``ip -batch`` lines of every node (index = node): main-table routes, policy rules and their tables."""
    commands = []
    for node, pairs in enumerate(next_hops(routing, layout.n_nodes)):
        by_destination: dict[int, Counter] = defaultdict(Counter)
        for (_, dst), nxt in pairs.items():
            by_destination[dst][nxt] += 1
        main = {dst: counts.most_common(1)[0][0] for dst, counts in sorted(by_destination.items())}
        lines = [_route(layout, node, layout.node_address(dst), nxt) for dst, nxt in main.items()]
        tables, rules = set(), 0
        for (src, dst), nxt in sorted(pairs.items()):
            if main[dst] == nxt:
                continue
            if nxt not in tables:
                tables.add(nxt)
                lines.append(_route(layout, node, str(EMULATION_RANGE), nxt) + f" table {TABLE_BASE + nxt}")
            rules += 1
            lines.append(
                f"rule add priority {RULE_PRIORITY + rules - 1} from {layout.node_address(src)} to {layout.node_address(dst)} "
                f"lookup {TABLE_BASE + nxt}"
            )
        commands.append(lines)
    return commands


def _route(layout: Layout, node: int, prefix: str, nxt: int) -> str:
    return f"route add {prefix} via {layout.peer_address(node, nxt)} dev {interface_name(nxt)}"
