"""Value coercion (on the caller's thread, cheap) and batch encoding (on the batcher thread)."""
from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._checks import check_step, check_timestamp_seconds
_UTC = _dt.timezone.utc
_frepr = float.__repr__
_SPECIAL = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}
_FROM_WIRE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# -- caller-thread coercion (only reached when the fast `type(x) is float/int` test fails) ---------
def coerce_value(value: Any) -> float:
    """float for anything numeric: int, bool, numpy/torch scalars (via .item()), Decimal..."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"metric value must be a number, got {type(value).__name__} {value!r:.50}")
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (int, float)):
        try:
            value = item()
        except Exception as e:  # e.g. a tensor with more than one element
            raise TypeError(f"metric value {type(value).__name__} has no scalar .item(): {e}") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric value must be a number, got {type(value).__name__}") from None


def coerce_step(step: Any) -> int:
    """An int 0 … 2^53 − 1 from an int, an integral float or a numpy/torch scalar; TypeError for
    other types, ValueError out of range."""
    if isinstance(step, bool):
        raise TypeError("step must be an int, got bool")
    if isinstance(step, int):
        return check_step(int(step))
    item = getattr(step, "item", None)
    if item is not None:
        step = item()
    if isinstance(step, float):
        if not step.is_integer():
            raise TypeError(f"step must be an integer, got {step!r}")
        return check_step(int(step))
    try:
        return check_step(int(step.__index__()))
    except (TypeError, AttributeError):
        raise TypeError(f"step must be an int, got {type(step).__name__}") from None


def coerce_timestamp(ts: Any) -> float:
    """Epoch seconds (float). Accepts epoch seconds, epoch ms (> 1e11), datetime (naive = UTC),
    date and ISO-8601 strings. ValueError outside 1970-01-01 … 2106-02-07T06:28:15.999Z."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        t = float(ts)
    elif isinstance(ts, _dt.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=_UTC)
        t = ts.timestamp()
    elif isinstance(ts, _dt.date):
        t = _dt.datetime(ts.year, ts.month, ts.day, tzinfo=_UTC).timestamp()
    elif isinstance(ts, str):
        s = ts.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        d = _dt.datetime.fromisoformat(s)
        if d.tzinfo is None:
            d = d.replace(tzinfo=_UTC)
        t = d.timestamp()
    elif hasattr(ts, "item"):
        return coerce_timestamp(ts.item())
    else:
        raise TypeError(f"timestamp must be epoch seconds, datetime or ISO string, got {type(ts).__name__}")
    if t > 1e11:  # looks like epoch milliseconds
        t /= 1000.0
    return check_timestamp_seconds(t, ts)


# -- wire values --------------------------------------------------------------------------------
def encode_value(v: float) -> str:
    r = _frepr(v)
    return _SPECIAL.get(r, r)


def json_value(v: float) -> Any:
    """The JSON-able form of a float: numbers stay numbers, NaN/±Inf become the API's strings."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "Infinity"
    if v == -math.inf:
        return "-Infinity"
    return v


def decode_value(v: Any) -> Any:
    """Server value → Python: "NaN"/"Infinity"/"-Infinity" strings become floats."""
    if isinstance(v, str):
        return _FROM_WIRE.get(v, v)
    return v


def sanitize_json(obj: Any) -> Any:
    """Make an arbitrary nested config JSON-safe (NaN → "NaN", numpy scalars → numbers...)."""
    if isinstance(obj, float):
        return json_value(obj)
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, dict):
        return {str(k): sanitize_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [sanitize_json(v) for v in obj]
    if hasattr(obj, "item") and not hasattr(obj, "__len__"):
        try:
            return sanitize_json(obj.item())
        except Exception:
            pass
    if hasattr(obj, "tolist"):
        try:
            return sanitize_json(obj.tolist())
        except Exception:
            pass
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return str(obj)


# -- batches ------------------------------------------------------------------------------------
_name_cache: Dict[str, str] = {}


def quote_name(name: str) -> str:
    q = _name_cache.get(name)
    if q is None:
        q = json.dumps(name)
        if len(_name_cache) < 100_000:
            _name_cache[name] = q
    return q


# A "series" is (steps, values, timestamps_in_seconds) for one metric name.
Series = Tuple[List[int], List[float], List[float]]


def new_batch_id() -> str:
    return uuid.uuid4().hex


def encode_series_batch(batch_id: str, groups: Dict[str, Series], host: Optional[str] = None) -> bytes:
    """The columnar batch body `{batch_id, series: [{metric_name, steps, values, timestamps}]}`."""
    parts = []
    hostpart = ',"host":' + json.dumps(host) if host else ""
    for name, (steps, values, stamps) in groups.items():
        vs = ",".join(map(_frepr, values))
        if "n" in vs:  # nan / inf / -inf: the rare slow path
            vs = ",".join(map(encode_value, values))
        parts.append('{"metric_name":%s,"steps":[%s],"values":[%s],"timestamps":[%s]%s}' % (
            quote_name(name), ",".join(map(str, steps)), vs,
            ",".join([str(round(t * 1000.0)) for t in stamps]), hostpart))
    return ('{"batch_id":"%s","series":[%s]}' % (batch_id, ",".join(parts))).encode()


def encode_points_batch(batch_id: str, groups: Dict[str, Series], host: Optional[str] = None) -> bytes:
    """The row batch body `{batch_id, metrics: [{metric_name, metric_value, step, timestamp}]}`."""
    parts = []
    hostpart = ',"host":' + json.dumps(host) if host else ""
    for name, (steps, values, stamps) in groups.items():
        q = quote_name(name)
        for s, v, t in zip(steps, values, stamps):
            parts.append('{"metric_name":%s,"metric_value":%s,"step":%d,"timestamp":%d%s}' % (
                q, encode_value(v), s, round(t * 1000.0), hostpart))
    return ('{"batch_id":"%s","metrics":[%s]}' % (batch_id, ",".join(parts))).encode()


def body_rows(doc: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], List[Tuple[int, int]]]:
    """A batch document's points in row form — the columnar `series` entries first, a row per
    point, then the `metrics` rows — and per series entry its [start, end) range in the rows."""
    rows: List[Dict[str, Any]] = []
    ranges: List[Tuple[int, int]] = []
    for s in doc.get("series") or ():
        start = len(rows)
        steps = s.get("steps") or []
        values = s.get("values") or []
        stamps = s.get("timestamps") or []
        for j in range(max(len(steps), len(values))):
            row: Dict[str, Any] = {"metric_name": s.get("metric_name"),
                                   "metric_value": values[j] if j < len(values) else None,
                                   "step": steps[j] if j < len(steps) else None}
            if j < len(stamps) and stamps[j] is not None:
                row["timestamp"] = stamps[j]
            if s.get("host"):
                row["host"] = s["host"]
            rows.append(row)
        ranges.append((start, len(rows)))
    rows.extend(doc.get("metrics") or ())
    return rows, ranges


def series_body_to_points_body(body: bytes) -> bytes:
    """Convert a columnar body to the row form (fallback for servers without `series`)."""
    doc = json.loads(body)
    if "series" not in doc:
        return body
    out = {"batch_id": doc.get("batch_id"), "metrics": body_rows(doc)[0]}
    return json.dumps(out, separators=(",", ":")).encode()


def body_point_count(body: bytes) -> int:
    doc = json.loads(body)
    return sum(len(s.get("steps", ())) for s in doc.get("series", ())) + len(doc.get("metrics", ()))


def split_body(body: bytes) -> List[bytes]:
    """Split a batch body in two halves with batch ids derived from its own (`<id>-0`, `<id>-1`,
    so a replayed copy splits the same way), used after HTTP 413."""
    doc = json.loads(body)
    rows = body_rows(doc)[0]
    if len(rows) < 2:
        return [body]
    mid = len(rows) // 2
    base = doc.get("batch_id") or new_batch_id()
    return [json.dumps({"batch_id": f"{base[:100]}-{i}", "metrics": part}, separators=(",", ":")).encode()
            for i, part in enumerate((rows[:mid], rows[mid:]))]


def decode_points(points: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for p in points:
        if "value" in p:
            p["value"] = decode_value(p["value"])
    return list(points)


def decode_stats(stats: Dict[str, Any]) -> Dict[str, Any]:
    return {k: decode_value(v) for k, v in stats.items()}
