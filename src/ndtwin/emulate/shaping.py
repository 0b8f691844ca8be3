"""``tc`` commands that shape one output port: an HTB class at the link's capacity over FIFO queues of the
scenario's buffer sizes.

* FIFO: one HTB class (rate = ceil = capacity) and a ``pfifo`` (packet buffers) or ``bfifo`` (bit buffers).
* SP: one child class per queue under a parent at the capacity, each guaranteed ``SP_FLOOR`` of it and allowed to
  borrow up to all of it; HTB lends spare capacity to the lowest ``prio`` first, so queue 0 is served first.
* WFQ / DRR: one child class per queue guaranteed its weight share of the capacity, borrowing the rest in
  proportion to its quantum (weight share).

ToS ``t`` is carried as DSCP ``t`` (TOS byte ``t << 2``); u32 filters send it to its queue's class, anything
unmatched goes to the last queue. HTB measures packets with a size table that removes the Ethernet header, so the
rate applies to IP packets. Burst is one byte: a port never sends ahead of its rate, and (as any token-bucket
shaper) releases a packet at the start of its transmission slot.
"""

from __future__ import annotations

from ndtwin.scenario import PortConfig, Scheduling

ETHERNET_HEADER_BYTES = 14
SP_FLOOR = 0.01  # share of the capacity a strict-priority queue is guaranteed (HTB classes need a rate > 0)
MAX_QUANTUM_BYTES = 200_000


def tos_byte(tos: int) -> int:
    """The IPv4 TOS byte that carries the scenario's ToS class ``tos`` (as its DSCP)."""
    return (tos & 0x3F) << 2


def port_commands(device: str, port: PortConfig, capacity_bps: float, mtu_bytes: int) -> list[str]:
    """``tc -batch`` lines shaping ``device`` as ``port`` at ``capacity_bps``."""
    n = port.n_queues
    lines = [
        f"qdisc add dev {device} root handle 1: stab overhead -{ETHERNET_HEADER_BYTES} htb default {_minor(n - 1)}"
    ]
    frame = mtu_bytes + ETHERNET_HEADER_BYTES
    if n == 1:
        lines.append(_class(device, "1:", "1:10", capacity_bps, capacity_bps, 0, frame))
    else:
        lines.append(_class(device, "1:", "1:1", capacity_bps, capacity_bps, 0, frame))
        shares = port.weight_shares()
        for q in range(n):
            if port.scheduling is Scheduling.SP:
                rate, prio, quantum = SP_FLOOR / n * capacity_bps, q, frame
            else:
                rate, prio = shares[q] * capacity_bps, 0
                quantum = min(MAX_QUANTUM_BYTES, round(frame * shares[q] / min(shares)))
            lines.append(_class(device, "1:1", f"1:{_minor(q)}", rate, capacity_bps, prio, quantum))
    for q, size in enumerate(port.buffers):
        kind, limit = (
            ("bfifo", max(1, round(size / 8))) if port.buffer_unit == "bits" else ("pfifo", max(1, round(size)))
        )
        lines.append(f"qdisc add dev {device} parent 1:{_minor(q)} handle {_minor(q)}: {kind} limit {limit}")
    if n > 1:
        for tos, queue in enumerate(port.tos_to_queue):
            lines.append(
                f"filter add dev {device} parent 1: protocol ip prio 1 u32 match ip tos {tos_byte(tos):#04x} 0xfc "
                f"flowid 1:{_minor(queue)}"
            )
    return lines


def _minor(queue: int) -> str:
    """Class minor number (hex) of queue ``queue``: 10, 11, 12."""
    return f"{0x10 + queue:x}"


def _class(device: str, parent: str, classid: str, rate_bps: float, ceil_bps: float, prio: int, quantum: int) -> str:
    return (
        f"class add dev {device} parent {parent} classid {classid} htb rate {max(1, round(rate_bps))}bit "
        f"ceil {max(1, round(ceil_bps))}bit burst 1b cburst 1b prio {prio} quantum {quantum}"
    )
