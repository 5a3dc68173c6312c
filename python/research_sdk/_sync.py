"""`python -m research_sdk sync [dir]`: upload what runs left in the spool."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, List, Optional

from ._errors import APIError, ServerUnreachableError, SpoolLockedError
from ._http import HttpClient
from ._run import Run
from ._sender import DROP, OK, REPLACE, RETRY, Backoff, WireState, deliver
from ._spool import Spool, default_root, read_meta

log = logging.getLogger("research_sdk")


def run_dirs(directory: Optional[str] = None) -> List[str]:
    d = os.path.abspath(os.path.expanduser(directory or default_root()))
    if os.path.isfile(os.path.join(d, "meta.json")):
        return [d]
    if not os.path.isdir(d):
        return []
    out = []
    for fn in sorted(os.listdir(d)):
        p = os.path.join(d, fn)
        if os.path.isfile(os.path.join(p, "meta.json")):
            out.append(p)
    return sorted(out, key=lambda p: (read_meta(p).get("created_at") or 0, p))


def sync_dir(path: str, api_url: Optional[str] = None, api_key: Optional[str] = None,
             max_failures: int = 6, backoff_base: float = 0.5, backoff_cap: float = 10.0) -> Dict[str, Any]:
    res: Dict[str, Any] = {"dir": path, "batches": 0, "points": 0, "duplicates": 0, "dropped": 0}
    try:
        spool = Spool(path)
    except SpoolLockedError:
        res["result"] = "skipped: in use by a running process"
        return res
    try:
        meta = spool.read_meta()
        if not meta.get("project") or not meta.get("name"):
            res["result"] = "skipped: no meta.json"
            return res
        run = Run.from_meta(meta, spool)
        url = api_url or os.environ.get("ASSAY_API_URL") or run.api_url or "http://localhost:8000"
        key = api_key or os.environ.get("ASSAY_API_KEY")
        client = HttpClient(url, key)
        backoff = Backoff(backoff_base, backoff_cap)
        wire = WireState()
        failures = 0
        try:
            while True:
                try:
                    if not run.registered:
                        run.register(client)
                        res["registered"] = run.experiment_id
                    item = spool.peek()
                    if item is None:
                        break
                    body, pos = item
                    out = deliver(client, run.batch_path, body, wire)
                    if out.kind == RETRY:
                        raise ServerUnreachableError(out.reason)
                except (ServerUnreachableError, APIError) as e:
                    if isinstance(e, APIError) and not (e.status in (408, 429) or e.status >= 500):
                        res["result"] = f"error: {e}"
                        return res
                    failures += 1
                    if failures >= max_failures:
                        res["result"] = f"error: server unreachable ({e}); spool kept"
                        return res
                    time.sleep(backoff.next(getattr(e, "retry_after", None)))
                    continue
                failures = 0
                backoff.reset()
                if out.kind == REPLACE and out.bodies:
                    spool.prepend(out.bodies)
                elif out.kind == OK:
                    res["batches"] += 1
                    res["points"] += out.count
                    res["duplicates"] += out.duplicate
                elif out.kind == DROP:
                    res["dropped"] += 1
                    log.error("research_sdk sync: the server refused a batch (skipped): %s", out.reason)
                spool.ack(pos)
            if not run.finished and not run.pending_status:
                # The process that owned this run died without finish(): record it as crashed.
                try:
                    exp = client.call("GET", run.experiment_path)
                    if exp.get("status") == "running":
                        run.pending_status = "crashed"
                except APIError:
                    pass
            run.apply_pending(client)
        except (ServerUnreachableError, APIError) as e:
            run.save()
            res["result"] = f"error: {e}; spool kept"
            return res
        finally:
            client.close()
        run.finished = True
        if spool.remove_if_empty(keep_meta_if=run.has_pending()):
            res["result"] = "done"
        else:
            run.save()
            res["result"] = "partial: spool kept"
        return res
    finally:
        spool.close()


def sync(directory: Optional[str] = None, api_url: Optional[str] = None, api_key: Optional[str] = None,
         **kw: Any) -> List[Dict[str, Any]]:
    """Upload every run spooled under `directory` (default ~/.assay/spool or ASSAY_SPOOL_DIR),
    or one run directory. Returns one result dict per run."""
    return [sync_dir(d, api_url, api_key, **kw) for d in run_dirs(directory)]
