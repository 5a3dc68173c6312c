"""Artifact upload: streamed PUT with the sha256, skipping files the server already has."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._errors import is_route_missing, APIError, NotSupportedError, ServerUnreachableError, error_for
from ._http import TRANSPORT_ERRORS, HttpClient, is_retryable_status, quote
from ._sender import Backoff


def sha256_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def find_files(path: str, pattern: str) -> Iterator[Tuple[str, str]]:
    """(local path, artifact path) pairs. A file `path` is itself; a directory is searched
    recursively for names matching `pattern` (a `**/` prefix or a '/' in it matches paths)."""
    path = os.path.expanduser(path)
    if os.path.isfile(path):
        yield path, os.path.basename(path)
        return
    if not os.path.isdir(path):
        return
    base = os.path.basename(os.path.normpath(os.path.abspath(path)))
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for fn in sorted(files):
            local = os.path.join(root, fn)
            rel = os.path.relpath(local, path).replace(os.sep, "/")
            if fnmatch.fnmatch(fn, pattern) or fnmatch.fnmatch(rel, pattern):
                yield local, (f"{base}/{rel}" if base and base not in (".", "..") else rel)


def _experiment_path(pid: str, eid: str) -> str:
    return f"/api/v1/projects/{quote(pid)}/experiments/{quote(eid)}"


def _not_supported_or(e: APIError, feature: str) -> APIError:
    if is_route_missing(e):
        return NotSupportedError(feature, e.status, e.detail, e.method, e.path)
    return e


def list_artifacts(client: HttpClient, pid: str, eid: str) -> List[Dict[str, Any]]:
    try:
        doc = client.call("GET", _experiment_path(pid, eid) + "/artifacts")
    except APIError as e:
        raise _not_supported_or(e, "artifacts") from None
    return list((doc or {}).get("items", []))


def upload(client: HttpClient, pid: str, eid: str, local: str, rel: str, sha: str, size: int,
           attempts: int = 6, backoff: Optional[Backoff] = None) -> Dict[str, Any]:
    path = _experiment_path(pid, eid) + "/artifacts"
    backoff = backoff or Backoff(0.5, 10.0)
    last = ""
    for _ in range(attempts):
        try:
            with open(local, "rb") as f:
                resp = client.request("PUT", path, f, {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                    "X-Content-SHA256": sha,
                }, query={"path": rel})
        except TRANSPORT_ERRORS as e:
            last = f"{type(e).__name__}: {e}"
            time.sleep(backoff.next())
            continue
        if resp.status in (200, 201):
            return resp.json()
        if is_retryable_status(resp.status):
            last = f"HTTP {resp.status}"
            time.sleep(backoff.next(resp.retry_after))
            continue
        raise _not_supported_or(error_for(resp.status, resp.detail(), "PUT", path), "artifacts")
    raise ServerUnreachableError(f"artifact upload of {local} failed: {last}")
