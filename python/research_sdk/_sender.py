"""Background delivery: caller deque → batcher thread → outbox (memory | spool) → transport threads.

* The caller's thread only appends tuples to a deque (see Experiment.log_metric); points are
  checked there, at the call, by the server's rules (_checks.py).
* The batcher thread drains the deque, groups points per metric, encodes batch bodies (the only
  JSON work) and hands them to the outbox (_outbox.py). It never touches the network, so a slow or
  dead server cannot make the deque grow: the outbox spills to the on-disk spool when its memory
  bound is hit.
* The transport's workers send the head of the outbox over keep-alive connections and classify
  each answer (_deliver.py), retrying with exponential backoff + jitter. The run goes offline —
  in-memory and in-flight batches move to the spool, same batch_id — after `offline_grace` seconds
  of failures, or when a request has had no answer for `offline_grace` seconds (a hung server);
  the workers keep probing and replay the spool in order when the server answers again. A 401/403
  stops sending for good: everything unsent is spooled for `python -m research_sdk sync`.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Deque, Dict, Optional

from . import _encode as enc
from ._deliver import AUTH, DROP, RETRY, WireState, deliver
from ._errors import APIError, ServerUnreachableError
from ._http import HttpClient
from ._outbox import Batch, Outbox

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
                else:  # a flush marker (see Outbox.add_marker)
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
        bid = enc.new_batch_id()
        if self.wire.series is False:
            body = enc.encode_points_batch(bid, groups, self.host)
        else:
            body = enc.encode_series_batch(bid, groups, self.host)
        ranges = {name: (min(g[0]), max(g[0])) for name, g in groups.items()}
        self.outbox.put(body, n, ranges)


# -- transport --------------------------------------------------------------------------------------
def _auth_status(e: Exception) -> bool:
    return isinstance(e, APIError) and e.status in (401, 403)


class Transport(threading.Thread):
    """Starts `outbox.window` sender workers and watches them: a request without an answer for
    `offline_grace` seconds takes the run offline (its batch is spooled; a late answer is harmless,
    the replay of the same batch_id is acknowledged as a duplicate)."""

    def __init__(self, outbox: Outbox, wire: WireState, client_factory: Callable[[], HttpClient],
                 path_for: Callable[[HttpClient], Optional[str]], offline_grace: float = 5.0,
                 backoff_base: float = 0.2, backoff_cap: float = 10.0,
                 spool_dir_for_log: Callable[[], str] = lambda: "",
                 on_auth: Callable[[str], None] = lambda reason: None, name: str = "assay-sender") -> None:
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
        self._on_auth = on_auth
        self._hung_logged = False

    def stop(self) -> None:
        self.stop_event.set()
        self._poke.set()
        self.outbox.close()

    def poke(self) -> None:
        """Cut a backoff sleep short (finish() wants one more attempt now)."""
        self._poke.set()

    def run(self) -> None:
        workers = [threading.Thread(target=self._worker, name=f"{self.name}-{i + 1}", daemon=True)
                   for i in range(self.outbox.window)]
        for w in workers:
            w.start()
        tick = max(0.02, min(0.25, self.offline_grace / 10))
        while not self.stop_event.wait(tick):
            self._watch()

    def _watch(self) -> None:
        if not self.outbox.stalled(self.offline_grace):
            self._hung_logged = False
            return
        n = self.outbox.go_offline()
        # only a spooled batch stalled (a slow replay probe): it is on disk already, no news —
        # warn when batches move, not once per probe
        if not self._hung_logged and n:
            self._hung_logged = True
            log.warning("research_sdk: no answer from the server for %.1fs; spooling metrics to %s "
                        "(%d batch(es) moved) and replaying them when it answers", self.offline_grace,
                        self._spool_dir(), n)

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

    def _stop_auth(self, reason: str) -> None:
        self.outbox.stop_auth(reason)
        self._on_auth(reason)

    def _loop(self, client: HttpClient, backoff: Backoff) -> None:
        while not self.stop_event.is_set():
            batch = self.outbox.next_for_send(self.stop_event)
            if batch is None:
                return
            self._send(client, backoff, batch)

    def _send(self, client: HttpClient, backoff: Backoff, batch: Batch) -> None:
        """Retry this batch until it is answered, or went to the spool (offline: the spool copy is
        replayed in order later, one at a time)."""
        while not self.stop_event.is_set() and self.outbox.is_inflight(batch):
            try:
                path = self.path_for(client)
            except (ServerUnreachableError, APIError) as e:
                if _auth_status(e):
                    self._stop_auth(str(e))
                    return
                self._failed(str(e), getattr(e, "retry_after", None), backoff)
                continue
            if path is None:  # not registered and registration failed for a non-network reason
                self._failed("experiment not registered", None, backoff)
                continue
            batch.sent_at = _monotonic()
            out = deliver(client, path, batch.body, self.wire)
            batch.sent_at = 0.0
            if out.kind == RETRY:
                self._failed(out.reason, out.retry_after, backoff)
                continue
            if out.kind == AUTH:
                self._stop_auth(out.reason)
                return
            if self.fail_since is not None:
                log.warning("research_sdk: server reachable again after %.1fs; delivering",
                            _monotonic() - self.fail_since)
                self.fail_since = None
            backoff.reset()
            self.outbox.go_online()
            self.outbox.stats.bytes_sent += len(batch.body)
            if out.kind == DROP and not out.dropped:
                log_once(logging.ERROR, ("drop", out.reason[:200]),
                         "research_sdk: the server refused a metrics batch (not retried): %s", out.reason)
            for metric in self.outbox.done(batch, out):
                d = self.outbox.stats.dropped_points[metric]
                log.warning("research_sdk: the server refused point(s) of metric %r (%s); they are "
                            "dropped and counted in exp.dropped_points (warned once per metric)",
                            metric, d["reason"])
            return
