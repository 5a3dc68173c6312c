"""`Experiment`: the seed's API. Logging calls check the point, append it to an in-memory deque and
return at once; background threads batch, send, retry and spool (see _sender.py). Delivery follows
docs/sdk-delivery.md: a valid point is never lost, and flush_metrics() / finish() return True only
when every point logged so far is acknowledged by the server."""
from __future__ import annotations

import atexit
import logging
import os
import socket
import sys
import threading
import time
import warnings
from collections import deque
from typing import Any, Deque, Dict, Mapping, Optional, Sequence

from ._checks import check_metric_name, check_name, check_tags
from ._control import ControlMixin
from ._encode import coerce_step, coerce_timestamp, coerce_value, sanitize_json
from ._errors import APIError, ServerUnreachableError
from ._http import HttpClient, is_retryable_status, quote
from ._limits import DESCRIPTION_MAX, NAME_MAX, STEP_MAX
from ._monitor import Monitor
from ._outbox import Marker, Outbox
from ._reading import ReadMixin
from ._run import Run
from ._sender import Backoff, Batcher, Transport, log_once
from ._deliver import WireState
from ._sync import SYNC_COMMAND

log = logging.getLogger("research_sdk")

_time = time.time
_monotonic = time.monotonic

_active: "set[Experiment]" = set()
_hooks_lock = threading.Lock()
_hooks_installed = False


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def _install_hooks() -> None:
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_finish_all, "complete")
        previous = sys.excepthook

        def excepthook(etype, value, tb):  # an exception escaped: the run failed
            try:
                _finish_all("failed")
            finally:
                previous(etype, value, tb)

        sys.excepthook = excepthook


def _finish_all(status: str) -> None:
    for exp in list(_active):
        try:
            exp.finish(status)
        except Exception:
            log.exception("research_sdk: finishing %s failed", exp)


class Experiment(ControlMixin, ReadMixin):
    """One run. ``Experiment(project, name)`` gets or creates both by name and marks it running;
    ``Experiment(project, id=...)`` resumes an existing run by its id. Tags, features and the
    description passed to an existing run are merged into it (tags added, features deep-merged).

    Keyword options (defaults suit a training job; env vars in brackets):
      mode: "online" | "offline" [ASSAY_MODE] — offline never contacts the server, it spools
        everything for ``python -m research_sdk sync``.
      system_metrics (True), system_metrics_interval (10 s): CPU/RAM/RSS/GPU as ``system/...``.
      heartbeat_interval (10 s) [ASSAY_HEARTBEAT_INTERVAL].
      batch_size (20000 points), flush_interval (1 s): a batch is sent when either is reached.
      max_buffered_points (2,000,000): past this the logging call waits for the batcher (it
        never drops). max_memory_bytes (64 MiB) of encoded batches, then they spill to the spool.
      offline_grace (5 s) [ASSAY_OFFLINE_GRACE]: unreachable — or no answer — this long → spool;
        no call waits longer for the server. backoff_base, backoff_cap (0.2 s, 10 s);
        request_timeout (30 s, background requests); spool_dir (default $ASSAY_SPOOL_DIR/python,
        ASSAY_SPOOL_DIR defaulting to ~/.assay/spool).
      max_in_flight (4): batches sent concurrently (only batches that cannot write the same
        metric+step, so "the later write wins" keeps its meaning); spool replay is sequential.
      resume (True): when the experiment already exists, auto steps continue after its last step.
    """

    def __init__(self, project: str, name: Optional[str] = None, team_id: Optional[str] = None,
                 api_url: Optional[str] = None, api_key: Optional[str] = None, *,
                 id: Optional[str] = None, features: Optional[Dict[str, Any]] = None,
                 tags: Optional[Sequence[str]] = None, description: Optional[str] = None,
                 parent_id: Optional[str] = None, host: Optional[str] = None,
                 mode: Optional[str] = None, system_metrics: bool = True,
                 system_metrics_interval: float = 10.0, heartbeat_interval: Optional[float] = None,
                 batch_size: int = 20_000, flush_interval: float = 1.0,
                 max_buffered_points: int = 2_000_000, max_memory_bytes: int = 64 << 20,
                 offline_grace: Optional[float] = None, backoff_base: float = 0.2,
                 backoff_cap: float = 10.0, request_timeout: float = 30.0,
                 spool_dir: Optional[str] = None, gzip_min_bytes: int = 256 << 10,
                 max_in_flight: int = 4,
                 resume: bool = True, install_hooks: bool = True) -> None:
        if name is None and id is None:
            raise ValueError("pass the experiment's name (get-or-create) or id (resume)")
        check_name(project, "project")
        if name is not None:
            check_name(name, "name")
        if id is not None:
            check_name(str(id), "id")
        if features is not None and not isinstance(features, Mapping):
            raise TypeError("features must be a dict")
        if description is not None:
            check_name(description, "description", DESCRIPTION_MAX, 0)
        host = check_name(host if host is not None else socket.gethostname()[:NAME_MAX], "host", NAME_MAX, 0)
        self.project = str(project)
        self.api_url = (api_url or os.environ.get("ASSAY_API_URL") or "http://localhost:8000").rstrip("/")
        self.api_key = api_key or os.environ.get("ASSAY_API_KEY")
        mode = (mode or os.environ.get("ASSAY_MODE") or "online").lower()
        if mode not in ("online", "offline"):
            raise ValueError(f"mode must be 'online' or 'offline', got {mode!r}")
        self.mode = mode
        self._offline_forced = mode == "offline"
        self._grace = offline_grace if offline_grace is not None else _env_float("ASSAY_OFFLINE_GRACE", 5.0)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeout = request_timeout
        self._gzip_min = gzip_min_bytes
        hb = heartbeat_interval if heartbeat_interval is not None else _env_float("ASSAY_HEARTBEAT_INTERVAL", 10.0)
        self.finish_message: Optional[str] = None  # why finish() returned False, and what to do

        self._run = Run(self.project, name, self.api_url, team_id, host or None, check_tags(tags), parent_id,
                        os.path.abspath(os.path.expanduser(spool_dir)) if spool_dir else None,
                        resume_id=str(id) if id is not None else None,
                        features=sanitize_json(dict(features)) if features else None, description=description)
        self._ctl = self._client()
        self._ctl_lock = threading.RLock()

        # the hot path's state
        self._q: Deque[Any] = deque()
        self._append = self._q.append
        self._next_step: Dict[str, int] = {}
        self._max_q = max_buffered_points
        self._finished = False
        self._finish_ok = False
        self._finish_lock = threading.Lock()

        # register (or go offline)
        if not self._offline_forced:
            try:
                self._register_now(resume)
            except BaseException:
                self._ctl.close()
                raise

        self._wire = WireState()
        self._outbox = Outbox(self._run.get_spool, max_memory_bytes, force_offline=self._offline_forced,
                              window=max_in_flight)
        if not self._offline_forced and not self._run.registered:
            self._outbox.offline = True  # the server was unreachable: spool until it answers
        self._batcher = Batcher(self._q, self._outbox, self._wire, batch_size, flush_interval)
        self._batcher.start()
        self._transport: Optional[Transport] = None
        if not self._offline_forced:
            self._transport = Transport(self._outbox, self._wire, self._client, self._batch_path,
                                        self._grace, backoff_base, backoff_cap,
                                        lambda: self._run.spool_dir or self._run.spool_root,
                                        on_auth=self._on_auth)
            self._transport.start()
        self._monitor: Optional[Monitor] = None
        sys_interval = system_metrics_interval if system_metrics else 0.0
        hb = 0.0 if self._offline_forced else hb
        if (hb and hb > 0) or sys_interval > 0:
            self._monitor = Monitor(self._client, self._heartbeat_path, self.log_metric, hb, sys_interval,
                                    self._grace)
            self._monitor.start()
        if self._offline_forced:
            self._run.save(force=True)
        _active.add(self)
        if install_hooks:
            _install_hooks()

    # ------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Experiment {self.project}/{self.name} id={self.id} mode={self.mode}>"

    @property
    def name(self) -> Optional[str]:
        """The experiment's name (for a run resumed by id: known once the server answered)."""
        return self._run.name

    @property
    def id(self) -> Optional[str]:
        return self._run.experiment_id

    @property
    def project_id(self) -> Optional[str]:
        return self._run.project_id

    @property
    def spool_dir(self) -> Optional[str]:
        return self._run.spool_dir

    @property
    def dropped_points(self) -> Dict[str, Dict[str, Any]]:
        """Points the server refused (422), per metric: {metric: {"count", "reason"}}. The SDK
        checks points at the call, so this stays empty unless the server's rules differ."""
        with self._outbox.lock:
            return {k: dict(v) for k, v in self._outbox.stats.dropped_points.items()}

    def _client(self) -> HttpClient:
        return HttpClient(self.api_url, self.api_key, self._timeout, self._gzip_min)

    def _register_now(self, resume: bool) -> None:
        """Get-or-create within the offline grace (a hung server included); else go offline."""
        deadline = _monotonic() + self._grace
        backoff = Backoff(self._backoff_base, self._backoff_cap)
        while True:
            try:
                with self._ctl_lock, self._ctl.deadline(deadline):
                    existed = self._run.register(self._ctl)
                break
            except ServerUnreachableError as e:
                err: Exception = e
            except APIError as e:
                if not is_retryable_status(e.status):
                    raise
                err = e
            if _monotonic() >= deadline:
                warnings.warn(f"research_sdk: {err}; logging offline to the spool "
                              f"({self._run.spool_root}) and retrying in the background", RuntimeWarning,
                              stacklevel=3)
                self._run.save(force=True)
                return
            time.sleep(min(backoff.next(), max(0.0, deadline - _monotonic()) + 0.01))
        if existed and resume:
            self._resume_steps(deadline)

    def _resume_steps(self, deadline: float) -> None:
        try:
            with self._ctl_lock, self._ctl.deadline(max(deadline, _monotonic() + 0.5)):
                doc = self._ctl.call("GET", f"/api/v1/metrics/summary/{quote(self._run.project_id)}/"
                                            f"{quote(self._run.experiment_id)}")
            for name, st in (doc or {}).get("metrics", {}).items():
                if st.get("last_step") is not None:
                    self._next_step[name] = int(st["last_step"]) + 1
        except Exception as e:  # the run goes on; only automatic steps are affected
            log.warning("research_sdk: could not read the last steps of the resumed run (%s); automatic "
                        "steps start at 0 — pass step= explicitly to continue its series", e)

    def _batch_path(self, client: HttpClient) -> Optional[str]:
        """Used by the transport before each batch: registers the run first if needed."""
        if not self._run.registered:
            existed = self._run.register(client)
            log.warning("research_sdk: server reachable; experiment %s/%s registered (%s)",
                        self.project, self.name, "existing" if existed else "new")
        elif self._run.has_pending():
            self._run.apply_pending(client)
        return self._run.batch_path

    def _heartbeat_path(self) -> Optional[str]:
        if not self._run.registered or self._outbox.auth_error is not None:
            return None
        return self._run.experiment_path + "/heartbeat"

    def _spool_where(self) -> str:
        return self._run.spool_dir or self._run.spool_root

    # -- the hot path -----------------------------------------------------------------------------------
    def log_metric(self, name: str, value: Any, step: Optional[int] = None, timestamp: Any = None) -> None:
        """Record one point and return at once (no I/O, no locks, no JSON).

        `name`: 1–250 Unicode code points, no NUL, no surrogates (checked once per name).
        `value`: float, int, bool or anything with `.item()` (numpy/torch scalars); NaN/±Inf are
        fine. `step`: an int 0 … 2^53 − 1, default one more than the last step logged for this
        metric (0 first). `timestamp`: epoch seconds or ms, datetime (naive = UTC) or ISO string,
        1970 … 2106-02-07T06:28:15.999Z; default now. A bad point raises ValueError/TypeError here:
        the server would refuse it."""
        nxt = self._next_step.get(name)
        if nxt is None:
            check_metric_name(name)
            nxt = 0
        if type(value) is not float:
            value = coerce_value(value)
        if step is None:
            step = nxt
        if type(step) is not int or not 0 <= step <= STEP_MAX:
            step = coerce_step(step)
        self._next_step[name] = step + 1
        self._append((name, value, step, _time() if timestamp is None else coerce_timestamp(timestamp)))
        if len(self._q) > self._max_q:
            self._backpressure()

    buffer_metric = log_metric

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None, timestamp: Any = None) -> None:
        """Several metrics at one step (each keeps its own auto step when `step` is None)."""
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a dict of name → value, got {type(metrics).__name__}")
        for k, v in metrics.items():
            self.log_metric(k, v, step, timestamp)

    def log(self, metrics: Mapping[str, Any], step: Optional[int] = None, timestamp: Any = None) -> None:
        """``exp.log({"loss": 0.1, "acc": 0.9}, step=3)`` (the W&B habit): log_metrics."""
        self.log_metrics(metrics, step, timestamp)

    def _backpressure(self) -> None:
        self._batcher.wake.set()
        low = self._max_q // 2
        while len(self._q) > low and self._batcher.is_alive():
            time.sleep(0.001)

    def _append_after_finish(self, item: Any) -> None:
        log_once(logging.WARNING, ("after-finish", id(self)),
                 "research_sdk: %s is finished; metrics logged after finish() are ignored", self)

    def flush_metrics(self, timeout: Optional[float] = None) -> bool:
        """Block until everything logged so far is acknowledged by the server: True. False when
        `timeout` passed first, the server is unreachable (or silent for the offline grace), or
        the key was refused — what is not acknowledged is then in the spool, the run offline until
        the server answers — and False when the server refused points (see dropped_points)."""
        if self._finished and not self._batcher.is_alive():
            return self._finish_ok
        m = self._mark()
        if not m.event.wait(timeout):
            n = self._outbox.go_offline()
            log.warning("research_sdk: flush_metrics: not acknowledged within %.1fs; %d batch(es) moved to "
                        "the spool %s, replayed when the server answers", timeout, n, self._spool_where())
            return False
        return m.ok and not self._outbox.stats.points_dropped

    def _mark(self) -> Marker:
        """A marker behind everything logged so far (see Outbox.add_marker)."""
        m = Marker()
        self._q.append(m)
        self._batcher.wake.set()
        return m

    # -- finishing ---------------------------------------------------------------------------------------
    def finish(self, status: str = "complete", timeout: Optional[float] = None) -> bool:
        """Flush, wait until the server acknowledged every point, set the status and finish time.
        Returns True when everything reached the server. Otherwise (server unreachable or hung for
        the offline grace, `timeout` passed, key refused) the rest is kept in the spool, the
        status is recorded there too, and `exp.finish_message` (also logged) says how many points,
        where, and the command that sends them; points the server refused make it False too."""
        if status not in ("complete", "failed", "crashed", "running"):
            raise ValueError(f"invalid status {status!r}")
        with self._finish_lock:
            if self._finished:
                return self._finish_ok
            self._finished = True
        _active.discard(self)
        start = _monotonic()
        deadline = None if timeout is None else start + timeout
        left = lambda: None if deadline is None else max(0.0, deadline - _monotonic())  # noqa: E731
        short = lambda s: s if deadline is None else min(s, left())  # noqa: E731
        if self._monitor is not None:
            self._monitor.stop(short(0.5))
        self._mark().event.wait(left())
        self._append = self._append_after_finish  # later calls (other threads) are ignored, loudly
        self._batcher.stopping = True
        self._batcher.wake.set()
        self._batcher.join(left())
        delivered = False
        if self._transport is not None:
            self._transport.poke()
            # Given a timeout, use all of it while the server may come back; without one, stop
            # waiting once it has been unreachable (or silent) for the offline grace.
            delivered = self._outbox.wait_drained(left(), patience=None if timeout is not None else self._grace,
                                                  since=start)
        if not delivered:
            self._outbox.spill_all()  # whatever is still only in memory goes to disk
        with self._run.lock:
            self._run.finished = True
        ok = False
        if delivered and self._run.registered:
            try:
                ok, _ = self._control(lambda c: c.call("PATCH", self._run.experiment_path, {"status": status}),
                                      deadline)
            except APIError as e:
                log.error("research_sdk: could not set status %r: %s", status, e)
                ok = True
        if not ok:
            with self._run.lock:
                self._run.pending_status = status
        if self._transport is not None:
            self._transport.stop()
            self._transport.join(short(2.0))
            if self._transport.is_alive():  # stuck in a request: make sure nothing is only in memory
                self._outbox.spill_all()
        self._ctl.close()
        dropped = self._outbox.stats.points_dropped
        self._finish_ok = bool(delivered and ok and not dropped)
        self._close_spool()
        if dropped:
            msg = (f"research_sdk: {self}: the server refused {dropped} point(s); they are dropped, per metric "
                   f"with the reason in exp.dropped_points")
            self.finish_message = msg if self.finish_message is None else f"{self.finish_message}\n{msg}"
            log.warning("%s", msg)
        return self._finish_ok

    def _close_spool(self) -> None:
        spool = self._run.spool
        with self._outbox.lock:
            if not (self._run.has_pending() or (spool is not None and not spool.empty)):
                if spool is not None:
                    spool.remove_if_empty()
                    self._run._spool = None
                return
        points = self._outbox.points_on_disk()
        with self._outbox.lock:
            self._run.save(force=True)
            where = self._run.spool_dir
            what = f"{points} point(s)" + (" and pending updates" if self._run.has_pending() else "")
            if self._outbox.auth_error is not None:
                msg = (f"research_sdk: {self}: the server refused the API key ({self._outbox.auth_error}); "
                       f"{what} not delivered are kept in {where}; send them with a valid key: "
                       f"{SYNC_COMMAND} {where}")
            else:
                msg = (f"research_sdk: {self}: {what} not acknowledged by the server are kept in {where}; "
                       f"send them with: {SYNC_COMMAND} {where}")
            self.finish_message = msg
            log.warning("%s", msg)
            self._run.spool.close()

    def __enter__(self) -> "Experiment":
        return self

    def __exit__(self, etype, value, tb) -> None:
        self.finish("failed" if etype is not None else "complete")

    def stats(self) -> Dict[str, int]:
        """Delivery counters: points acked / spooled / dropped, retries, duplicates."""
        d = self._outbox.stats.as_dict()
        d["points_buffered"] = sum(1 for x in list(self._q) if type(x) is tuple)
        return d
