"""Experiment's metadata calls — features, tags, description, code snapshot, artifacts — made
within the offline grace (docs/sdk-delivery.md rule 4): when the server is unreachable or hung they
are recorded as pending in the spool's meta.json and applied when it answers (or by sync)."""
from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from . import _artifacts, _git
from ._checks import check_name, check_tags
from ._encode import sanitize_json
from ._errors import is_route_missing, APIError, NotSupportedError, ServerUnreachableError
from ._http import HttpClient, is_retryable_status
from ._limits import DESCRIPTION_MAX
from ._sender import Backoff, log_once
from ._sync import SYNC_COMMAND

log = logging.getLogger("research_sdk")

_monotonic = time.monotonic


class ControlMixin:
    """Expects `_run`, `_ctl`, `_ctl_lock`, `_outbox`, `_grace`, `_offline_forced`, `_finished`,
    `_backoff_base`, `_backoff_cap` and `_spool_where()` on the instance."""

    def _on_auth(self, reason: str) -> None:
        log_once(logging.ERROR, ("auth", id(self)),
                 "research_sdk: %s: the server refused the API key (%s): sending stopped. Every point not "
                 "yet delivered is kept in the spool %s; send them with a valid key: %s %s",
                 self, reason, self._spool_where(), SYNC_COMMAND, self._spool_where())

    def _control(self, fn: Callable[[HttpClient], Any], deadline: Optional[float] = None) -> tuple:
        """Run fn now, within the offline grace (or `deadline`, whichever is sooner). (True,
        result) on success; (False, None) if the server is unreachable, hung, or refused the key
        (then sending stops, rule 3). Other API errors raise."""
        if self._offline_forced or not self._run.registered or self._outbox.auth_error is not None:
            return False, None
        end = _monotonic() + self._grace
        end = end if deadline is None else min(end, deadline)
        once = self._outbox.offline  # known unreachable: one attempt, then record as pending
        backoff = Backoff(self._backoff_base, self._backoff_cap)
        while True:
            if not self._ctl_lock.acquire(timeout=max(0.0, end - _monotonic())):
                return False, None
            try:
                with self._ctl.deadline(end):
                    return True, fn(self._ctl)
            except ServerUnreachableError:
                pass
            except APIError as e:
                if e.status in (401, 403):
                    self._outbox.stop_auth(str(e))
                    self._on_auth(str(e))
                    return False, None
                if not is_retryable_status(e.status):
                    raise
            finally:
                if self._finished:  # after finish(): keep no connection open
                    self._ctl.close()
                self._ctl_lock.release()
            if once or _monotonic() >= end:
                return False, None
            time.sleep(min(backoff.next(), max(0.01, end - _monotonic())))

    def log_features(self, features: Dict[str, Any]) -> None:
        """Merge a (nested) config into the experiment's features (deep merge, server side).
        Read them back, merged, with ``exp.features``."""
        if not isinstance(features, Mapping):
            raise TypeError("features must be a dict")
        clean = sanitize_json(dict(features))
        ok, _ = self._control(lambda c: c.call("PATCH", self._run.experiment_path, {"features": clean}))
        if not ok:
            self._run.record_features(clean)

    def _patch(self, fields: Dict[str, Any]) -> None:
        ok, _ = self._control(lambda c: c.call("PATCH", self._run.experiment_path, fields))
        if not ok:
            self._run.record_patch(fields)

    def set_tags(self, tags: Sequence[str]) -> None:
        """Replace the experiment's tags (tags passed to the constructor are added instead)."""
        self._patch({"tags": check_tags(tags)})

    def set_description(self, description: Optional[str]) -> None:
        """Set the notes (0–10,000 code points); None clears them."""
        if description is not None:
            check_name(description, "description", DESCRIPTION_MAX, 0)
        self._patch({"description": description})

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

