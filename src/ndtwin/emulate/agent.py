"""The traffic agent of one node: sends the node's flows and receives the flows addressed to it.

Run inside the node's namespace as a plain script (standard library only, so it starts fast):
``python agent.py CONFIG.json``. One process per node, whatever its number of flows. Every packet carries its
flow id, sequence number and send time (``CLOCK_REALTIME`` in ns, taken just before ``sendto``); the receive
time is the kernel's receive timestamp (``SO_TIMESTAMPNS``, the same clock: all namespaces of a host share it), so
the agent's own scheduling latency does not enter the measured delay.

Sources: ``poisson`` (exponential gaps), ``cbr`` (constant gap, random phase), ``onoff`` (exponential ON and OFF
periods, Poisson or — ``periodic`` — evenly spaced packets while ON). A packet whose time has passed is sent at
once; how late each packet left is recorded. ``CONFIG["phases"]`` (optional) changes the laws mid-run: at each
phase's ``at_ns`` the node's sources restart with that phase's flows (same flows, new laws and rates). Results (``CONFIG["out"]``, JSON): per flow sent packets and bits
of the measured window, and per received measured packet its flow, size and one-way delay.
"""

from __future__ import annotations

import bisect
import heapq
import json
import os
import random
import select
import socket
import struct
import sys
import time
from array import array

HEADER = struct.Struct("!IIq")  # flow id, sequence number, send time (ns)
IP_UDP_HEADER_BYTES = 28
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux values where the module lacks them
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SOCKET_BUFFER_BYTES = 8 << 20
LIVE_PERIOD_S = 0.5


class Source:
    """Send times of one flow, in ns."""

    def __init__(self, flow: dict, rng: random.Random, start_ns: int) -> None:
        self.flow, self.rng = flow, rng
        self.gap_ns = flow["gap_s"] * 1e9
        self.cap_ns = flow.get("gap_cap_s", 0.0) * 1e9 or float("inf")
        self.kind = flow["kind"]
        self.sizes, self.cum, self.uniform = flow["sizes_bytes"], flow["cum"], flow["uniform"]
        self.on_end = float("inf")
        if self.kind == "cbr":
            self.next_ns = start_ns + rng.random() * self.gap_ns
        elif self.kind == "onoff":
            on, off = flow["on_s"] * 1e9, flow["off_s"] * 1e9
            if rng.random() < on / (on + off):
                self.on_end = start_ns + rng.expovariate(1 / on)
                self.next_ns = start_ns + self._gap()
            else:
                self._start_on(start_ns + (rng.expovariate(1 / off) if off > 0 else 0.0))
            if self.next_ns > self.on_end:
                self._start_on(self.on_end + self._off())
        else:
            self.next_ns = start_ns + self._gap()

    def _gap(self) -> float:
        return self.gap_ns if self.kind == "cbr" else min(self.rng.expovariate(1 / self.gap_ns), self.cap_ns)

    def _off(self) -> float:
        off = self.flow["off_s"] * 1e9
        return self.rng.expovariate(1 / off) if off > 0 else 0.0

    def _start_on(self, at: float) -> None:
        """An ON period starts at ``at``: its first packet at once when periodic, else after a Poisson gap."""
        self.on_end = at + self.rng.expovariate(1 / (self.flow["on_s"] * 1e9))
        self.next_ns = at if self.flow.get("periodic") else at + self._gap()
        if self.next_ns > self.on_end:
            self._start_on(self.on_end + self._off())

    def advance(self) -> None:
        """Move to the next send time."""
        if self.kind == "onoff":
            step = self.gap_ns if self.flow.get("periodic") else self._gap()
            self.next_ns += step
            if self.next_ns > self.on_end:
                self._start_on(self.on_end + self._off())
        else:
            self.next_ns += self._gap()

    def size(self) -> int:
        if self.uniform:
            return round(self.rng.uniform(self.sizes[0], self.sizes[1]))
        return self.sizes[min(bisect.bisect_left(self.cum, self.rng.random()), len(self.sizes) - 1)]


class Receiver:
    """Records flow, IP size and one-way delay (ns) of every measured packet that arrives."""

    def __init__(self, address: str, port: int, warmup_ns: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((address, port))
        self.sock.setblocking(False)
        self.warmup_ns = warmup_ns
        self.flow, self.size, self.delay = array("l"), array("l"), array("q")
        self.negative = 0
        self.live: dict[int, list[int]] = {}  # flow -> [packets, delay sum ns, count per bucket...] (all packets)
        self.bucket_ns: list[int] = []

    def drain(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65535, 64)
            except BlockingIOError:
                return
            flow, _, sent_ns = HEADER.unpack_from(data)
            received_ns = next(
                (s * 1_000_000_000 + ns for level, kind, raw in ancillary
                 if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                 for s, ns in [struct.unpack("qq", raw[:16])]),
                time.time_ns(),
            )  # fmt: skip
            if self.bucket_ns:
                self._count(flow, received_ns - sent_ns)
            if sent_ns < self.warmup_ns:
                continue
            self.negative += received_ns < sent_ns
            self.flow.append(flow)
            self.size.append(len(data) + IP_UDP_HEADER_BYTES)
            self.delay.append(received_ns - sent_ns)

    def _count(self, flow: int, delay_ns: int) -> None:
        counts = self.live.get(flow)
        if counts is None:
            counts = self.live[flow] = [0] * (2 + len(self.bucket_ns) + 1)
        counts[0] += 1
        counts[1] += delay_ns
        counts[2 + bisect.bisect_left(self.bucket_ns, delay_ns)] += 1


class LiveCounters:
    """Cumulative per-flow counters of all packets (warm-up included), written atomically every
    ``LIVE_PERIOD_S`` to ``path`` for the exporter: sent packets per sent flow; per received flow its packets,
    delay sum (ns) and packets per delay bucket (upper bounds ``bucket_ns``, then +Inf)."""

    def __init__(self, path: str, receiver: Receiver, flows: list[int], bucket_s: list[float]) -> None:
        self.path, self.receiver = path, receiver
        receiver.bucket_ns = [round(b * 1e9) for b in bucket_s]
        self.sent = dict.fromkeys(flows, 0)
        self.next_ns = 0
        self.period_ns = int(LIVE_PERIOD_S * 1e9)

    def maybe_write(self, now_ns: int) -> None:
        if now_ns >= self.next_ns:
            self.next_ns = now_ns + self.period_ns
            record = {"time_ns": now_ns, "sent": self.sent, "received": self.receiver.live}
            with open(self.path + ".tmp", "w") as file:
                json.dump(record, file)
            os.replace(self.path + ".tmp", self.path)


def udp_receive_errors() -> int:
    """Datagrams this namespace's UDP layer dropped for want of socket buffer space."""
    lines = [line.split() for line in open("/proc/self/net/snmp") if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


class Sender:
    """The node's sources on one heap of send times, one socket per ToS, and the counts of the measured window."""

    def __init__(self, config: dict, start_ns: int, live: LiveCounters | None) -> None:
        self.port, self.warmup_ns, self.live = config["port"], config["warmup_ns"], live
        self.sockets: dict[int, socket.socket] = {}
        for flow in config["flows"]:
            if flow["tos_byte"] not in self.sockets:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, flow["tos_byte"])
                sock.bind((config["address"], 0))
                sock.setblocking(False)
                self.sockets[flow["tos_byte"]] = sock
        self.rng = random.Random(config["seed"])
        self.switch(config["flows"], start_ns)
        n = len(self.sources)
        self.sent, self.sent_bits, self.refused, self.sequence = [0] * n, [0] * n, [0] * n, [0] * n
        self.lateness = array("q")
        self.buffer = bytearray(65535)

    def switch(self, flows: list[dict], at_ns: int) -> None:
        """From ``at_ns`` on, send ``flows`` (the same flows in the same order, with new laws)."""
        self.sources = [Source(flow, random.Random(self.rng.getrandbits(64)), at_ns) for flow in flows]
        self.heap = [(source.next_ns, i) for i, source in enumerate(self.sources)]
        heapq.heapify(self.heap)

    def next_due_ns(self, default: int) -> float:
        return self.heap[0][0] if self.heap else default

    def send_due(self, end_ns: int) -> None:
        """Send every packet whose time has come (and is before ``end_ns``)."""
        while self.heap and self.heap[0][0] <= time.time_ns() < end_ns:
            due, i = heapq.heappop(self.heap)
            source = self.sources[i]
            flow, size = source.flow, source.size()
            stamp = time.time_ns()
            HEADER.pack_into(self.buffer, 0, flow["id"], self.sequence[i], stamp)
            self.sequence[i] += 1
            payload = memoryview(self.buffer)[: size - IP_UDP_HEADER_BYTES]
            try:
                self.sockets[flow["tos_byte"]].sendto(payload, (flow["dst"], self.port))
            except OSError:  # ENOBUFS/EAGAIN: dropped on entering the first queue
                self.refused[i] += stamp >= self.warmup_ns
            if self.live is not None:
                self.live.sent[flow["id"]] += 1
            if stamp >= self.warmup_ns:
                self.sent[i] += 1
                self.sent_bits[i] += 8 * size
                self.lateness.append(stamp - int(due))
            source.advance()
            heapq.heappush(self.heap, (source.next_ns, i))

    def report(self) -> dict:
        late = sorted(self.lateness)
        return {
            "flows": [source.flow["id"] for source in self.sources],
            "sent": self.sent,
            "sent_bits": self.sent_bits,
            "refused": self.refused,
            "late_p50_s": late[len(late) // 2] / 1e9 if late else 0.0,
            "late_p99_s": late[int(0.99 * (len(late) - 1))] / 1e9 if late else 0.0,
        }


def run(config: dict) -> dict:
    """Send until ``end_ns``, receive until ``end_ns + drain_ns``; the node's counts and records."""
    start_ns, end_ns, drain_ns = config["start_ns"], config["end_ns"], config["drain_ns"]
    receiver = Receiver(config["address"], config["port"], config["warmup_ns"])
    live = None
    if config.get("live"):
        flow_ids = [flow["id"] for flow in config["flows"]]
        live = LiveCounters(config["live"], receiver, flow_ids, config["live_buckets_s"])
        live.period_ns = int(config.get("live_period_s", LIVE_PERIOD_S) * 1e9)
    sender = Sender(config, start_ns, live)
    phases = sorted(config.get("phases", []), key=lambda phase: phase["at_ns"])
    while time.time_ns() < start_ns:
        time.sleep(min(0.01, max(0.0, (start_ns - time.time_ns()) / 1e9)))
    while (now := time.time_ns()) < end_ns + drain_ns:
        while phases and now >= phases[0]["at_ns"]:
            phase = phases.pop(0)
            sender.switch(phase["flows"], phase["at_ns"])
        if now < end_ns:
            sender.send_due(min(end_ns, phases[0]["at_ns"]) if phases else end_ns)
            wake = min(sender.next_due_ns(end_ns), end_ns, phases[0]["at_ns"] if phases else end_ns)
        else:
            wake = end_ns + drain_ns
        if live is not None:
            live.maybe_write(now)
            wake = min(wake, now + live.period_ns)
        if select.select([receiver.sock], [], [], max(0.0, (wake - time.time_ns()) / 1e9))[0]:
            receiver.drain()
    receiver.drain()
    if live is not None:
        live.next_ns = 0
        live.maybe_write(time.time_ns())
    return {
        "node": config["node"],
        **sender.report(),
        "received_flow": receiver.flow.tolist(),
        "received_size": receiver.size.tolist(),
        "received_delay_ns": receiver.delay.tolist(),
        "negative_delays": receiver.negative,
        "udp_receive_errors": udp_receive_errors(),
    }


def main() -> None:
    with open(sys.argv[1]) as file:
        config = json.load(file)
    result = run(config)
    temporary = config["out"] + ".tmp"
    with open(temporary, "w") as file:
        json.dump(result, file)
    os.replace(temporary, config["out"])


if __name__ == "__main__":
    main()
