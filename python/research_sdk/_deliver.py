"""Posting one batch body and classifying the answer by the delivery rules (docs/sdk-delivery.md):
shared by the live sender, the spool replay and `python -m research_sdk sync`.

* 2xx → OK (a re-sent batch_id answers `duplicate: true`: stored once).
* connection errors, timeouts, 408, 429, 5xx → RETRY (same body, same batch_id).
* 401/403 → AUTH: the key was revoked or lacks the role; the caller stops sending and spools.
* 413 → REPLACE by two halves under derived ids (`<id>-0`, `<id>-1`).
* 422 → REPLACE by the rest under a derived id (`<id>-r<n>`), without exactly the points the
  issues' `loc` names (and any the SDK's own rules refuse), or DROP when nothing is left or the
  issues name no point. Derived ids are deterministic, so a replayed split is still stored once.
* other 4xx → DROP. Every dropped point is reported in `Outcome.dropped` as (metric, reason).
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Optional, Tuple

from . import _encode as enc
from ._checks import point_problem
from ._errors import format_detail
from ._http import TRANSPORT_ERRORS, HttpClient, is_retryable_status

log = logging.getLogger("research_sdk")

OK, RETRY, DROP, REPLACE, AUTH = "ok", "retry", "drop", "replace", "auth"
_POINT_FIELDS = ("steps", "values", "timestamps")


class WireState:
    """Whether the server accepts the columnar `series` form (None = not known yet)."""

    def __init__(self) -> None:
        self.series: Optional[bool] = None


class Outcome:
    __slots__ = ("kind", "retry_after", "reason", "bodies", "count", "duplicate", "dropped", "status")

    def __init__(self, kind: str, retry_after: Optional[float] = None, reason: str = "",
                 bodies: Optional[List[bytes]] = None, count: int = 0, duplicate: bool = False,
                 dropped: Optional[List[Tuple[str, str]]] = None, status: int = 0) -> None:
        self.kind = kind
        self.retry_after = retry_after
        self.reason = reason
        self.bodies = bodies
        self.count = count
        self.duplicate = duplicate
        self.dropped = dropped or []  # (metric name, reason) per point left out
        self.status = status


def _is_series(body: bytes) -> bool:
    return b'"series":[' in body[:120]


def _post(client: HttpClient, path: str, body: bytes):
    return client.request("POST", path, body, {"Content-Type": "application/json"}, compress=True)


def deliver(client: HttpClient, path: str, body: bytes, wire: WireState) -> Outcome:
    """POST one batch body and classify the answer."""
    if wire.series is False and _is_series(body):
        body = enc.series_body_to_points_body(body)
    try:
        resp = _post(client, path, body)
    except TRANSPORT_ERRORS as e:
        return Outcome(RETRY, reason=f"{type(e).__name__}: {e}")
    if resp.status == 422 and _is_series(body) and wire.series is None and _names_no_point(resp.detail()):
        # Perhaps a server without the columnar form: try the row form once.
        rows = enc.series_body_to_points_body(body)
        try:
            resp2 = _post(client, path, rows)
        except TRANSPORT_ERRORS as e:
            return Outcome(RETRY, reason=f"{type(e).__name__}: {e}")
        if resp2.status in (200, 201):
            wire.series = False
            log.info("research_sdk: the server does not accept the columnar batch form; using rows")
        resp, body = resp2, rows
    status = resp.status
    if status in (200, 201):
        if _is_series(body):
            wire.series = True
        count, dup = 0, False
        try:
            doc = resp.json() or {}
            count = int(doc.get("count", 0))
            dup = bool(doc.get("duplicate", False))
        except (ValueError, AttributeError, TypeError):
            pass
        return Outcome(OK, count=count, duplicate=dup)
    if is_retryable_status(status):
        return Outcome(RETRY, retry_after=resp.retry_after, reason=f"HTTP {status}", status=status)
    detail = resp.detail()
    reason = f"HTTP {status}: {format_detail(detail)}"
    if status in (401, 403):
        return Outcome(AUTH, reason=reason, status=status)
    if status == 413:
        parts = enc.split_body(body)
        if len(parts) > 1:
            return Outcome(REPLACE, bodies=parts, reason="HTTP 413: batch split in two", status=status)
    if status == 422:
        return refused_422(body, detail)
    return Outcome(DROP, reason=reason, dropped=[(r.get("metric_name"), reason) for r in _rows(body)[1]],
                   status=status)


# -- 422 ----------------------------------------------------------------------------------------
def _names_no_point(detail: Any) -> bool:
    """True when no issue's loc names a point (`["body","metrics"|"series",i,…]`)."""
    if not isinstance(detail, list):
        return True
    for d in detail:
        loc = d.get("loc") if isinstance(d, dict) else None
        if isinstance(loc, list) and len(loc) >= 3 and loc[1] in ("metrics", "series") and isinstance(loc[2], int):
            return False
    return True


def _rows(body: bytes) -> Tuple[Dict[str, Any], List[Dict[str, Any]], List[Tuple[int, int]]]:
    """(document, rows in row form, per series entry its [start, end) range in rows)."""
    doc = json.loads(body)
    rows, ranges = enc.body_rows(doc)
    return doc, rows, ranges


def _refused_indexes(detail: Any, n_rows: int, ranges: List[Tuple[int, int]]) -> Optional[Dict[int, str]]:
    """Row index → the server's reason, or None when an issue names no point (the whole batch)."""
    if not isinstance(detail, list) or not detail:
        return None
    offset = ranges[-1][1] if ranges else 0
    out: Dict[int, str] = {}
    for d in detail:
        loc = d.get("loc") if isinstance(d, dict) else None
        if not isinstance(loc, list) or len(loc) < 3 or loc[0] != "body" or not isinstance(loc[2], int):
            return None
        msg = f"{'.'.join(str(x) for x in loc[3:]) or 'point'}: {d.get('msg', 'refused')}"
        i = loc[2]
        if loc[1] == "metrics" and 0 <= offset + i < n_rows:
            out.setdefault(offset + i, msg)
        elif loc[1] == "series" and 0 <= i < len(ranges):
            start, end = ranges[i]
            if len(loc) >= 5 and loc[3] in _POINT_FIELDS and isinstance(loc[4], int) and start + loc[4] < end:
                out.setdefault(start + loc[4], msg)
            else:  # the entry's name, host or array lengths: every point of it
                for k in range(start, end):
                    out.setdefault(k, msg)
        else:
            return None
    return out


def derived_id(batch_id: Optional[str]) -> str:
    """The id of what is left of a batch after a 422: `<id>-r1`, then `<id>-r2`, … (deterministic)."""
    base = batch_id or enc.new_batch_id()
    m = re.search(r"-r(\d+)$", base)
    return f"{base[:m.start()]}-r{int(m.group(1)) + 1}" if m else f"{base}-r1"


def refused_422(body: bytes, detail: Any) -> Outcome:
    """Drop exactly the refused points (and any the SDK's own rules refuse) and re-send the rest."""
    doc, rows, ranges = _rows(body)
    refused = _refused_indexes(detail, len(rows), ranges)
    whole = f"batch refused: HTTP 422: {format_detail(detail)}"
    dropped: List[Tuple[str, str]] = []
    keep: List[Dict[str, Any]] = []
    for i, row in enumerate(rows):
        why = whole if refused is None else refused.get(i)
        if why is None:
            problem = point_problem(row)
            why = f"{problem[0]}: {problem[1]}" if problem else None
        if why is None:
            keep.append(row)
        else:
            dropped.append((row.get("metric_name"), why))
    if len(keep) == len(rows):  # nothing identifiable: sending it again would be refused again
        dropped = [(r.get("metric_name"), whole) for r in rows]
        keep = []
    if not keep:
        return Outcome(DROP, reason=whole, dropped=dropped, status=422)
    new = json.dumps({"batch_id": derived_id(doc.get("batch_id")), "metrics": keep},
                     separators=(",", ":")).encode()
    return Outcome(REPLACE, bodies=[new], reason=f"{len(dropped)} refused point(s) removed",
                   dropped=dropped, status=422)
