"""The server's acceptance rules (docs/contract.md), applied by the SDK: at the call, so a bad point
is refused where it is made, and to wire rows, so what is left of a batch after a 422 is re-checked
before it is sent again. Every number comes from the generated `_limits.py`.

Lengths are Unicode code points — Python's `len(str)`. A Python str can hold surrogate code points
(U+D800…U+DFFF, e.g. from `'\\ud800'` or `surrogateescape`); they are not Unicode text, cannot be
encoded as UTF-8 and are refused, like NUL, which PostgreSQL cannot store.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._limits import METRIC_NAME_MAX, NAME_MAX, STEP_MAX, TAGS_MAX, TIMESTAMP_MAX_MS

_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_FINITE = ("NaN", "Infinity", "-Infinity")
# ISO-8601 date-time with a mandatory offset (what the server's schema accepts).
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})$")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# The storable time range, as the messages say it (from TIMESTAMP_MAX_MS).
_TS_RANGE = "1970-01-01 … " + (_EPOCH + _dt.timedelta(milliseconds=TIMESTAMP_MAX_MS)).isoformat(
    timespec="milliseconds").replace("+00:00", "Z")


def name_problem(s: Any, field: str, max_len: int, min_len: int = 1) -> Optional[str]:
    """Why `s` is not acceptable as a name of min_len…max_len code points (None when it is).
    The messages are the server's (packages/contracts/src/limits.ts `nameProblem`)."""
    if not isinstance(s, str):
        return f"{field} must be a string"
    if "\x00" in s:
        return f"{field} must not contain NUL (\\u0000)"
    if _SURROGATE.search(s):
        return f"{field} must be valid Unicode (no unpaired surrogates)"
    n = len(s)
    if n < min_len or n > max_len:
        return f"{field} must be {min_len}–{max_len} characters (Unicode code points), got {n}"
    return None


def check_name(s: Any, field: str, max_len: int = NAME_MAX, min_len: int = 1) -> str:
    """`s` itself, or TypeError (not a str) / ValueError (refused) naming the rule."""
    problem = name_problem(s, field, max_len, min_len)
    if problem is None:
        return s
    if not isinstance(s, str):
        raise TypeError(f"{problem}, got {type(s).__name__}")
    raise ValueError(f"{problem}: {s[:60]!r}{'…' if len(s) > 60 else ''}")


def check_metric_name(name: Any) -> str:
    return check_name(name, "metric_name", METRIC_NAME_MAX)


def check_tags(tags: Optional[Sequence[str]]) -> Optional[List[str]]:
    """The tags, deduplicated in order; TypeError/ValueError by the server's rules."""
    if tags is None:
        return None
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, not one string")
    out = list(dict.fromkeys(check_name(t, "tag") for t in tags))
    if len(out) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags, got {len(out)}")
    return out


def check_step(step: int) -> int:
    if not 0 <= step <= STEP_MAX:
        raise ValueError(f"step must be an integer 0 … 2^53 − 1 ({STEP_MAX}), got {step}")
    return step


def timestamp_ms(seconds: float) -> int:
    """Epoch seconds → the integer milliseconds sent on the wire (rounded, never truncated)."""
    return round(seconds * 1000.0)


def check_timestamp_seconds(t: float, original: Any = None) -> float:
    if t != t or not 0 <= timestamp_ms(t) <= TIMESTAMP_MAX_MS:
        raise ValueError(f"timestamp must be {_TS_RANGE} "
                         f"(epoch ms 0 … {TIMESTAMP_MAX_MS}), got {original if original is not None else t!r}")
    return t


# -- wire rows (after a 422: what is left is checked again before it is re-sent) ------------------
def _int_like(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def iso_to_ms(s: str) -> Optional[int]:
    """Epoch ms of an ISO-8601 date-time with offset, or None when it is not one."""
    m = _ISO.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, off = m.groups()
    try:
        if off in ("Z", "z"):
            tz = _dt.timezone.utc
        else:
            sign = -1 if off[0] == "-" else 1
            digits = off[1:].replace(":", "")
            tz = _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        when = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), tzinfo=tz)
    except ValueError:
        return None
    delta = when - _EPOCH
    ms = (delta.days * 86400 + delta.seconds) * 1000
    return ms + (int((frac or "0")[:3].ljust(3, "0")) if ms >= 0 else 0)


def point_problem(row: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """(field, why) for the first field of a wire row the server would refuse, or None."""
    p = name_problem(row.get("metric_name"), "metric_name", METRIC_NAME_MAX)
    if p:
        return "metric_name", p
    step = row.get("step")
    if not _int_like(step) or not 0 <= step <= STEP_MAX:
        return "step", f"step must be an integer 0 … {STEP_MAX}"
    v = row.get("metric_value")
    if isinstance(v, bool) or not (isinstance(v, (int, float)) or v in _NON_FINITE):
        return "metric_value", 'metric_value must be a number or "NaN", "Infinity", "-Infinity"'
    ts = row.get("timestamp")
    if ts is not None:
        ms = ts if _int_like(ts) else iso_to_ms(ts) if isinstance(ts, str) else None
        if ms is None or not 0 <= ms <= TIMESTAMP_MAX_MS:
            return "timestamp", f"timestamp must be epoch ms or ISO-8601, {_TS_RANGE}"
    host = row.get("host")
    if host is not None:
        p = name_problem(host, "host", NAME_MAX, 0)
        if p:
            return "host", p
    return None
