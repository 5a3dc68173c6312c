"""The run's identity and the control operations that must reach the server eventually
(features, code snapshot, artifacts, final status). When the server cannot be reached they are
kept as *pending* in the spool's meta.json and applied on registration / `research_sdk sync`."""
from __future__ import annotations

import copy
import logging
import os
import threading
import time
from typing import Any, Dict, List, Optional

from . import _artifacts
from ._encode import sanitize_json
from ._errors import is_route_missing, APIError, NotSupportedError, TeamMismatchError
from ._http import HttpClient, quote
from ._spool import Spool, default_root, run_dir_name

log = logging.getLogger("research_sdk")


def deep_merge(dst: Dict[str, Any], src: Dict[str, Any]) -> Dict[str, Any]:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


class Run:
    def __init__(self, project: str, name: str, api_url: str, team_id: Optional[str] = None,
                 host: Optional[str] = None, tags: Optional[List[str]] = None,
                 parent_id: Optional[str] = None, spool_root: Optional[str] = None) -> None:
        self.lock = threading.RLock()
        self.project = project
        self.name = name
        self.api_url = api_url
        self.team_id = team_id
        self.host = host
        self.tags = tags
        self.parent_id = parent_id
        self.project_id: Optional[str] = None
        self.experiment_id: Optional[str] = None
        self.experiment: Optional[Dict[str, Any]] = None
        self.existed = False
        self.pending_features: Dict[str, Any] = {}
        self.pending_code: Optional[Dict[str, Any]] = None
        self.pending_status: Optional[str] = None
        self.pending_artifacts: List[Dict[str, Any]] = []
        self.finished = False
        self.spool_root = spool_root or default_root()
        self.spool_dir: Optional[str] = None
        self._spool: Optional[Spool] = None
        self.created_at = time.time()

    # -- persistence --------------------------------------------------------------------------------
    @property
    def registered(self) -> bool:
        return self.experiment_id is not None

    def has_pending(self) -> bool:
        return bool(self.pending_features or self.pending_code or self.pending_status
                    or self.pending_artifacts)

    def meta(self) -> Dict[str, Any]:
        return {
            "version": 1, "api_url": self.api_url, "project": self.project, "name": self.name,
            "team_id": self.team_id, "host": self.host, "tags": self.tags, "parent_id": self.parent_id,
            "project_id": self.project_id, "experiment_id": self.experiment_id,
            "pending_features": self.pending_features, "pending_code": self.pending_code,
            "pending_status": self.pending_status, "pending_artifacts": self.pending_artifacts,
            "finished": self.finished, "created_at": self.created_at, "pid": os.getpid(),
        }

    @classmethod
    def from_meta(cls, meta: Dict[str, Any], spool: Spool) -> "Run":
        r = cls(meta["project"], meta["name"], meta.get("api_url") or "", meta.get("team_id"),
                meta.get("host"), meta.get("tags"), meta.get("parent_id"), os.path.dirname(spool.dir))
        r.project_id = meta.get("project_id")
        r.experiment_id = meta.get("experiment_id")
        r.pending_features = meta.get("pending_features") or {}
        r.pending_code = meta.get("pending_code")
        r.pending_status = meta.get("pending_status")
        r.pending_artifacts = meta.get("pending_artifacts") or []
        r.finished = bool(meta.get("finished"))
        r.created_at = meta.get("created_at") or r.created_at
        r._spool = spool
        r.spool_dir = spool.dir
        return r

    def get_spool(self) -> Spool:
        with self.lock:
            if self._spool is None:
                d = os.path.join(self.spool_root, run_dir_name(self.project, self.name))
                self._spool = Spool(d)
                self.spool_dir = d
                self._spool.write_meta(self.meta())
            return self._spool

    @property
    def spool(self) -> Optional[Spool]:
        return self._spool

    def save(self, force: bool = False) -> None:
        """Rewrite meta.json (creating the spool directory first when `force`)."""
        with self.lock:
            if self._spool is None and not force:
                return
            self.get_spool().write_meta(self.meta())

    # -- server side ----------------------------------------------------------------------------------
    @property
    def experiment_path(self) -> str:
        return f"/api/v1/projects/{quote(self.project_id)}/experiments/{quote(self.experiment_id)}"

    @property
    def batch_path(self) -> str:
        return f"/api/v1/metrics/batch/{quote(self.project_id)}/{quote(self.experiment_id)}"

    def check_team(self, client: HttpClient) -> Dict[str, Any]:
        me = client.call("GET", "/api/v1/me")
        if self.team_id is not None and str(self.team_id) not in (str(me.get("team_id")), str(me.get("team_name"))):
            raise TeamMismatchError(
                f"team_id={self.team_id!r} does not match the API key's team "
                f"{me.get('team_name')!r} ({me.get('team_id')}); use that team's key or drop team_id")
        return me

    def register(self, client: HttpClient) -> bool:
        """Get-or-create project and experiment by name, mark it running, apply pending ops.
        Returns whether the experiment already existed."""
        with self.lock:
            if self.registered:
                return self.existed
            if self.team_id is not None:
                self.check_team(client)
            project = client.call("POST", "/api/v1/projects", {"name": self.project},
                                  query={"if_exists": "return"})
            body: Dict[str, Any] = {"name": self.name}
            if self.host:
                body["host"] = self.host
            if self.tags:
                body["tags"] = list(self.tags)
            if self.parent_id:
                body["parent_id"] = self.parent_id
            resp = client.request("POST", f"/api/v1/projects/{quote(project['id'])}/experiments",
                                  _json(body), {"Content-Type": "application/json"},
                                  query={"if_exists": "return"})
            if resp.status not in (200, 201):
                from ._errors import error_for
                raise error_for(resp.status, resp.detail(), "POST", "/api/v1/projects/…/experiments")
            exp = resp.json()
            self.existed = resp.status == 200
            self.project_id = project["id"]
            self.experiment_id = exp["id"]
            self.experiment = exp
            if exp.get("status") != "running" and not self.pending_status:
                self.experiment = client.call("PATCH", self.experiment_path, {"status": "running"})
            self.save()
        self.apply_pending(client, status=False)
        return self.existed

    def apply_pending(self, client: HttpClient, status: bool = True) -> None:
        """Send what was recorded while the server was unreachable. Network errors propagate
        (the caller retries later); other API errors are logged and the item is dropped."""
        with self.lock:
            if not self.registered:
                return
            if self.pending_features:
                self._apply("features", lambda: client.call("PATCH", self.experiment_path,
                                                            {"features": sanitize_json(self.pending_features)}))
                self.pending_features = {}
                self.save()
            if self.pending_code is not None:
                self._apply("code snapshot", lambda: client.call("PUT", self.experiment_path + "/code",
                                                                 self.pending_code))
                self.pending_code = None
                self.save()
            while self.pending_artifacts:
                a = self.pending_artifacts[0]
                if os.path.isfile(a["local"]):
                    sha, size = _artifacts.sha256_file(a["local"])
                    if sha != a["sha256"]:
                        log.warning("research_sdk: artifact %s changed since it was logged; uploading "
                                    "the current content", a["local"])
                    self._apply("artifact " + a["path"], lambda: _artifacts.upload(
                        client, self.project_id, self.experiment_id, a["local"], a["path"], sha, size))
                else:
                    log.warning("research_sdk: artifact %s no longer exists; skipped", a["local"])
                self.pending_artifacts.pop(0)
                self.save()
            if self.pending_status and status:
                self._apply("status", lambda: client.call("PATCH", self.experiment_path,
                                                          {"status": self.pending_status}))
                self.pending_status = None
                self.save()

    @staticmethod
    def _apply(what: str, fn: Any) -> None:
        try:
            fn()
        except NotSupportedError as e:
            log.warning("research_sdk: %s not recorded: %s", what, e)
        except APIError as e:
            if e.status in (408, 429) or e.status >= 500:
                raise
            if is_route_missing(e):
                log.warning("research_sdk: %s not recorded: the server does not support it yet (%s)", what, e)
                return
            log.error("research_sdk: the server refused the %s (dropped): %s", what, e)


def _json(obj: Any) -> bytes:
    import json

    return json.dumps(sanitize_json(obj)).encode()
