"""`python -m research_sdk sync [dir]`: upload what runs left in the spool.

Replays this SDK's run directories — `$ASSAY_SPOOL_DIR/python/<run>/` by default, plus run
directories older versions left directly in `$ASSAY_SPOOL_DIR` — and reports, never silently
skips, the TypeScript SDK's spool segments found there (docs/sdk-delivery.md rule 5).
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

from ._deliver import AUTH, DROP, OK, REPLACE, RETRY, WireState, deliver
from ._errors import APIError, ServerUnreachableError, SpoolLockedError
from ._http import HttpClient
from ._outbox import Stats
from ._run import Run
from ._sender import Backoff
from ._spool import Spool, default_root, read_meta, shared_root

log = logging.getLogger("research_sdk")

SYNC_COMMAND = "ASSAY_API_KEY=<key> python -m research_sdk sync"
NODE_SYNC_COMMAND = "ASSAY_API_KEY=<key> npx assay-sdk sync"


def _same(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def sync_dirs(directory: Optional[str] = None) -> List[str]:
    """The directories `sync` replays: the one given (and its `python/` child when it is a shared
    root), or by default `$ASSAY_SPOOL_DIR/python` plus the shared root (legacy run directories)."""
    if directory is None or _same(os.path.expanduser(directory), default_root()):
        return [default_root(), shared_root()]
    d = os.path.abspath(os.path.expanduser(directory))
    child = os.path.join(d, "python")
    return [d, child] if os.path.isdir(child) and not os.path.isfile(os.path.join(d, "meta.json")) else [d]


def run_dirs(directory: Optional[str] = None) -> List[str]:
    """Run directories (each a meta.json and its segments) under sync_dirs(directory), oldest first."""
    out: List[str] = []
    for d in sync_dirs(directory):
        if os.path.isfile(os.path.join(d, "meta.json")):
            out.append(d)
            continue
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            p = os.path.join(d, fn)
            if os.path.isfile(os.path.join(p, "meta.json")) and p not in out:
                out.append(p)
    return sorted(out, key=lambda p: (read_meta(p).get("created_at") or 0, p))


# -- the TypeScript SDK's spools --------------------------------------------------------------------
def _is_node_segment(path: str) -> bool:
    """A TypeScript SDK segment (packages/sdk/src/spool.ts): JSONL whose first line is its header."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
        doc = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("type") == "header"


def find_foreign(directory: Optional[str] = None) -> List[Dict[str, Any]]:
    """The TypeScript SDK's spool segments in `directory`, in its sibling `node/` directory and
    (for a `python/` directory) in the shared root: what this SDK cannot replay, with the command
    that does."""
    d = os.path.abspath(os.path.expanduser(directory or default_root()))
    places = [d]
    if os.path.basename(d) == "python":
        places += [os.path.join(os.path.dirname(d), "node"), os.path.dirname(d)]
    elif os.path.isdir(os.path.join(d, "node")):
        places.append(os.path.join(d, "node"))
    out = []
    for place in dict.fromkeys(places):
        try:
            names = sorted(os.listdir(place))
        except OSError:
            continue
        segs = [n for n in names if n.endswith(".jsonl") and _is_node_segment(os.path.join(place, n))]
        if segs:
            out.append({"sdk": "node", "dir": place, "segments": len(segs),
                        "command": f"{NODE_SYNC_COMMAND} {place}"})
    return out


def foreign_message(f: Dict[str, Any]) -> str:
    return (f"{f['dir']}: {f['segments']} spool segment(s) of the TypeScript SDK, not replayed by the "
            f"Python SDK; send them with: {f['command']}")


# -- replay ---------------------------------------------------------------------------------------
def sync_dir(path: str, api_url: Optional[str] = None, api_key: Optional[str] = None,
             max_failures: int = 6, backoff_base: float = 0.5, backoff_cap: float = 10.0) -> Dict[str, Any]:
    res: Dict[str, Any] = {"dir": path, "batches": 0, "points": 0, "duplicates": 0, "dropped": 0,
                           "dropped_points": {}}
    try:
        spool = Spool(path)
    except SpoolLockedError:
        res["result"] = "skipped: in use by a running process"
        return res
    try:
        meta = spool.read_meta()
        if not meta.get("project") or not (meta.get("name") or meta.get("resume_id")):
            res["result"] = "skipped: no meta.json"
            return res
        run = Run.from_meta(meta, spool)
        url = api_url or os.environ.get("ASSAY_API_URL") or run.api_url or "http://localhost:8000"
        key = api_key or os.environ.get("ASSAY_API_KEY")
        client = HttpClient(url, key)
        try:
            _replay(run, spool, client, res, max_failures, Backoff(backoff_base, backoff_cap))
        except (ServerUnreachableError, APIError) as e:
            run.save()
            res["result"] = f"error: {e}; spool kept"
            return res
        finally:
            client.close()
        if "result" in res:
            return res
        run.finished = True
        if spool.remove_if_empty(keep_meta_if=run.has_pending()):
            res["result"] = "done"
        else:
            run.save()
            res["result"] = "partial: spool kept"
        return res
    finally:
        spool.close()


def _replay(run: Run, spool: Spool, client: HttpClient, res: Dict[str, Any], max_failures: int,
            backoff: Backoff) -> None:
    wire = WireState()
    tally = Stats()
    failures = 0
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
                raise
            failures += 1
            if failures >= max_failures:
                res["result"] = f"error: server unreachable ({e}); spool kept"
                return
            time.sleep(backoff.next(getattr(e, "retry_after", None)))
            continue
        if out.kind == AUTH:
            res["result"] = f"error: the server refused the API key ({out.reason}); spool kept"
            return
        failures = 0
        backoff.reset()
        for metric in tally.record_dropped(out.dropped):
            log.warning("research_sdk sync: the server refused point(s) of metric %r (%s); dropped",
                        metric, tally.dropped_points[metric]["reason"])
        if out.kind == REPLACE and out.bodies:
            spool.prepend(out.bodies)
        elif out.kind == OK:
            res["batches"] += 1
            res["points"] += out.count
            res["duplicates"] += out.duplicate
        elif out.kind == DROP and not out.dropped:
            log.error("research_sdk sync: the server refused a batch (skipped): %s", out.reason)
        spool.ack(pos)
    res["dropped"] = tally.points_dropped
    res["dropped_points"] = tally.dropped_points
    if not run.finished and not run.pending_status:
        # The process that owned this run died without finish(): record it as crashed.
        try:
            exp = client.call("GET", run.experiment_path)
            if exp.get("status") == "running":
                run.pending_status = "crashed"
        except APIError as e:
            if e.status in (401, 403):
                raise
    run.apply_pending(client)


def sync_report(directory: Optional[str] = None, api_url: Optional[str] = None,
                api_key: Optional[str] = None, **kw: Any) -> Dict[str, Any]:
    """Replay every run under `directory` (see sync_dirs). Returns {"dirs", "runs": [one result
    per run], "foreign": [the TypeScript SDK's spools found, see find_foreign]}."""
    runs = [sync_dir(d, api_url, api_key, **kw) for d in run_dirs(directory)]
    return {"dirs": sync_dirs(directory), "runs": runs, "foreign": find_foreign(directory)}


def sync(directory: Optional[str] = None, api_url: Optional[str] = None, api_key: Optional[str] = None,
         **kw: Any) -> List[Dict[str, Any]]:
    """Upload every run spooled under `directory` (default `$ASSAY_SPOOL_DIR/python` and legacy
    runs in `$ASSAY_SPOOL_DIR`), or one run directory. Returns one result dict per run; the
    TypeScript SDK's spools found there are logged as a warning (sync_report() returns them)."""
    rep = sync_report(directory, api_url, api_key, **kw)
    for f in rep["foreign"]:
        log.warning("research_sdk sync: %s", foreign_message(f))
    return rep["runs"]
