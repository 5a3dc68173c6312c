"""The run's identity and the control operations that must reach the server eventually
(features, tags, description, code snapshot, artifacts, final status). When the server cannot be
reached they are kept as *pending* in the spool's meta.json and applied on registration /
`research_sdk sync`. Network calls are made without holding the run's lock, so a hung server never
blocks a caller that only records something as pending."""
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
    def __init__(self, project: str, name: Optional[str], api_url: str, team_id: Optional[str] = None,
                 host: Optional[str] = None, tags: Optional[List[str]] = None,
                 parent_id: Optional[str] = None, spool_root: Optional[str] = None,
                 resume_id: Optional[str] = None, features: Optional[Dict[str, Any]] = None,
                 description: Optional[str] = None) -> None:
        self.lock = threading.RLock()
        self.project = project
        self.name = name  # None until resolved from `resume_id`
        self.resume_id = resume_id
        # Sent with the get-or-create: on an existing run the server merges them (tags added,
        # features deep-merged, description replaced).
        self.create_features: Dict[str, Any] = features or {}
        self.description = description
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
        self.pending_patch: Dict[str, Any] = {}  # tags (replace) and description, by PATCH
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
        return bool(self.pending_features or self.pending_patch or self.pending_code or self.pending_status
                    or self.pending_artifacts)

    def meta(self) -> Dict[str, Any]:
        return {
            "version": 1, "api_url": self.api_url, "project": self.project, "name": self.name,
            "resume_id": self.resume_id, "create_features": self.create_features,
            "description": self.description,
            "team_id": self.team_id, "host": self.host, "tags": self.tags, "parent_id": self.parent_id,
            "project_id": self.project_id, "experiment_id": self.experiment_id,
            "pending_features": self.pending_features, "pending_patch": self.pending_patch,
            "pending_code": self.pending_code,
            "pending_status": self.pending_status, "pending_artifacts": self.pending_artifacts,
            "finished": self.finished, "created_at": self.created_at, "pid": os.getpid(),
        }

    @classmethod
    def from_meta(cls, meta: Dict[str, Any], spool: Spool) -> "Run":
        r = cls(meta["project"], meta.get("name"), meta.get("api_url") or "", meta.get("team_id"),
                meta.get("host"), meta.get("tags"), meta.get("parent_id"), os.path.dirname(spool.dir),
                meta.get("resume_id"), meta.get("create_features"), meta.get("description"))
        r.project_id = meta.get("project_id")
        r.experiment_id = meta.get("experiment_id")
        r.pending_features = meta.get("pending_features") or {}
        r.pending_patch = meta.get("pending_patch") or {}
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
                d = os.path.join(self.spool_root, run_dir_name(self.project, self.name or self.resume_id or "run"))
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
        """Get-or-create project and experiment by name (or find it by `resume_id`), mark it
        running, apply pending ops. Returns whether the experiment already existed. Only one thread
        registers (the constructor, later the sender); the lock guards the state, not the calls."""
        if self.registered:
            return self.existed
        if self.team_id is not None:
            self.check_team(client)
        project = client.call("POST", "/api/v1/projects", {"name": self.project}, query={"if_exists": "return"})
        if self.resume_id is not None:
            found = client.call("GET", f"/api/v1/projects/{quote(project['id'])}/experiments/{quote(self.resume_id)}")
            if self.name is not None and self.name != found["name"]:
                log.warning("research_sdk: experiment %s is named %r, not %r; resuming it", self.resume_id,
                            found["name"], self.name)
            self.name = found["name"]
        body: Dict[str, Any] = {"name": self.name}
        if self.host:
            body["host"] = self.host
        if self.tags:
            body["tags"] = list(self.tags)
        if self.parent_id:
            body["parent_id"] = self.parent_id
        if self.create_features:
            body["features"] = self.create_features
        if self.description is not None:
            body["description"] = self.description
        resp = client.request("POST", f"/api/v1/projects/{quote(project['id'])}/experiments",
                              _json(body), {"Content-Type": "application/json"},
                              query={"if_exists": "return"})
        if resp.status not in (200, 201):
            from ._errors import error_for
            raise error_for(resp.status, resp.detail(), "POST", "/api/v1/projects/…/experiments")
        exp = resp.json()
        with self.lock:
            self.existed = resp.status == 200 or self.resume_id is not None
            self.project_id = project["id"]
            self.experiment_id = exp["id"]
            self.experiment = exp
            self.save()
        if exp.get("status") != "running" and not self.pending_status:
            self.experiment = client.call("PATCH", self.experiment_path, {"status": "running"})
        self.apply_pending(client, status=False)
        return self.existed

    def _next_pending(self, status: bool) -> Optional[tuple]:
        if self.pending_features:
            return "features", self.pending_features
        if self.pending_patch:
            return "patch", self.pending_patch
        if self.pending_code is not None:
            return "code snapshot", self.pending_code
        if self.pending_artifacts:
            return "artifact", self.pending_artifacts[0]
        if self.pending_status and status:
            return "status", self.pending_status
        return None

    def _send_pending(self, client: HttpClient, kind: str, item: Any) -> None:
        if kind == "features":
            client.call("PATCH", self.experiment_path, {"features": sanitize_json(item)})
        elif kind == "patch":
            client.call("PATCH", self.experiment_path, item)
        elif kind == "code snapshot":
            client.call("PUT", self.experiment_path + "/code", item)
        elif kind == "status":
            client.call("PATCH", self.experiment_path, {"status": item})
        elif os.path.isfile(item["local"]):
            sha, size = _artifacts.sha256_file(item["local"])
            if sha != item["sha256"]:
                log.warning("research_sdk: artifact %s changed since it was logged; uploading the current "
                            "content", item["local"])
            _artifacts.upload(client, self.project_id, self.experiment_id, item["local"], item["path"], sha, size)
        else:
            log.warning("research_sdk: artifact %s no longer exists; skipped", item["local"])

    def _clear_pending(self, kind: str, item: Any) -> None:
        """Forget `item` once sent, unless a newer one replaced it meanwhile (that one is sent
        next; features and patches are merged, so re-sending what they contain is harmless)."""
        if kind == "features" and self.pending_features is item:
            self.pending_features = {}
        elif kind == "patch" and self.pending_patch is item:
            self.pending_patch = {}
        elif kind == "code snapshot" and self.pending_code is item:
            self.pending_code = None
        elif kind == "artifact" and self.pending_artifacts and self.pending_artifacts[0] is item:
            self.pending_artifacts.pop(0)
        elif kind == "status" and self.pending_status == item:
            self.pending_status = None

    def apply_pending(self, client: HttpClient, status: bool = True) -> None:
        """Send what was recorded while the server was unreachable, oldest kind first. Network
        errors and 401/403 propagate (the caller retries later or stops); other API errors are
        logged and the item is dropped."""
        while self.registered:
            with self.lock:
                nxt = self._next_pending(status)
            if nxt is None:
                return
            kind, item = nxt
            self._apply(kind, lambda: self._send_pending(client, kind, item))
            with self.lock:
                self._clear_pending(kind, item)
                self.save()

    def record_features(self, clean: Dict[str, Any]) -> None:
        """Merge features to send later (a new object, so an in-progress send is not altered)."""
        with self.lock:
            self.pending_features = deep_merge(copy.deepcopy(self.pending_features), clean)
            self.save(force=True)

    def record_patch(self, fields: Dict[str, Any]) -> None:
        with self.lock:
            self.pending_patch = {**self.pending_patch, **fields}
            self.save(force=True)

    @staticmethod
    def _apply(what: str, fn: Any) -> None:
        try:
            fn()
        except NotSupportedError as e:
            log.warning("research_sdk: %s not recorded: %s", what, e)
        except APIError as e:
            if e.status in (401, 403, 408, 429) or e.status >= 500:
                raise
            if is_route_missing(e):
                log.warning("research_sdk: %s not recorded: the server does not support it yet (%s)", what, e)
                return
            log.error("research_sdk: the server refused the %s (dropped): %s", what, e)


def _json(obj: Any) -> bytes:
    import json

    return json.dumps(sanitize_json(obj)).encode()
