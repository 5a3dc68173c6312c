"""The outbox: one FIFO of encoded batches made of the in-flight batches, an in-memory deque and the
on-disk spool, with the invariant "everything in memory is older than everything on disk", so
delivery stays in logging order. A batch leaves it only when the server answered it (acknowledged,
or refused and counted) or it is fsynced in the spool (docs/sdk-delivery.md rule 1)."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import _encode as enc
from ._deliver import DROP, OK, REPLACE, Outcome

_monotonic = time.monotonic


class Batch:
    __slots__ = ("seq", "body", "points", "spool_pos", "ranges", "sent_at")

    def __init__(self, seq: int, body: bytes, points: int, spool_pos: Optional[Tuple[int, int]] = None,
                 ranges: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
        self.seq = seq
        self.body = body
        self.points = points
        self.spool_pos = spool_pos
        self.ranges = ranges  # metric → (min step, max step); None = unknown (conflicts with all)
        self.sent_at = 0.0  # monotonic time the current request was sent; 0 = none awaiting an answer

    def conflicts(self, other: "Batch") -> bool:
        """Could the two batches write the same (metric, step)? Then they must not be in flight
        together: the server keeps the later write, so the order of their writes matters."""
        if self.ranges is None or other.ranges is None:
            return True
        a, b = (self.ranges, other.ranges) if len(self.ranges) <= len(other.ranges) else (other.ranges, self.ranges)
        for name, (lo, hi) in a.items():
            r = b.get(name)
            if r is not None and lo <= r[1] and r[0] <= hi:
                return True
        return False


class Stats:
    def __init__(self) -> None:
        self.points_acked = 0          # points in batches the server acknowledged
        self.points_spooled = 0        # points written to the spool by this process
        self.points_dropped = 0        # points the server refused (422 / other 4xx), see dropped_points
        self.batches_acked = 0
        self.batches_duplicate = 0
        self.retries = 0
        self.bytes_sent = 0
        self.dropped_points: Dict[str, Dict[str, Any]] = {}  # metric → {"count", "reason"}

    def record_dropped(self, dropped: List[Tuple[Any, str]]) -> List[str]:
        """Count refused points per metric; returns the metrics refused for the first time."""
        fresh = []
        for metric, reason in dropped:
            key = metric if isinstance(metric, str) else repr(metric)
            d = self.dropped_points.get(key)
            if d is None:
                self.dropped_points[key] = {"count": 1, "reason": reason}
                fresh.append(key)
            else:
                d["count"] += 1
        self.points_dropped += len(dropped)
        return fresh

    def as_dict(self) -> Dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "dropped_points"}


class Marker:
    """A flush_metrics() waiter: set once every batch put before it is answered (ok=True) or, while
    the run is offline, some of them are only on disk (ok=False)."""
    __slots__ = ("event", "ok")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False

    def set(self, ok: bool) -> None:
        self.ok = ok
        self.event.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self.event.wait(timeout) and self.ok


class Outbox:
    def __init__(self, spool_factory: Callable[[], Any], max_memory_bytes: int = 64 << 20,
                 force_offline: bool = False, window: int = 1) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.mem: Deque[Batch] = deque()
        self.mem_bytes = 0
        self.inflight: List[Batch] = []  # sent, not yet answered (oldest first)
        self.window = max(1, window)
        self.max_memory_bytes = max_memory_bytes
        self.force_offline = force_offline
        self.offline = force_offline
        self.auth_error: Optional[str] = None  # 401/403: sending stopped for good (rule 3)
        self._spool_factory = spool_factory
        self._spool = None
        # One [seq, points] per batch in the spool, in spool order.
        self._on_disk: Deque[List[int]] = deque()
        self._seq = 0
        self._markers: List[Tuple[int, Marker]] = []
        self.closed = False
        self.stats = Stats()
        self.last_progress = _monotonic()

    # spool ----------------------------------------------------------------------------------
    def _get_spool(self):
        if self._spool is None:
            self._spool = self._spool_factory()
        return self._spool

    @property
    def spool(self):
        return self._spool

    def _spool_nonempty(self) -> bool:
        return self._spool is not None and not self._spool.empty

    def _to_disk(self, batches: List[Batch], front: bool) -> None:
        spool = self._get_spool()
        (spool.prepend if front else spool.append)([b.body for b in batches])
        entries = [[b.seq, b.points] for b in batches]
        if front:
            self._on_disk.extendleft(reversed(entries))
        else:
            self._on_disk.extend(entries)
        self.stats.points_spooled += sum(max(b.points, 0) for b in batches)

    def points_on_disk(self) -> int:
        """Points in the spool not yet acknowledged (written by this process)."""
        with self.lock:
            return sum(p for _, p in self._on_disk)

    # producer side -----------------------------------------------------------------------------
    def put(self, body: bytes, points: int, ranges: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
        with self.lock:
            self._seq += 1
            b = Batch(self._seq, body, points, None, ranges)
            if (self.offline or self._spool_nonempty()
                    or self.mem_bytes + len(body) > self.max_memory_bytes):
                self._to_disk([b], front=False)
            else:
                self.mem.append(b)
                self.mem_bytes += len(body)
            self._resolve()
            self.cond.notify_all()

    def add_marker(self, marker: Marker) -> None:
        """`marker` is set once every batch put so far is answered, or on disk while offline."""
        with self.lock:
            self._markers.append((self._seq, marker))
            self._resolve()

    def _resolve(self) -> None:
        if not self._markers:
            return
        oldest_mem = None
        for b in self.inflight:
            if b.spool_pos is None and (oldest_mem is None or b.seq < oldest_mem):
                oldest_mem = b.seq
        if self.mem:
            s = self.mem[0].seq
            oldest_mem = s if oldest_mem is None else min(oldest_mem, s)
        oldest_disk = self._on_disk[0][0] if self._on_disk else None
        stuck = self.offline or self.auth_error is not None or self.closed
        keep = []
        for seq, m in self._markers:
            if oldest_mem is not None and oldest_mem <= seq:
                keep.append((seq, m))
            elif oldest_disk is None or oldest_disk > seq:
                m.set(True)
            elif stuck:
                m.set(False)
            else:  # online and replaying the spool: wait for it
                keep.append((seq, m))
        self._markers = keep

    # consumer side ------------------------------------------------------------------------------
    def next_for_send(self, stop: threading.Event) -> Optional[Batch]:
        """The next batch to send, in order. Up to `window` memory batches may be in flight at
        once when they cannot touch the same (metric, step); spooled batches go one at a time."""
        with self.lock:
            while True:
                if self.auth_error is None:
                    if self.mem and len(self.inflight) < self.window:
                        cand = self.mem[0]
                        if not any(cand.conflicts(b) for b in self.inflight):
                            self.mem.popleft()
                            self.inflight.append(cand)
                            return cand
                    elif (not self.mem and not self.inflight and self._spool_nonempty()
                          and not self.force_offline):
                        item = self._spool.peek()
                        if item is not None:
                            body, pos = item
                            seq = self._on_disk[0][0] if self._on_disk else 0
                            b = Batch(seq, body, -1, pos)
                            self.inflight.append(b)
                            return b
                if self.closed or stop.is_set():
                    return None
                self.cond.wait(0.25)

    def is_inflight(self, batch: Batch) -> bool:
        with self.lock:
            return any(b is batch for b in self.inflight)

    def stalled(self, grace: float) -> bool:
        """A request has had no answer for `grace` seconds (a hung server)."""
        with self.lock:
            now = _monotonic()
            return any(b.sent_at and now - b.sent_at >= grace for b in self.inflight)

    def done(self, batch: Batch, outcome: Outcome) -> List[str]:
        """The in-flight batch was answered: acknowledged (OK), refused (DROP) or split / cut
        (REPLACE). Returns the metrics whose points were refused for the first time."""
        with self.lock:
            if not any(b is batch for b in self.inflight):
                return []  # moved to the spool meanwhile (went offline); the spool copy is replayed
            fresh = self.stats.record_dropped(outcome.dropped) if outcome.dropped else []
            if batch.spool_pos is None:
                self.mem_bytes -= len(batch.body)
            if outcome.kind == REPLACE and outcome.bodies:
                counts = [enc.body_point_count(body) for body in outcome.bodies]
                if batch.spool_pos is None:
                    for body, n in zip(reversed(outcome.bodies), reversed(counts)):
                        self.mem.appendleft(Batch(batch.seq, body, n, None, batch.ranges))
                        self.mem_bytes += len(body)
                else:  # the rest first (fsynced), then the original is acknowledged
                    self._spool.prepend(outcome.bodies)
                    if self._on_disk:
                        self._on_disk.popleft()
                    self._on_disk.extendleft([[batch.seq, n] for n in reversed(counts)])
                    self._on_disk.appendleft([batch.seq, 0])  # the original, popped below
            elif outcome.kind == OK:
                self.stats.batches_acked += 1
                self.stats.batches_duplicate += outcome.duplicate
                self.stats.points_acked += outcome.count if outcome.count else max(batch.points, 0)
            if batch.spool_pos is not None:
                self._spool.ack(batch.spool_pos)
                if self._on_disk:
                    self._on_disk.popleft()
            self.inflight = [b for b in self.inflight if b is not batch]
            self.last_progress = _monotonic()
            self._resolve()
            self.cond.notify_all()
            return fresh

    def _move_to_disk(self) -> int:
        batches = sorted((b for b in self.inflight if b.spool_pos is None), key=lambda b: b.seq)
        self.inflight = [b for b in self.inflight if b.spool_pos is not None]
        batches.extend(self.mem)
        if batches:
            self._to_disk(batches, front=True)
        self.mem.clear()
        self.mem_bytes = 0
        return len(batches)

    def go_offline(self) -> int:
        """Move the in-flight and in-memory batches to the head of the spool. Returns how many."""
        with self.lock:
            self.offline = True
            n = self._move_to_disk()
            self._resolve()
            self.cond.notify_all()
            return n

    def stop_auth(self, reason: str) -> int:
        """401/403: stop sending for good; everything unsent goes to the spool. Returns how many
        batches were moved."""
        with self.lock:
            if self.auth_error is None:
                self.auth_error = reason
            self.offline = True
            n = self._move_to_disk()
            # An in-flight spooled batch stays where it is (it is acknowledged only by an answer).
            self.inflight = []
            self._resolve()
            self.cond.notify_all()
            return n

    def go_online(self) -> None:
        with self.lock:
            if not self.force_offline and self.offline and self.auth_error is None:
                self.offline = False
                self.cond.notify_all()

    def drained(self) -> bool:
        return not self.inflight and not self.mem and not self._spool_nonempty()

    def wait_drained(self, timeout: Optional[float] = None, patience: Optional[float] = 5.0,
                     since: Optional[float] = None) -> bool:
        """Wait until everything is delivered, at most `timeout` seconds. While the server is
        unreachable or hung (offline) give up once nothing was acknowledged for `patience` seconds
        (counted from `since` at the earliest, default now; None: never early): the rest is safe
        on disk."""
        start = _monotonic() if since is None else since
        deadline = None if timeout is None else _monotonic() + timeout
        with self.lock:
            while not self.drained():
                if self.auth_error is not None or self.force_offline:
                    return False
                now = _monotonic()
                if patience is not None and self.offline and now - max(self.last_progress, start) >= patience:
                    return False
                left = None if deadline is None else deadline - now
                if left is not None and left <= 0:
                    return False
                self.cond.wait(0.1 if left is None else min(0.1, left))
            return True

    def spill_all(self) -> int:
        """At shutdown: put whatever is still only in memory on disk."""
        return self.go_offline()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._resolve()
            self.cond.notify_all()
