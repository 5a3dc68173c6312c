"""The run's monitor thread: heartbeats (so the server can tell a live run from a crashed one) and
system metrics (CPU/RAM/RSS/GPU as `system/...`, logged like any metric)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from ._http import HttpClient
from ._system import SystemSampler

log = logging.getLogger("research_sdk")

_monotonic = time.monotonic


class Monitor(threading.Thread):
    """`heartbeat_path()` → the heartbeat URL path, or None while the run is not registered.
    A heartbeat never waits longer than `max_wait` seconds for an answer (a hung server)."""

    def __init__(self, client_factory: Callable[[], HttpClient], heartbeat_path: Callable[[], Optional[str]],
                 log_metric: Callable[[str, float], None], hb_interval: float, sys_interval: float,
                 max_wait: float) -> None:
        super().__init__(name="assay-monitor", daemon=True)
        self.client_factory = client_factory
        self.heartbeat_path = heartbeat_path
        self.log_metric = log_metric
        self.hb_interval = hb_interval if hb_interval and hb_interval > 0 else 0.0
        self.sys_interval = sys_interval if sys_interval and sys_interval > 0 else 0.0
        self.max_wait = max(0.1, min(max_wait, self.hb_interval or max_wait))
        self.stop_event = threading.Event()

    def stop(self, wait: float = 0.5) -> None:
        self.stop_event.set()
        if self is not threading.current_thread() and self.is_alive():
            self.join(wait)

    def _beat(self, client: HttpClient) -> None:
        path = self.heartbeat_path()
        if path is None:
            return
        try:
            with client.deadline(_monotonic() + self.max_wait):
                client.request("POST", path, b"{}", {"Content-Type": "application/json"})
        except Exception as e:  # a missed heartbeat is not an error for the run
            log.debug("research_sdk: heartbeat failed: %s", e)
            client.close()

    def run(self) -> None:
        sampler = SystemSampler() if self.sys_interval else None
        client: Optional[HttpClient] = None
        next_hb = _monotonic()
        next_sys = _monotonic() + self.sys_interval
        try:
            while not self.stop_event.is_set():
                now = _monotonic()
                if self.hb_interval and now >= next_hb:
                    next_hb = now + self.hb_interval
                    client = client or self.client_factory()
                    self._beat(client)
                if sampler is not None and now >= next_sys:
                    next_sys = now + self.sys_interval
                    try:
                        for k, v in sampler.sample().items():
                            self.log_metric(k, v)
                    except Exception as e:
                        log.debug("research_sdk: system metrics failed: %s", e)
                waits = [t for t in (next_hb if self.hb_interval else None, next_sys if sampler else None)
                         if t is not None]
                self.stop_event.wait(max(0.05, min(waits) - _monotonic()) if waits else 1.0)
        finally:
            if client is not None:
                client.close()
