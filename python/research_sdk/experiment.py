"""`Experiment`: the seed's API. Logging calls append to an in-memory deque and return at once;
background threads batch, send, retry and spool (see _sender.py)."""
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
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

from . import _artifacts, _git
from ._encode import (coerce_step, coerce_timestamp, coerce_value, decode_points, decode_stats,
                      sanitize_json)
from ._errors import is_route_missing, APIError, NotSupportedError, ServerUnreachableError
from ._http import HttpClient, is_retryable_status, quote
from ._run import Run, deep_merge
from ._sender import Backoff, Batcher, Outbox, Transport, WireState
from ._system import SystemSampler

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


class Experiment:
    """One run. ``Experiment(project, name)`` gets or creates both by name and marks it running.

    Keyword options (defaults suit a training job; env vars in brackets):
      mode: "online" | "offline" [ASSAY_MODE] — offline never contacts the server, it spools
        everything for ``python -m research_sdk sync``.
      system_metrics (True), system_metrics_interval (10 s): CPU/RAM/RSS/GPU as ``system/...``.
      heartbeat_interval (10 s) [ASSAY_HEARTBEAT_INTERVAL].
      batch_size (20000 points), flush_interval (1 s): a batch is sent when either is reached.
      max_buffered_points (2,000,000): past this the logging call waits for the batcher (it
        never drops). max_memory_bytes (64 MiB) of encoded batches, then they spill to the spool.
      offline_grace (5 s) [ASSAY_OFFLINE_GRACE]: unreachable this long → spool; backoff_base,
        backoff_cap (0.2 s, 10 s); request_timeout (30 s); spool_dir [ASSAY_SPOOL_DIR].
      max_in_flight (4): batches sent concurrently (only batches that cannot write the same
        metric+step, so "the later write wins" keeps its meaning); spool replay is sequential.
      resume (True): when the experiment already exists, auto steps continue after its last step.
    """

    def __init__(self, project: str, name: str, team_id: Optional[str] = None,
                 api_url: Optional[str] = None, api_key: Optional[str] = None, *,
                 features: Optional[Dict[str, Any]] = None, tags: Optional[Sequence[str]] = None,
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
        if not project or not name:
            raise ValueError("project and name are required")
        self.project = str(project)
        self.name = str(name)
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
        self._hb_interval = hb
        self._sys_interval = system_metrics_interval if system_metrics else 0.0

        self._run = Run(self.project, self.name, self.api_url, team_id,
                        host or socket.gethostname(), list(tags) if tags else None, parent_id,
                        os.path.abspath(os.path.expanduser(spool_dir)) if spool_dir else None)
        self._ctl = self._client()
        self._ctl_lock = threading.RLock()

        # the hot path's state
        self._q: Deque[Any] = deque()
        self._append = self._q.append
        self._next_step: Dict[str, int] = {}
        self._max_q = max_buffered_points
        self._finished = False
        self._finish_lock = threading.Lock()

        # register (or go offline)
        if not self._offline_forced:
            try:
                self._register_now()
            except BaseException:
                self._ctl.close()
                raise
        if features:
            self.log_features(features)

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
                                        lambda: self._run.spool_dir or self._run.spool_root)
            self._transport.start()
        self._stop_monitor = threading.Event()
        self._monitor: Optional[threading.Thread] = None
        if (self._hb_interval and self._hb_interval > 0 and not self._offline_forced) or self._sys_interval > 0:
            self._monitor = threading.Thread(target=self._monitor_loop, name="assay-monitor", daemon=True)
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
    def id(self) -> Optional[str]:
        return self._run.experiment_id

    @property
    def project_id(self) -> Optional[str]:
        return self._run.project_id

    @property
    def spool_dir(self) -> Optional[str]:
        return self._run.spool_dir

    def _client(self) -> HttpClient:
        return HttpClient(self.api_url, self.api_key, self._timeout, self._gzip_min)

    def _register_now(self) -> None:
        deadline = _monotonic() + self._grace
        backoff = Backoff(self._backoff_base, self._backoff_cap)
        while True:
            try:
                with self._ctl_lock:
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
        if existed:
            self._resume_steps()

    def _resume_steps(self) -> None:
        try:
            with self._ctl_lock:
                doc = self._ctl.call("GET", f"/api/v1/metrics/summary/{quote(self._run.project_id)}/"
                                            f"{quote(self._run.experiment_id)}")
            for name, st in (doc or {}).get("metrics", {}).items():
                if st.get("last_step") is not None:
                    self._next_step[name] = int(st["last_step"]) + 1
        except Exception as e:  # resuming steps is a convenience, not a requirement
            log.debug("research_sdk: could not read the summary to resume steps: %s", e)

    def _batch_path(self, client: HttpClient) -> Optional[str]:
        """Used by the transport before each batch: registers the run first if needed."""
        if not self._run.registered:
            existed = self._run.register(client)
            log.warning("research_sdk: server reachable; experiment %s/%s registered (%s)",
                        self.project, self.name, "existing" if existed else "new")
        elif self._run.has_pending():
            self._run.apply_pending(client)
        return self._run.batch_path

    # -- the hot path -----------------------------------------------------------------------------------
    def log_metric(self, name: str, value: Any, step: Optional[int] = None, timestamp: Any = None) -> None:
        """Record one point and return at once (about a microsecond; no I/O, no locks, no JSON).

        `value`: float, int, bool or anything with `.item()` (numpy/torch scalars); NaN/±Inf are
        fine. `step`: defaults to one more than the last step logged for this metric (0 first).
        `timestamp`: epoch seconds, datetime (naive = UTC) or ISO string; default: now."""
        if type(value) is not float:
            value = coerce_value(value)
        if step is None:
            step = self._next_step.get(name, 0)
        elif type(step) is not int:
            step = coerce_step(step)
        self._next_step[name] = step + 1
        self._append((name, value, step, _time() if timestamp is None else coerce_timestamp(timestamp)))
        if len(self._q) > self._max_q:
            self._backpressure()

    buffer_metric = log_metric

    def log_metrics(self, metrics: Dict[str, Any], step: Optional[int] = None, timestamp: Any = None) -> None:
        """Several metrics at one step (each keeps its own auto step when `step` is None)."""
        for k, v in metrics.items():
            self.log_metric(k, v, step, timestamp)

    def _backpressure(self) -> None:
        self._batcher.wake.set()
        low = self._max_q // 2
        while len(self._q) > low and self._batcher.is_alive():
            time.sleep(0.001)

    def _append_after_finish(self, item: Any) -> None:
        from ._sender import log_once

        log_once(logging.WARNING, ("after-finish", id(self)),
                 "research_sdk: %s is finished; metrics logged after finish() are ignored", self)

    def flush_metrics(self, timeout: Optional[float] = None) -> bool:
        """Block until everything logged so far is acknowledged by the server (or, while it is
        unreachable, safely in the spool). Returns False on timeout."""
        if self._finished and not self._batcher.is_alive():
            return True
        ev = threading.Event()
        self._q.append(ev)
        self._batcher.wake.set()
        return ev.wait(timeout)

    # -- control operations -------------------------------------------------------------------------
    def _control(self, fn: Callable[[HttpClient], Any]) -> tuple:
        """Run fn now. (True, result) on success; (False, None) if the server is unreachable
        (after retrying for the grace period); API errors other than 408/429/5xx raise."""
        if self._offline_forced or not self._run.registered:
            return False, None
        deadline = _monotonic() + (0.0 if self._outbox_offline() else self._grace)
        backoff = Backoff(self._backoff_base, self._backoff_cap)
        while True:
            try:
                with self._ctl_lock:
                    return True, fn(self._ctl)
            except ServerUnreachableError:
                pass
            except APIError as e:
                if not is_retryable_status(e.status):
                    raise
            if _monotonic() >= deadline:
                return False, None
            time.sleep(min(backoff.next(), max(0.01, deadline - _monotonic())))

    def _outbox_offline(self) -> bool:
        ob = getattr(self, "_outbox", None)
        return bool(ob is not None and ob.offline)

    def log_features(self, features: Dict[str, Any]) -> None:
        """Merge a (nested) config into the experiment's features (deep merge, server side)."""
        if not isinstance(features, dict):
            raise TypeError("features must be a dict")
        clean = sanitize_json(features)
        ok, _ = self._control(lambda c: c.call("PATCH", self._run.experiment_path, {"features": clean}))
        if not ok:
            with self._run.lock:
                deep_merge(self._run.pending_features, clean)
                self._run.save(force=True)

    def log_code_snapshot(self, kind: str = "git_diff", path: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """Record git commit, branch, remote URL, dirty flag, `git diff HEAD` and untracked files.
        Outside a git repository (or without git) this warns and returns None."""
        if kind not in ("git_diff", "git"):
            raise ValueError(f"unsupported code snapshot kind {kind!r} (use 'git_diff')")
        try:
            snap = _git.snapshot(path)
        except _git.NotAGitRepo as e:
            warnings.warn(f"research_sdk: no code snapshot: {e}", RuntimeWarning, stacklevel=2)
            return None
        ok = False
        try:
            ok, _ = self._control(lambda c: c.call("PUT", self._run.experiment_path + "/code", snap))
        except APIError as e:
            if is_route_missing(e):
                warnings.warn("research_sdk: the server does not support code snapshots yet "
                              f"({e}); not recorded", RuntimeWarning, stacklevel=2)
                return snap
            raise
        if not ok:
            with self._run.lock:
                self._run.pending_code = snap
                self._run.save(force=True)
        return snap

    def log_artifacts(self, path: str = "./checkpoints", pattern: str = "*.pt") -> List[Dict[str, Any]]:
        """Upload files under `path` matching `pattern` (streamed, with their sha256). Files the
        experiment already has with the same path and content are skipped. Returns the artifacts
        (server objects; for files queued while offline, {'path', 'sha256', 'size', 'pending': True})."""
        files = list(_artifacts.find_files(path, pattern))
        if not files:
            log.info("research_sdk: no files matching %r under %s", pattern, path)
            return []
        existing: Dict[str, str] = {}
        try:
            ok, items = self._control(lambda c: _artifacts.list_artifacts(c, self._run.project_id,
                                                                           self._run.experiment_id))
        except NotSupportedError as e:
            warnings.warn(f"research_sdk: artifacts not uploaded: {e}", RuntimeWarning, stacklevel=2)
            return []
        if ok:
            existing = {a["path"]: a.get("sha256") for a in items}
        out: List[Dict[str, Any]] = []
        for local, rel in files:
            sha, size = _artifacts.sha256_file(local)
            if ok and existing.get(rel) == sha:
                out.append({"path": rel, "sha256": sha, "size": size, "skipped": True})
                continue
            done = False
            if ok:
                try:
                    with self._ctl_lock:
                        out.append(_artifacts.upload(self._ctl, self._run.project_id, self._run.experiment_id,
                                                     local, rel, sha, size, attempts=3,
                                                     backoff=Backoff(self._backoff_base, self._backoff_cap)))
                    done = True
                except ServerUnreachableError:
                    ok = False
            if not done:
                with self._run.lock:
                    self._run.pending_artifacts.append({"local": os.path.abspath(local), "path": rel,
                                                        "sha256": sha, "size": size})
                    self._run.save(force=True)
                out.append({"path": rel, "sha256": sha, "size": size, "pending": True})
        return out

    # -- finishing ---------------------------------------------------------------------------------------
    def finish(self, status: str = "complete", timeout: Optional[float] = None) -> bool:
        """Flush, wait until the server acknowledged every point, set the status and finish time.
        If the server is unreachable the rest is kept in the spool for `python -m research_sdk
        sync`. Returns True when everything reached the server."""
        if status not in ("complete", "failed", "crashed", "running"):
            raise ValueError(f"invalid status {status!r}")
        with self._finish_lock:
            if self._finished:
                return True
            self._finished = True
        _active.discard(self)
        deadline = None if timeout is None else _monotonic() + timeout
        left = lambda: None if deadline is None else max(0.0, deadline - _monotonic())  # noqa: E731
        self._stop_monitor.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(2.0)
        self.flush_metrics(left())
        self._append = self._append_after_finish  # later calls (other threads) are ignored, loudly
        self._batcher.stopping = True
        self._batcher.wake.set()
        self._batcher.join(left())
        delivered = False
        if self._transport is not None:
            self._transport.poke()
            delivered = self._outbox.wait_drained(left(), patience=max(self._grace, 1.0))
        if not delivered:
            self._outbox.spill_all()  # whatever is still only in memory goes to disk
        with self._run.lock:
            self._run.finished = True
        ok = False
        if delivered and self._run.registered:
            try:
                ok, _ = self._control(lambda c: c.call("PATCH", self._run.experiment_path, {"status": status}))
            except APIError as e:
                log.error("research_sdk: could not set status %r: %s", status, e)
                ok = True
        if not ok:
            with self._run.lock:
                self._run.pending_status = status
        if self._transport is not None:
            self._transport.stop()
            self._transport.join(2.0)
            if self._transport.is_alive():  # stuck in a request: make sure nothing is only in memory
                self._outbox.spill_all()
        self._ctl.close()
        spool = self._run.spool
        with self._outbox.lock:
            if self._run.has_pending() or (spool is not None and not spool.empty):
                self._run.save(force=True)
                spool = self._run.spool
                log.warning("research_sdk: %s: %d batch(es)%s kept in %s; upload them with "
                            "`python -m research_sdk sync`", self, spool.pending,
                            " and pending updates" if self._run.has_pending() else "", self._run.spool_dir)
                spool.close()
            elif spool is not None:
                spool.remove_if_empty()
                self._run._spool = None
        return bool(delivered and ok)

    def __enter__(self) -> "Experiment":
        return self

    def __exit__(self, etype, value, tb) -> None:
        self.finish("failed" if etype is not None else "complete")

    # -- heartbeat + system metrics -------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        sampler = SystemSampler() if self._sys_interval > 0 else None
        client = None
        next_hb = _monotonic()
        next_sys = _monotonic() + (self._sys_interval if sampler else 0)
        try:
            while not self._stop_monitor.is_set():
                now = _monotonic()
                if self._hb_interval and not self._offline_forced and now >= next_hb:
                    next_hb = now + self._hb_interval
                    if self._run.registered:
                        client = client or self._client()
                        try:
                            client.request("POST", self._run.experiment_path + "/heartbeat", b"{}",
                                           {"Content-Type": "application/json"})
                        except Exception as e:  # a missed heartbeat is not an error for the run
                            log.debug("research_sdk: heartbeat failed: %s", e)
                            client.close()
                if sampler is not None and now >= next_sys:
                    next_sys = now + self._sys_interval
                    try:
                        for k, v in sampler.sample().items():
                            self.log_metric(k, v)
                    except Exception as e:
                        log.debug("research_sdk: system metrics failed: %s", e)
                waits = [t for t in (next_hb if self._hb_interval and not self._offline_forced else None,
                                     next_sys if sampler else None) if t is not None]
                self._stop_monitor.wait(max(0.05, min(waits) - _monotonic()) if waits else 1.0)
        finally:
            if client is not None:
                client.close()

    # -- reading back -----------------------------------------------------------------------------------
    def _require_registered(self) -> None:
        if not self._run.registered:
            raise ServerUnreachableError("the experiment is not registered with the server (offline)")

    def get_metric(self, name: str, limit: int = 10_000, max_points: Optional[int] = None,
                   step_min: Optional[int] = None, step_max: Optional[int] = None,
                   flush: bool = True) -> Dict[str, Any]:
        """The metric's time series: {experiment_id, metric_name, points: [{timestamp, step,
        value}], count, downsampled}. Flushes first so your own recent points are included."""
        if flush and not self._finished:
            self.flush_metrics()
        self._require_registered()
        path = (f"/api/v1/metrics/timeseries/{quote(self._run.project_id)}/{quote(self._run.experiment_id)}/"
                f"{quote(name)}")
        with self._ctl_lock:
            doc = self._ctl.call("GET", path, query={"limit": limit, "max_points": max_points,
                                                     "step_min": step_min, "step_max": step_max})
        decode_points(doc.get("points", []))
        return doc

    def summary(self, flush: bool = True) -> Dict[str, Dict[str, Any]]:
        """{metric_name: {last, min, max, avg, count, first_step, last_step, last_timestamp}}."""
        if flush and not self._finished:
            self.flush_metrics()
        self._require_registered()
        with self._ctl_lock:
            doc = self._ctl.call("GET", f"/api/v1/metrics/summary/{quote(self._run.project_id)}/"
                                        f"{quote(self._run.experiment_id)}")
        return {k: decode_stats(v) for k, v in (doc or {}).get("metrics", {}).items()}

    def get_metric_df(self, name: str, **kw: Any):
        from ._read import timeseries_to_pandas

        return timeseries_to_pandas(self.get_metric(name, **kw))

    def summary_df(self):
        from ._read import summary_to_pandas

        return summary_to_pandas(self.summary())

    def info(self) -> Dict[str, Any]:
        """The experiment object from the server (status, features, git, ...)."""
        self._require_registered()
        with self._ctl_lock:
            return self._ctl.call("GET", self._run.experiment_path)

    def stats(self) -> Dict[str, int]:
        """Delivery counters: points acked / spooled / dropped, retries, duplicates."""
        d = self._outbox.stats.as_dict()
        d["points_buffered"] = sum(1 for x in list(self._q) if type(x) is tuple)
        return d
