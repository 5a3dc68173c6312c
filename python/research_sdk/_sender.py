"""Background delivery: caller deque → batcher thread → outbox (memory | spool) → transport thread.

* The caller's thread only appends tuples to a deque (see Experiment.log_metric).
* The batcher thread drains the deque, groups points per metric, encodes batch bodies (the only
  JSON work) and hands them to the outbox. It never touches the network, so a slow or dead server
  cannot make the deque grow: the outbox spills to the on-disk spool when its memory bound is hit.
* The outbox is one FIFO made of the in-flight batch, an in-memory deque and the spool, with the
  invariant "everything in memory is older than everything on disk". Delivery is in logging order.
* The transport thread sends the head of the outbox over one keep-alive connection, retrying with
  exponential backoff + jitter. After `offline_grace` seconds of failures it moves the in-memory
  batches to the spool (ahead of what is already there) and keeps probing; when the server answers
  again it replays the spool in order. Every body carries a batch_id, so a retry of a batch the
  server had already written is acknowledged as a duplicate, not written twice.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import _encode as enc
from ._errors import APIError, ServerUnreachableError, format_detail
from ._http import TRANSPORT_ERRORS, HttpClient, is_retryable_status

log = logging.getLogger("research_sdk")

_monotonic = time.monotonic


class LogOnce:
    """Log a message once per key (a background error must not flood the training output)."""

    def __init__(self) -> None:
        self._seen: set = set()
        self._lock = threading.Lock()

    def __call__(self, level: int, key: Any, msg: str, *args: Any) -> None:
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        log.log(level, msg, *args)


log_once = LogOnce()


class Backoff:
    """Exponential backoff with "equal jitter": delay in [d/2, d], d = min(cap, base * 2**n)."""

    def __init__(self, base: float = 0.2, cap: float = 10.0, rng: Optional[random.Random] = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self, retry_after: Optional[float] = None) -> float:
        d = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        delay = d / 2 + self._rng.uniform(0, d / 2)
        if retry_after is not None:
            # The server said when: honour it (bounded), with a little jitter against herds.
            delay = min(max(retry_after, 0.0), 300.0) + self._rng.uniform(0, min(1.0, self.base))
        return delay

    def reset(self) -> None:
        self.attempt = 0


# -- delivery of one body ---------------------------------------------------------------------------
class WireState:
    """Whether the server accepts the columnar `series` form (None = not known yet)."""

    def __init__(self) -> None:
        self.series: Optional[bool] = None


OK, RETRY, DROP, REPLACE = "ok", "retry", "drop", "replace"


class Outcome:
    __slots__ = ("kind", "retry_after", "reason", "bodies", "count", "duplicate")

    def __init__(self, kind: str, retry_after: Optional[float] = None, reason: str = "",
                 bodies: Optional[List[bytes]] = None, count: int = 0, duplicate: bool = False) -> None:
        self.kind = kind
        self.retry_after = retry_after
        self.reason = reason
        self.bodies = bodies
        self.count = count
        self.duplicate = duplicate


def _is_series(body: bytes) -> bool:
    return b'"series":[' in body[:120]


def _post(client: HttpClient, path: str, body: bytes):
    return client.request("POST", path, body, {"Content-Type": "application/json"}, compress=True)


def deliver(client: HttpClient, path: str, body: bytes, wire: WireState) -> Outcome:
    """POST one batch body and classify the answer."""
    if wire.series is False and _is_series(body):
        body = enc.series_body_to_points_body(body)
    try:
        resp = _post(client, path, body)
    except TRANSPORT_ERRORS as e:
        return Outcome(RETRY, reason=f"{type(e).__name__}: {e}")
    if resp.status in (200, 201) and _is_series(body):
        wire.series = True
    if resp.status == 422 and _is_series(body) and wire.series is None:
        # Maybe this server only knows the row form: try it once.
        rows = enc.series_body_to_points_body(body)
        try:
            resp2 = _post(client, path, rows)
        except TRANSPORT_ERRORS as e:
            return Outcome(RETRY, reason=f"{type(e).__name__}: {e}")
        if resp2.status in (200, 201):
            wire.series = False
            log.info("research_sdk: server does not accept the columnar batch form; using rows")
        resp, body = resp2, rows
    if resp.status in (200, 201):
        count, dup = 0, False
        try:
            doc = resp.json() or {}
            count = int(doc.get("count", 0))
            dup = bool(doc.get("duplicate", False))
        except (ValueError, AttributeError, TypeError):
            pass
        return Outcome(OK, count=count, duplicate=dup)
    if is_retryable_status(resp.status):
        return Outcome(RETRY, retry_after=resp.retry_after, reason=f"HTTP {resp.status}")
    detail = resp.detail()
    if resp.status == 413:
        parts = enc.split_body(body)
        if len(parts) > 1:
            return Outcome(REPLACE, bodies=parts, reason="HTTP 413: batch split in two")
    if resp.status == 422 and isinstance(detail, list):
        bad = set()
        for d in detail:
            loc = d.get("loc", []) if isinstance(d, dict) else []
            if len(loc) >= 3 and loc[1] == "metrics" and isinstance(loc[2], int):
                bad.add(loc[2])
        if bad and not _is_series(body):
            new, left = enc.drop_points(body, bad)
            log_once(logging.ERROR, ("422-points", format_detail(detail)[:200]),
                     "research_sdk: the server rejected %d metric point(s), they are skipped: %s",
                     len(bad), format_detail(detail))
            if left:
                return Outcome(REPLACE, bodies=[new], reason="invalid points removed")
            return Outcome(DROP, reason="every point invalid")
    return Outcome(DROP, reason=f"HTTP {resp.status}: {format_detail(detail)}")


# -- outbox -----------------------------------------------------------------------------------------
class Batch:
    __slots__ = ("seq", "body", "points", "spool_pos", "ranges")

    def __init__(self, seq: int, body: bytes, points: int, spool_pos: Optional[Tuple[int, int]] = None,
                 ranges: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
        self.seq = seq
        self.body = body
        self.points = points
        self.spool_pos = spool_pos
        self.ranges = ranges  # metric → (min step, max step); None = unknown (conflicts with all)

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
        self.points_dropped = 0        # points in batches the server refused (non-retryable 4xx)
        self.batches_acked = 0
        self.batches_duplicate = 0
        self.retries = 0
        self.bytes_sent = 0

    def as_dict(self) -> Dict[str, int]:
        return dict(self.__dict__)


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
        self._spool_factory = spool_factory
        self._spool = None
        self._seq = 0
        self._markers: List[Tuple[int, threading.Event]] = []
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

    # producer side -----------------------------------------------------------------------------
    def put(self, body: bytes, points: int, ranges: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
        with self.lock:
            self._seq += 1
            if (self.offline or self._spool_nonempty()
                    or self.mem_bytes + len(body) > self.max_memory_bytes):
                self._get_spool().append([body])
                self.stats.points_spooled += points
            else:
                self.mem.append(Batch(self._seq, body, points, None, ranges))
                self.mem_bytes += len(body)
            self._resolve()
            self.cond.notify_all()

    def add_marker(self, event: threading.Event) -> None:
        """`event` is set once every batch put so far is acknowledged, dropped or on disk."""
        with self.lock:
            self._markers.append((self._seq, event))
            self._resolve()

    def _resolve(self) -> None:
        if not self._markers:
            return
        oldest = None
        for b in self.inflight:
            if b.spool_pos is None and (oldest is None or b.seq < oldest):
                oldest = b.seq
        if self.mem:
            s = self.mem[0].seq
            oldest = s if oldest is None else min(oldest, s)
        keep = []
        for seq, ev in self._markers:
            if oldest is None or seq < oldest:
                ev.set()
            else:
                keep.append((seq, ev))
        self._markers = keep

    # consumer side ------------------------------------------------------------------------------
    def next_for_send(self, stop: threading.Event) -> Optional[Batch]:
        """The next batch to send, in order. Up to `window` memory batches may be in flight at
        once when they cannot touch the same (metric, step); spooled batches go one at a time."""
        with self.lock:
            while True:
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
                        b = Batch(0, body, -1, pos)
                        self.inflight.append(b)
                        return b
                if self.closed or stop.is_set():
                    return None
                self.cond.wait(0.25)

    def is_inflight(self, batch: Batch) -> bool:
        with self.lock:
            return any(b is batch for b in self.inflight)

    def done(self, batch: Batch, outcome: Outcome) -> None:
        """The in-flight batch was acknowledged (OK), refused (DROP) or split (REPLACE)."""
        with self.lock:
            if not any(b is batch for b in self.inflight):
                return  # moved to the spool meanwhile (went offline); the spool copy is replayed
            points = batch.points if batch.points >= 0 else None
            if outcome.kind == REPLACE and outcome.bodies:
                if batch.spool_pos is None:
                    for body in reversed(outcome.bodies):
                        self.mem.appendleft(Batch(batch.seq, body, -1, None, batch.ranges))
                        self.mem_bytes += len(body)
                else:
                    self._spool.prepend(outcome.bodies)
            elif outcome.kind == OK:
                self.stats.batches_acked += 1
                self.stats.batches_duplicate += outcome.duplicate
                self.stats.points_acked += outcome.count if outcome.count else (points or 0)
            elif outcome.kind == DROP:
                self.stats.points_dropped += points or 0
            if batch.spool_pos is None:
                self.mem_bytes -= len(batch.body)
            else:
                self._spool.ack(batch.spool_pos)
            self.inflight = [b for b in self.inflight if b is not batch]
            self.last_progress = _monotonic()
            self._resolve()
            self.cond.notify_all()

    def go_offline(self) -> int:
        """Move the in-flight and in-memory batches to the head of the spool. Returns how many."""
        with self.lock:
            self.offline = True
            batches = sorted((b for b in self.inflight if b.spool_pos is None), key=lambda b: b.seq)
            self.inflight = [b for b in self.inflight if b.spool_pos is not None]
            batches.extend(self.mem)
            if batches:
                self._get_spool().prepend([b.body for b in batches])
                self.stats.points_spooled += sum(max(b.points, 0) for b in batches)
            self.mem.clear()
            self.mem_bytes = 0
            self._resolve()
            self.cond.notify_all()
            return len(batches)

    def go_online(self) -> None:
        with self.lock:
            if not self.force_offline and self.offline:
                self.offline = False
                self.cond.notify_all()

    def drained(self) -> bool:
        return not self.inflight and not self.mem and not self._spool_nonempty()

    def wait_drained(self, timeout: Optional[float] = None, patience: float = 5.0) -> bool:
        """Wait until everything is delivered. While the server is unreachable (offline) give up
        once nothing was acknowledged for `patience` seconds: the rest is safe on disk."""
        start = _monotonic()
        deadline = None if timeout is None else start + timeout
        with self.lock:
            while not self.drained():
                now = _monotonic()
                if self.offline and now - max(self.last_progress, start) >= patience:
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
            self.cond.notify_all()


# -- batcher ----------------------------------------------------------------------------------------
class Batcher(threading.Thread):
    """Drains the caller's deque into encoded batch bodies (size- and time-bounded)."""

    def __init__(self, queue: Deque[Any], outbox: Outbox, wire: WireState, max_points: int = 10_000,
                 flush_interval: float = 1.0, host: Optional[str] = None, name: str = "assay-batcher") -> None:
        super().__init__(name=name, daemon=True)
        self.q = queue
        self.outbox = outbox
        self.wire = wire
        self.max_points = max_points
        self.flush_interval = flush_interval
        self.host = host
        self.wake = threading.Event()
        self.stopping = False
        self.poll = max(0.005, min(0.05, flush_interval / 4))
        self._groups: Dict[str, enc.Series] = {}
        self._n = 0
        self._first = 0.0

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # never die silently: the caller's data would pile up
            log.exception("research_sdk: batcher thread crashed")
            raise

    def _loop(self) -> None:
        q = self.q
        popleft = q.popleft
        max_points = self.max_points
        while True:
            if not q:
                if self._n and (self.stopping or _monotonic() - self._first >= self.flush_interval):
                    self._emit()
                if self.stopping and not q:
                    return
                self.wake.wait(self.poll)
                self.wake.clear()
                continue
            groups = self._groups
            n = self._n
            if n == 0:
                self._first = _monotonic()
            while q and n < max_points:
                item = popleft()
                if type(item) is tuple:
                    g = groups.get(item[0])
                    if g is None:
                        g = groups[item[0]] = ([], [], [])
                    g[0].append(item[2])
                    g[1].append(item[1])
                    g[2].append(item[3])
                    n += 1
                else:  # a flush marker (threading.Event)
                    self._n = n
                    self._emit()
                    self.outbox.add_marker(item)
                    groups = self._groups
                    n = 0
                    self._first = _monotonic()
            self._n = n
            if n >= max_points:
                self._emit()

    def _emit(self) -> None:
        groups, n = self._groups, self._n
        self._groups, self._n = {}, 0
        if not n:
            return
        n = self._validate(groups, n)
        if not n:
            return
        bid = enc.new_batch_id()
        if self.wire.series is False:
            body = enc.encode_points_batch(bid, groups, self.host)
        else:
            body = enc.encode_series_batch(bid, groups, self.host)
        ranges = {name: (min(g[0]), max(g[0])) for name, g in groups.items()}
        self.outbox.put(body, n, ranges)

    @staticmethod
    def _validate(groups: Dict[str, enc.Series], n: int) -> int:
        for name in list(groups):
            err = enc.check_name(name)
            if err:
                cnt = len(groups.pop(name)[0])
                n -= cnt
                log_once(logging.ERROR, ("name", str(name)[:300]), "research_sdk: %s; %d point(s) skipped", err, cnt)
                continue
            steps = groups[name][0]
            if min(steps) < 0 or max(steps) > enc.MAX_STEP:
                keep = [i for i, s in enumerate(steps) if 0 <= s <= enc.MAX_STEP]
                s, v, t = groups[name]
                groups[name] = ([s[i] for i in keep], [v[i] for i in keep], [t[i] for i in keep])
                n -= len(s) - len(keep)
                log_once(logging.ERROR, ("step", name), "research_sdk: metric %r: steps must be 0..2^53-1; "
                         "%d point(s) skipped", name, len(s) - len(keep))
                if not keep:
                    del groups[name]
        return n


# -- transport --------------------------------------------------------------------------------------
class Transport(threading.Thread):
    def __init__(self, outbox: Outbox, wire: WireState, client_factory: Callable[[], HttpClient],
                 path_for: Callable[[HttpClient], Optional[str]], offline_grace: float = 5.0,
                 backoff_base: float = 0.2, backoff_cap: float = 10.0,
                 spool_dir_for_log: Callable[[], str] = lambda: "", name: str = "assay-sender") -> None:
        super().__init__(name=name, daemon=True)
        self.outbox = outbox
        self.wire = wire
        self.client_factory = client_factory
        self.path_for = path_for
        self.offline_grace = offline_grace
        self.backoff = Backoff(backoff_base, backoff_cap)
        self.stop_event = threading.Event()
        self._poke = threading.Event()
        self.fail_since: Optional[float] = None
        self._spool_dir = spool_dir_for_log

    def stop(self) -> None:
        self.stop_event.set()
        self._poke.set()
        self.outbox.close()

    def poke(self) -> None:
        """Cut a backoff sleep short (finish() wants one more attempt now)."""
        self._poke.set()

    def run(self) -> None:
        workers = [threading.Thread(target=self._worker, name=f"{self.name}-{i + 1}", daemon=True)
                   for i in range(1, self.outbox.window)]
        for w in workers:
            w.start()
        self._worker()
        for w in workers:
            w.join(1.0)

    def _worker(self) -> None:
        client = self.client_factory()
        backoff = Backoff(self.backoff.base, self.backoff.cap)
        try:
            self._loop(client, backoff)
        except Exception:
            log.exception("research_sdk: sender thread crashed; unsent metrics stay in the spool")
            try:
                self.outbox.go_offline()
            except Exception:
                log.exception("research_sdk: could not spool the pending metrics")
        finally:
            client.close()

    def _failed(self, reason: str, retry_after: Optional[float], backoff: Backoff) -> None:
        now = _monotonic()
        self.outbox.stats.retries += 1
        if self.fail_since is None:
            self.fail_since = now
            log.info("research_sdk: cannot deliver metrics (%s); retrying", reason)
        if not self.outbox.offline and now - self.fail_since >= self.offline_grace:
            n = self.outbox.go_offline()
            log.warning("research_sdk: server unreachable for %.0fs (%s); spooling metrics to %s "
                        "(%d batch(es) moved) and replaying them when it is back",
                        now - self.fail_since, reason, self._spool_dir(), n)
        delay = backoff.next(retry_after)
        if retry_after is not None:
            self.stop_event.wait(delay)
        else:
            self._poke.wait(delay)
            self._poke.clear()

    def _loop(self, client: HttpClient, backoff: Backoff) -> None:
        while not self.stop_event.is_set():
            batch = self.outbox.next_for_send(self.stop_event)
            if batch is None:
                return
            # Retry this batch until it is answered, or went to the spool (offline: the spool
            # copy is replayed in order later, one at a time).
            while not self.stop_event.is_set() and self.outbox.is_inflight(batch):
                try:
                    path = self.path_for(client)
                except (ServerUnreachableError, APIError) as e:
                    self._failed(str(e), getattr(e, "retry_after", None), backoff)
                    continue
                if path is None:  # not registered and registration failed for a non-network reason
                    self._failed("experiment not registered", None, backoff)
                    continue
                out = deliver(client, path, batch.body, self.wire)
                if out.kind == RETRY:
                    self._failed(out.reason, out.retry_after, backoff)
                    continue
                if self.fail_since is not None:
                    log.warning("research_sdk: server reachable again after %.1fs; delivering",
                                _monotonic() - self.fail_since)
                    self.fail_since = None
                backoff.reset()
                self.outbox.go_online()
                if out.kind == DROP:
                    log_once(logging.ERROR, ("drop", out.reason[:200]),
                             "research_sdk: the server refused a metrics batch (not retried): %s", out.reason)
                self.outbox.stats.bytes_sent += len(batch.body)
                self.outbox.done(batch, out)
                break
