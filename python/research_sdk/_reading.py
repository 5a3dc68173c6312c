"""Reading a run back: its series (paged to the end, or saying it was cut), summary, stored object."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

from ._encode import decode_points, decode_stats
from ._errors import ServerUnreachableError
from ._http import quote
from ._limits import TIMESERIES_LIMIT_MAX
from ._run import deep_merge


class ReadMixin:
    """Experiment's reading calls. Expects `_run`, `_ctl`, `_ctl_lock`, `_finished`,
    `flush_metrics()` and `_control()` on the instance."""

    def _require_registered(self) -> None:
        if not self._run.registered:
            raise ServerUnreachableError("the experiment is not registered with the server (offline)")

    def _get(self, path: str, query: Optional[Dict[str, Any]] = None) -> Any:
        with self._ctl_lock:
            try:
                return self._ctl.call("GET", path, query=query)
            finally:
                if self._finished:  # reading after finish(): keep no connection open
                    self._ctl.close()

    def get_metric(self, name: str, limit: Optional[int] = None, max_points: Optional[int] = None,
                   step_min: Optional[int] = None, step_max: Optional[int] = None,
                   flush: bool = True, page_size: int = TIMESERIES_LIMIT_MAX) -> Dict[str, Any]:
        """The metric's series: {experiment_id, metric_name, points: [{timestamp, step, value}],
        count, downsampled, truncated, next_step_min}. Flushes first so your own recent points are
        included.

        The whole series (within step_min…step_max) by default: pages of `page_size` points (at
        most 100,000) are fetched with the server's `next_step_min` until the end. With `limit`, at most that many
        points, and `truncated: True` (and `next_step_min` to continue from) when there are more.
        With `max_points`, a series longer than that is downsampled (`downsampled: True`)."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be ≥ 1 (or None for the whole series)")
        page_size = max(1, min(int(page_size), TIMESERIES_LIMIT_MAX))
        if flush and not self._finished:
            self.flush_metrics()
        self._require_registered()
        path = (f"/api/v1/metrics/timeseries/{quote(self._run.project_id)}/{quote(self._run.experiment_id)}/"
                f"{quote(name)}")
        points: List[Dict[str, Any]] = []
        first: Optional[Dict[str, Any]] = None
        cursor = step_min
        while True:
            want = page_size if limit is None else max(1, min(page_size, limit - len(points)))
            doc = self._get(path, {"limit": want, "max_points": max_points, "step_min": cursor,
                                   "step_max": step_max})
            first = first or doc
            points.extend(doc.get("points", []))
            nxt = doc.get("next_step_min")
            more = bool(doc.get("truncated")) and nxt is not None and not doc.get("downsampled")
            if not more or (limit is not None and len(points) >= limit):
                break
            cursor = nxt
        if limit is not None and len(points) > limit:  # a step's points come whole: cut to the limit
            nxt, more = points[limit]["step"], True
            del points[limit:]
        out = dict(first)
        out.update(points=decode_points(points), count=len(points), truncated=more,
                   next_step_min=nxt if more else None)
        return out

    def summary(self, flush: bool = True) -> Dict[str, Dict[str, Any]]:
        """{metric_name: {last, min, max, avg, count, first_step, last_step, last_timestamp}}."""
        if flush and not self._finished:
            self.flush_metrics()
        self._require_registered()
        doc = self._get(f"/api/v1/metrics/summary/{quote(self._run.project_id)}/{quote(self._run.experiment_id)}")
        return {k: decode_stats(v) for k, v in (doc or {}).get("metrics", {}).items()}

    def get_metric_df(self, name: str, **kw: Any):
        from ._read import timeseries_to_pandas

        return timeseries_to_pandas(self.get_metric(name, **kw))

    def summary_df(self):
        from ._read import summary_to_pandas

        return summary_to_pandas(self.summary())

    def info(self) -> Dict[str, Any]:
        """The experiment object from the server (status, features, tags, description, git, ...)."""
        self._require_registered()
        return self._get(self._run.experiment_path)

    # -- the stored fields (read from the server within the offline grace, else the local view) ---
    def _stored(self) -> Dict[str, Any]:
        ok, doc = self._control(lambda c: c.call("GET", self._run.experiment_path))
        run = self._run
        with run.lock:
            if ok and isinstance(doc, dict):
                run.experiment = doc
                base = copy.deepcopy(doc)
            else:
                base = copy.deepcopy(run.experiment or {"tags": list(run.tags or []),
                                                        "description": run.description})
                base["features"] = deep_merge(base.get("features") or {}, run.create_features)
            # what was recorded but has not reached the server yet
            deep_merge(base.setdefault("features", {}), run.pending_features)
            base.update(copy.deepcopy(run.pending_patch))
        return base

    @property
    def features(self) -> Dict[str, Any]:
        """The experiment's features as stored (every log_features() deep-merged)."""
        return self._stored().get("features") or {}

    @property
    def tags(self) -> List[str]:
        return list(self._stored().get("tags") or [])

    @property
    def description(self) -> Optional[str]:
        return self._stored().get("description")
