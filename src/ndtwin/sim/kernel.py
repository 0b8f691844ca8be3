"""The compiled event loop of the packet simulator.

Every jitted function of the event loop lives in this one module on purpose: numba's on-disk cache only
notices edits to the file of the function being compiled, so splitting the loop across modules would let
stale machine code survive a change to a helper.

Model
-----
* Packets are generated at their flow's source, enter the output port of every hop of the path and are
  transmitted store-and-forward (``size / capacity``), then propagate for the link's delay.
* An output port has up to three queues and one packet in transmission. A queue's buffer (in packets, or in
  bits for bit-buffered ports) counts its waiting packets and its packet in transmission, which leaves the
  buffer when its last bit is sent; an arrival that would exceed it is dropped (tail drop). A packet that finds
  its port idle starts transmission at once and never waits.
* Schedulers (all non-preemptive and work-conserving):
  FIFO — one queue; SP — lowest non-empty queue index first;
  WFQ — weighted fair queueing by the service each queue has had in the port's busy period: a packet's tag is
  its queue's tag, which then advances by size / weight share, with no system virtual time; the smallest head
  tag is served, and every tag restarts when the port goes idle. A queue that is light keeps small tags and is
  served before one that has taken far more than its share (as the BNN-UPC simulator's labels show: start-time
  fair queueing, with the tag in service as virtual time, gave such queues up to 14× their labelled occupancy);
  DRR — deficit round robin; a queue's quantum (bits added per visit) is its weight share × the round size set
  in ``plan.py``; a packet larger than the deficit waits for later rounds.
* Sources: POISSON (exponential gaps), CBR (constant gap, uniform random phase), ONOFF (exponential ON and OFF
  periods, Poisson arrivals while ON, stationary initial state), ONOFF_PERIODIC (the same periods; a packet at the
  start of every ON period, then one at each tick of a free-running clock of period ``gap`` while ON — how the
  BNN-UPC simulator's ON-OFF sources behave, about one packet per ON period above the nominal rate).
  Exponential gaps are capped at ``gap_cap``.
* Sources stop at ``t_end``; the network then drains, so every packet generated in ``[t_warm, t_end)``
  (a *measured* packet) is either delivered or dropped. Statistics cover measured packets only.
* FIFO ports need no events of their own: a FIFO queue's departures follow Lindley's recursion (a packet starts
  at max(its arrival, the end of the previous transmission)), so an admitted packet goes straight onto the
  link's propagation line with its arrival time at the far end. Its start of transmission is kept (``P_TAG``) so
  that the packets still waiting at a later instant and the one in transmission — what the buffer counts — are
  known; the results are those of simulating every transmission end as an event, with one event per packet-hop
  instead of two. Where an
  arrival coincides with a transmission start or end, the transmission counts as first (the event-driven
  ports leave such ties to the event heap).
* Events are kept in an 8-ary heap (a node's children fill about one cache line; measured faster than binary
  and 4-ary heaps) with at most one pending event per entity (flow source, port
  transmitter, link propagation line); a link's packets propagate in the order they were sent.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Time laws (codes shared with plan.py).
POISSON, CBR, ONOFF, ONOFF_PERIODIC = 0, 1, 2, 3
# Schedulers.
FIFO, SP, WFQ, DRR = 0, 1, 2, 3

# Columns of the packet pool.
P_FLOW, P_HOP, P_NEXT, P_MEASURED = 0, 1, 2, 3  # int fields
P_SIZE, P_GEN, P_TIME, P_TAG = 0, 1, 2, 3  # float fields; P_TIME: arrival at the queue, or end of propagation;
# P_TAG: WFQ start tag, or at a FIFO port the start of transmission
# Columns of the queue state.
QI_HEAD, QI_TAIL, QI_PKTS = 0, 1, 2  # int fields: linked list of waiting packets, their number
# (a FIFO queue's waiting packets are the line's packets from QI_HEAD on; QI_TAIL is unused there)
QF_BITS, QF_LAST_TAG, QF_DEFICIT = 0, 1, 2  # float fields: waiting bits, WFQ finish tag of last admitted, DRR deficit
QF_SERVICE_BITS, QF_SERVICE_END = 3, 4  # the size of the queue's latest packet to start transmission, and its end
# Columns of the port state (int).
LI_BUSY, LI_WAITING, LI_RR_QUEUE, LI_RR_FRESH, LI_PROP_HEAD, LI_PROP_TAIL = 0, 1, 2, 3, 4, 5
# Columns of the per-flow statistics (measured packets).
F_GEN, F_GEN_BITS, F_DROPS, F_DELIVERED = 0, 1, 2, 3
# Columns of the per-queue statistics (measured packets).
Q_ARRIVALS, Q_DROPS, Q_TX_PKTS, Q_TX_BITS, Q_SOJOURN, Q_MAX_OCC = 0, 1, 2, 3, 4, 5
# Slots of the scalar state.
S_HEAP, S_FREE, S_RECORDS, S_TX = 0, 1, 2, 3

NO_PACKET = -1

# The event-loop functions allocate nothing, so they are compiled without reference counting: with it, every
# call would pay an atomic increment and decrement per array argument, which made the loop ~10x slower.
_hot = njit(cache=True, _nrt=False)


# ---------------------------------------------------------------------------------------------- event heap
HEAP_ARITY_BITS = 3  # children per heap node: 2 ** 3


@_hot
def _heap_push(heap_time, heap_entity, state, time, entity):
    i = state[S_HEAP]
    state[S_HEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> HEAP_ARITY_BITS
        if heap_time[parent] <= time:
            break
        heap_time[i] = heap_time[parent]
        heap_entity[i] = heap_entity[parent]
        i = parent
    heap_time[i] = time
    heap_entity[i] = entity


@_hot
def _sift_down(heap_time, heap_entity, n, time, entity):
    """Place (time, entity) at the root of the n-entry heap and restore the heap order."""
    i = 0
    while True:
        first = (i << HEAP_ARITY_BITS) + 1
        if first >= n:
            break
        child = first
        best = heap_time[first]
        last = min(first + (1 << HEAP_ARITY_BITS), n)
        for c in range(first + 1, last):
            if heap_time[c] < best:
                best = heap_time[c]
                child = c
        if best >= time:
            break
        heap_time[i] = heap_time[child]
        heap_entity[i] = heap_entity[child]
        i = child
    heap_time[i] = time
    heap_entity[i] = entity


@_hot
def _heap_settle_root(heap_time, heap_entity, state, next_time):
    """Finish the root event: its entity's next event is at ``next_time``, or it has none if that is < 0."""
    if next_time >= 0.0:
        _sift_down(heap_time, heap_entity, state[S_HEAP], next_time, heap_entity[0])
    else:
        n = state[S_HEAP] - 1
        state[S_HEAP] = n
        _sift_down(heap_time, heap_entity, n, heap_time[n], heap_entity[n])


# ---------------------------------------------------------------------------------------------- sources
@_hot
def _draw_size(flow, size_start, size_uniform, size_bits, size_cum):
    lo = size_start[flow]
    u = np.random.random()
    if size_uniform[flow]:
        return size_bits[lo] + u * (size_bits[lo + 1] - size_bits[lo])
    hi = size_start[flow + 1] - 1  # the last size takes any rounding remainder of the cumulative sum
    while lo < hi:  # first k with u < size_cum[k]
        mid = (lo + hi) >> 1
        if size_cum[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    return size_bits[lo]


@_hot
def _exp_gap(mean, cap):
    return min(np.random.exponential(mean), cap)


@_hot
def _next_arrival(flow, now, kind, gap, gap_cap, on_s, off_s, on_end):
    """Generation time of the flow's next packet after one generated at ``now``."""
    if kind[flow] == CBR:
        return now + gap[flow]
    if kind[flow] == POISSON:
        return now + _exp_gap(gap[flow], gap_cap[flow])
    if kind[flow] == ONOFF_PERIODIC:  # the next tick of the flow's free-running clock
        t = (np.floor(now / gap[flow]) + 1.0) * gap[flow]
        if t <= now:  # rounding put ``now`` just below a tick it was generated on
            t += gap[flow]
    else:
        t = now + _exp_gap(gap[flow], gap_cap[flow])
    while t > on_end[flow]:  # the ON period ended first: an OFF period, then a new ON period
        start = on_end[flow] + np.random.exponential(off_s[flow])
        on_end[flow] = start + np.random.exponential(on_s[flow])
        t = start if kind[flow] == ONOFF_PERIODIC else start + _exp_gap(gap[flow], gap_cap[flow])
    return t


@njit(cache=True)
def _first_arrival(flow, kind, gap, gap_cap, on_s, off_s, on_end):
    if kind[flow] == CBR:
        return np.random.random() * gap[flow]
    if kind[flow] == ONOFF or kind[flow] == ONOFF_PERIODIC:
        starts_on = np.random.random() * (on_s[flow] + off_s[flow]) < on_s[flow]
        on_end[flow] = np.random.exponential(on_s[flow]) if starts_on else 0.0
    return _next_arrival(flow, 0.0, kind, gap, gap_cap, on_s, off_s, on_end)


# ---------------------------------------------------------------------------------------------- packet lists
@_hot
def _append(lists, row, head, tail, packet, pool_i):
    """Append ``packet`` to the linked list kept in ``lists[row, head]`` / ``lists[row, tail]``."""
    pool_i[packet, P_NEXT] = NO_PACKET
    if lists[row, tail] == NO_PACKET:
        lists[row, head] = packet
    else:
        pool_i[lists[row, tail], P_NEXT] = packet
    lists[row, tail] = packet


@_hot
def _pop_head(lists, row, head, tail, pool_i):
    packet = lists[row, head]
    lists[row, head] = pool_i[packet, P_NEXT]
    if lists[row, head] == NO_PACKET:
        lists[row, tail] = NO_PACKET
    return packet


@_hot
def _release(p, pool_i, state):
    pool_i[p, P_NEXT] = state[S_FREE]
    state[S_FREE] = p


# ---------------------------------------------------------------------------------------------- schedulers
@_hot
def _drr_select(link, q_off, qi, qf, li, pool_f, q_quantum):
    """Deficit round robin: the queue whose head is sent next (the port has a waiting packet)."""
    q = li[link, LI_RR_QUEUE]
    while True:
        head = qi[q, QI_HEAD]
        if head != NO_PACKET:
            if li[link, LI_RR_FRESH]:
                qf[q, QF_DEFICIT] += q_quantum[q]
                li[link, LI_RR_FRESH] = 0
            if pool_f[head, P_SIZE] <= qf[q, QF_DEFICIT]:
                qf[q, QF_DEFICIT] -= pool_f[head, P_SIZE]
                return q
        else:
            qf[q, QF_DEFICIT] = 0.0
        q = q + 1 if q + 1 < q_off[link + 1] else q_off[link]
        li[link, LI_RR_QUEUE] = q
        li[link, LI_RR_FRESH] = 1


@_hot
def _select_queue(link, sched, q_off, qi, qf, li, pool_f, q_quantum):
    """The queue whose head packet the port sends next (the port has a waiting packet)."""
    if sched == DRR:
        return _drr_select(link, q_off, qi, qf, li, pool_f, q_quantum)
    best = -1
    for q in range(q_off[link], q_off[link + 1]):
        if qi[q, QI_HEAD] == NO_PACKET:
            continue
        if sched != WFQ:  # FIFO has one queue; SP serves the lowest index first
            return q
        if best < 0 or pool_f[qi[q, QI_HEAD], P_TAG] < pool_f[qi[best, QI_HEAD], P_TAG]:
            best = q
    return best


# ---------------------------------------------------------------------------------------------- ports
@_hot
def _start_next(link, now, qi, qf, li, pool_i, pool_f, l_sched, l_capacity, q_off, q_quantum):
    """If the port is idle and has a waiting packet, start transmitting the one its scheduler picks.
    Returns when that transmission ends, or -1 if none started."""
    if li[link, LI_BUSY] != NO_PACKET or li[link, LI_WAITING] == 0:
        return -1.0
    q = _select_queue(link, l_sched[link], q_off, qi, qf, li, pool_f, q_quantum)
    p = _pop_head(qi, q, QI_HEAD, QI_TAIL, pool_i)
    size = pool_f[p, P_SIZE]
    qi[q, QI_PKTS] -= 1
    qf[q, QF_BITS] = qf[q, QF_BITS] - size if qi[q, QI_PKTS] > 0 else 0.0  # exactly zero when empty
    li[link, LI_WAITING] -= 1
    if qi[q, QI_HEAD] == NO_PACKET:
        qf[q, QF_DEFICIT] = 0.0  # DRR: an emptied queue keeps no credit
    li[link, LI_BUSY] = p
    end = now + size / l_capacity[link]
    qf[q, QF_SERVICE_BITS] = size
    qf[q, QF_SERVICE_END] = end
    return end


@_hot
def _arrive(p, q, now, idle, qi, qf, pool_i, pool_f, flow_stats, queue_stats, q_buffer, bits_buffer, state):
    """Count packet ``p``'s arrival at queue ``q`` and return the queue's occupancy with it (waiting packets,
    the queue's packet in transmission, ``p``), or -1 after tail-dropping it (the port is busy and the buffer
    would overflow)."""
    measured = pool_i[p, P_MEASURED]
    if measured:
        queue_stats[q, Q_ARRIVALS] += 1
    sending = qf[q, QF_SERVICE_END] > now  # a transmission ending now has left the buffer
    if bits_buffer:
        occupancy = qf[q, QF_BITS] + pool_f[p, P_SIZE] + (qf[q, QF_SERVICE_BITS] if sending else 0.0)
    else:
        occupancy = qi[q, QI_PKTS] + 1.0 + (1.0 if sending else 0.0)
    if not idle and occupancy > q_buffer[q]:
        if measured:
            queue_stats[q, Q_DROPS] += 1
            flow_stats[pool_i[p, P_FLOW], F_DROPS] += 1
        _release(p, pool_i, state)
        return -1.0
    return occupancy


@_hot
def _enqueue(p, q, now, qi, qf, li, pool_i, pool_f, flow_stats, queue_stats, q_link, q_buffer,
             q_weight, q_off, l_sched, l_bits_buffer, state):  # fmt: skip
    """Packet ``p`` arrives at queue ``q``: tail-drop it or append it. A packet finding the port idle is admitted."""
    link = q_link[q]
    idle = li[link, LI_BUSY] == NO_PACKET
    occupancy = _arrive(p, q, now, idle, qi, qf, pool_i, pool_f, flow_stats, queue_stats, q_buffer, l_bits_buffer[link],
                        state)  # fmt: skip
    if occupancy < 0.0:
        return
    measured = pool_i[p, P_MEASURED]
    size = pool_f[p, P_SIZE]
    if l_sched[link] == WFQ:
        if idle:  # a new busy period restarts every queue's tag
            for other in range(q_off[link], q_off[link + 1]):
                qf[other, QF_LAST_TAG] = 0.0
        start = qf[q, QF_LAST_TAG]
        qf[q, QF_LAST_TAG] = start + size / q_weight[q]
        pool_f[p, P_TAG] = start
    pool_f[p, P_TIME] = now
    _append(qi, q, QI_HEAD, QI_TAIL, p, pool_i)
    qi[q, QI_PKTS] += 1
    qf[q, QF_BITS] += size
    li[link, LI_WAITING] += 1
    if measured and not idle and occupancy > queue_stats[q, Q_MAX_OCC]:
        queue_stats[q, Q_MAX_OCC] = occupancy


@_hot
def _propagate(p, link, arrival, li, pool_i, pool_f, heap_time, heap_entity, state, line_entity):
    """Put packet ``p`` at the end of ``link``'s propagation line, reaching the far end at ``arrival`` (the line's
    event, for ``line_entity`` + link, is scheduled if the line was empty)."""
    pool_f[p, P_TIME] = arrival
    if li[link, LI_PROP_HEAD] == NO_PACKET:
        _heap_push(heap_time, heap_entity, state, arrival, line_entity + link)
    _append(li, link, LI_PROP_HEAD, LI_PROP_TAIL, p, pool_i)


# ---------------------------------------------------------------------------------------------- FIFO ports
@_hot
def _fifo_settle(q, now, capacity, qi, qf, pool_i, pool_f):
    """Forget the FIFO queue's packets whose transmission has started by ``now``: they no longer wait (the
    latest of them is the queue's packet in transmission)."""
    p = qi[q, QI_HEAD]
    while p != NO_PACKET and pool_f[p, P_TAG] <= now:
        qi[q, QI_PKTS] -= 1
        qf[q, QF_BITS] -= pool_f[p, P_SIZE]
        qf[q, QF_SERVICE_BITS] = pool_f[p, P_SIZE]
        qf[q, QF_SERVICE_END] = pool_f[p, P_TAG] + pool_f[p, P_SIZE] / capacity
        p = pool_i[p, P_NEXT]
    qi[q, QI_HEAD] = p
    if p == NO_PACKET:
        qf[q, QF_BITS] = 0.0  # exactly zero when empty


@_hot
def _fifo_admit(p, q, now, qi, qf, li, free_at, pool_i, pool_f, flow_stats, queue_stats, q_link, q_buffer,
                l_capacity, l_prop, l_bits_buffer, heap_time, heap_entity, state, line_entity):  # fmt: skip
    """Packet ``p`` arrives at FIFO queue ``q``: tail-drop it, or schedule its transmission after the packets
    ahead of it and put it on the link's propagation line (an event for ``line_entity`` + link if the line was
    empty)."""
    link = q_link[q]
    _fifo_settle(q, now, l_capacity[link], qi, qf, pool_i, pool_f)
    idle = free_at[link] <= now
    occupancy = _arrive(p, q, now, idle, qi, qf, pool_i, pool_f, flow_stats, queue_stats, q_buffer, l_bits_buffer[link],
                        state)  # fmt: skip
    if occupancy < 0.0:
        return
    measured = pool_i[p, P_MEASURED]
    size = pool_f[p, P_SIZE]
    start = free_at[link] if not idle else now
    end = start + size / l_capacity[link]
    free_at[link] = end
    pool_f[p, P_TAG] = start
    if idle:
        qf[q, QF_SERVICE_BITS] = size
        qf[q, QF_SERVICE_END] = end
    else:
        qi[q, QI_PKTS] += 1
        qf[q, QF_BITS] += size
        if qi[q, QI_HEAD] == NO_PACKET:
            qi[q, QI_HEAD] = p
    _propagate(p, link, end + l_prop[link], li, pool_i, pool_f, heap_time, heap_entity, state, line_entity)
    state[S_TX] += 1
    if measured:
        queue_stats[q, Q_TX_PKTS] += 1
        queue_stats[q, Q_TX_BITS] += size
        queue_stats[q, Q_SOJOURN] += end - now
        if not idle and occupancy > queue_stats[q, Q_MAX_OCC]:
            queue_stats[q, Q_MAX_OCC] = occupancy


# ---------------------------------------------------------------------------------------------- the loop
@_hot
def _advance(
    kind, gap, gap_cap, on_s, off_s, size_start, size_uniform, size_bits, size_cum,
    hop_offset, hop_queue, q_link, q_buffer, q_weight, q_quantum, q_off,
    l_capacity, l_prop, l_sched, l_bits_buffer, t_warm, t_end,
    heap_time, heap_entity, state, on_end, pool_i, pool_f, qi, qf, li, free_at,
    flow_stats, queue_stats, rec_flow, rec_gen, rec_delay,
):  # fmt: skip
    """Process events until the network has drained or the packet pool or the record arrays are full."""
    n_flows, n_links = len(kind), len(l_capacity)
    tx_entity, prop_entity = n_flows, n_flows + n_links
    while state[S_HEAP] > 0 and state[S_FREE] != NO_PACKET and state[S_RECORDS] < len(rec_flow):
        now = heap_time[0]
        entity = heap_entity[0]
        next_time = -1.0  # the entity's next event, if any
        p = NO_PACKET  # becomes a packet that leaves its source or reaches the end of a link now
        if entity < tx_entity:  # a source generates a packet
            if now < t_end:
                p = state[S_FREE]
                state[S_FREE] = pool_i[p, P_NEXT]
                size = _draw_size(entity, size_start, size_uniform, size_bits, size_cum)
                pool_i[p, P_FLOW] = entity
                pool_i[p, P_HOP] = hop_offset[entity] - 1  # advanced to the first hop below
                pool_i[p, P_MEASURED] = now >= t_warm
                pool_f[p, P_SIZE] = size
                pool_f[p, P_GEN] = now
                if now >= t_warm:
                    flow_stats[entity, F_GEN] += 1
                    flow_stats[entity, F_GEN_BITS] += size
                next_time = _next_arrival(entity, now, kind, gap, gap_cap, on_s, off_s, on_end)
        elif entity < prop_entity:  # a transmission ends
            link = entity - tx_entity
            sent = li[link, LI_BUSY]
            li[link, LI_BUSY] = NO_PACKET
            state[S_TX] += 1
            if pool_i[sent, P_MEASURED]:
                q = hop_queue[pool_i[sent, P_HOP]]
                queue_stats[q, Q_TX_PKTS] += 1
                queue_stats[q, Q_TX_BITS] += pool_f[sent, P_SIZE]
                queue_stats[q, Q_SOJOURN] += now - pool_f[sent, P_TIME]
            next_time = _start_next(link, now, qi, qf, li, pool_i, pool_f, l_sched, l_capacity, q_off,
                                    q_quantum)  # fmt: skip
            if l_prop[link] > 0.0:
                _propagate(sent, link, now + l_prop[link], li, pool_i, pool_f, heap_time, heap_entity, state,
                           prop_entity)  # fmt: skip
            else:
                p = sent
        else:  # the first packet of a propagation line reaches the end of its link
            link = entity - prop_entity
            if l_sched[link] == FIFO:  # the line may hold the port's waiting packets too
                _fifo_settle(q_off[link], now, l_capacity[link], qi, qf, pool_i, pool_f)
            p = _pop_head(li, link, LI_PROP_HEAD, LI_PROP_TAIL, pool_i)
            if li[link, LI_PROP_HEAD] != NO_PACKET:
                next_time = pool_f[li[link, LI_PROP_HEAD], P_TIME]
        _heap_settle_root(heap_time, heap_entity, state, next_time)
        if p == NO_PACKET:
            continue

        f = pool_i[p, P_FLOW]
        hop = pool_i[p, P_HOP] + 1
        pool_i[p, P_HOP] = hop
        if hop < hop_offset[f + 1]:  # on to the next output port
            q = hop_queue[hop]
            if l_sched[q_link[q]] == FIFO:
                _fifo_admit(p, q, now, qi, qf, li, free_at, pool_i, pool_f, flow_stats, queue_stats, q_link, q_buffer,
                            l_capacity, l_prop, l_bits_buffer, heap_time, heap_entity, state, prop_entity)  # fmt: skip
                continue
            _enqueue(p, q, now, qi, qf, li, pool_i, pool_f, flow_stats, queue_stats, q_link, q_buffer,
                     q_weight, q_off, l_sched, l_bits_buffer, state)  # fmt: skip
            end = _start_next(q_link[q], now, qi, qf, li, pool_i, pool_f, l_sched, l_capacity, q_off,
                              q_quantum)  # fmt: skip
            if end >= 0.0:
                _heap_push(heap_time, heap_entity, state, end, tx_entity + q_link[q])
            continue
        if pool_i[p, P_MEASURED]:  # delivered
            flow_stats[f, F_DELIVERED] += 1
            r = state[S_RECORDS]
            rec_flow[r] = f
            rec_gen[r] = pool_f[p, P_GEN]
            rec_delay[r] = now - pool_f[p, P_GEN]
            state[S_RECORDS] = r + 1
        _release(p, pool_i, state)


@njit(cache=True)
def _grown(array):
    """``array`` with twice as many rows, the old rows copied."""
    grown = np.empty((2 * array.shape[0],) + array.shape[1:], dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


@njit(cache=True)
def _chain_free(pool_i, first, state):
    """Put pool rows ``first..`` on the free list."""
    pool_i[first:, P_NEXT] = np.arange(first + 1, pool_i.shape[0] + 1)
    pool_i[-1, P_NEXT] = NO_PACKET
    state[S_FREE] = first


@njit(cache=True)
def run(
    kind, gap, gap_cap, on_s, off_s, size_start, size_uniform, size_bits, size_cum,
    hop_offset, hop_queue, q_link, q_buffer, q_weight, q_quantum, q_off,
    l_capacity, l_prop, l_sched, l_bits_buffer,
    t_warm, t_end, seed, expected_records,
):  # fmt: skip
    """Simulate until the network drains.

    Returns ``(flow_stats, queue_stats, rec_flow, rec_gen, rec_delay, packet_hops)``: statistics of measured
    packets (columns ``F_*`` and ``Q_*``), the flow, generation time and delay of every delivered measured
    packet in delivery order, and the number of transmissions of all packets.
    """
    np.random.seed(seed)
    n_flows, n_queues, n_links = len(kind), len(q_link), len(l_capacity)
    heap_time = np.empty(n_flows + 2 * n_links)  # one pending event at most per source, transmitter, line
    heap_entity = np.empty(n_flows + 2 * n_links, dtype=np.int64)
    state = np.zeros(4, dtype=np.int64)
    pool_i, pool_f = np.empty((1024, 4), dtype=np.int64), np.zeros((1024, 4))
    _chain_free(pool_i, 0, state)
    qi = np.full((n_queues, 3), NO_PACKET, dtype=np.int64)
    qi[:, QI_PKTS] = 0
    qf = np.zeros((n_queues, 5))
    li = np.full((n_links, 6), NO_PACKET, dtype=np.int64)
    li[:, LI_WAITING] = 0
    li[:, LI_RR_QUEUE] = q_off[:-1]
    li[:, LI_RR_FRESH] = 1
    free_at = np.zeros(n_links)  # FIFO ports: end of the last scheduled transmission
    flow_stats = np.zeros((n_flows, 4))
    queue_stats = np.zeros((n_queues, 6))
    rec_flow = np.empty(max(expected_records, 16), dtype=np.int64)
    rec_gen, rec_delay = np.empty(len(rec_flow)), np.empty(len(rec_flow))

    on_end = np.zeros(n_flows)
    for f in range(n_flows):
        _heap_push(heap_time, heap_entity, state, _first_arrival(f, kind, gap, gap_cap, on_s, off_s, on_end), f)
    while True:
        _advance(
            kind, gap, gap_cap, on_s, off_s, size_start, size_uniform, size_bits, size_cum,
            hop_offset, hop_queue, q_link, q_buffer, q_weight, q_quantum, q_off,
            l_capacity, l_prop, l_sched, l_bits_buffer, t_warm, t_end,
            heap_time, heap_entity, state, on_end, pool_i, pool_f, qi, qf, li, free_at,
            flow_stats, queue_stats, rec_flow, rec_gen, rec_delay,
        )  # fmt: skip
        if state[S_HEAP] == 0:
            break
        if state[S_FREE] == NO_PACKET:
            old = pool_i.shape[0]
            pool_i, pool_f = _grown(pool_i), _grown(pool_f)
            _chain_free(pool_i, old, state)
        if state[S_RECORDS] == len(rec_flow):
            rec_flow, rec_gen, rec_delay = _grown(rec_flow), _grown(rec_gen), _grown(rec_delay)
    n = state[S_RECORDS]
    return flow_stats, queue_stats, rec_flow[:n], rec_gen[:n], rec_delay[:n], state[S_TX]
