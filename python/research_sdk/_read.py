"""Reading back: compare() and the pandas helpers (pandas is imported only when called)."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Union

from ._encode import decode_stats
from ._http import HttpClient


def _client(api_url: Optional[str], api_key: Optional[str]) -> HttpClient:
    return HttpClient(api_url or os.environ.get("ASSAY_API_URL") or "http://localhost:8000",
                      api_key or os.environ.get("ASSAY_API_KEY"))


def compare(project: str, experiments: Union[str, Iterable[str]], metric_names: Optional[Iterable[str]] = None,
            api_url: Optional[str] = None, api_key: Optional[str] = None) -> Dict[str, Any]:
    """Compare experiments (UUIDs or names) of a project (UUID or name).

    Returns {"project_id", "experiments": {identifier: {metric: {last, min, max, avg, count,
    ...}}}} with NaN/±Inf as floats, keyed by each experiment exactly as you passed it (a name
    stays a name, a UUID a UUID)."""
    exps = [experiments] if isinstance(experiments, str) else list(experiments)
    query: List[tuple] = [("project_id", project)] + [("experiment_ids", e) for e in exps]
    if metric_names is not None:
        names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
        query += [("metric_names", m) for m in names]
    c = _client(api_url, api_key)
    try:
        doc = c.call("POST", "/api/v1/metrics/compare", query=query)
    finally:
        c.close()
    doc["experiments"] = {eid: {m: decode_stats(st) for m, st in ms.items()}
                          for eid, ms in (doc.get("experiments") or {}).items()}
    return doc


def _pd():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install pandas") from None
    return pd


def timeseries_to_pandas(ts: Dict[str, Any]):
    """DataFrame with columns step, value, timestamp (datetime64, UTC)."""
    pd = _pd()
    df = pd.DataFrame(ts.get("points", []), columns=["step", "value", "timestamp"])
    if len(df):
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df.attrs["metric_name"] = ts.get("metric_name")
    return df


def summary_to_pandas(summary: Dict[str, Dict[str, Any]]):
    """DataFrame indexed by metric name (accepts exp.summary() or the raw summary response)."""
    pd = _pd()
    if "metrics" in summary and isinstance(summary.get("metrics"), dict):
        summary = summary["metrics"]
    df = pd.DataFrame.from_dict(summary, orient="index")
    df.index.name = "metric"
    return df


def compare_to_pandas(result: Dict[str, Any], value: str = "last"):
    """DataFrame metric × experiment of one statistic (default: last)."""
    pd = _pd()
    data = {ref: {m: st.get(value) for m, st in ms.items()}
            for ref, ms in result.get("experiments", {}).items()}
    df = pd.DataFrame(data)
    df.index.name = "metric"
    return df


def to_pandas(obj: Dict[str, Any], **kw: Any):
    """Any result of get_metric(), summary() or compare() → a pandas DataFrame."""
    if "points" in obj:
        return timeseries_to_pandas(obj)
    if "experiments" in obj:
        return compare_to_pandas(obj, **kw)
    return summary_to_pandas(obj)
