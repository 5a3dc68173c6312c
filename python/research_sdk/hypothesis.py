"""Hypotheses judged by evidence: the client of the server's hypotheses routes (README "Hypotheses
and evidence" has the statistics). pandas helpers import pandas only when called."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional

from ._errors import APIError, NotSupportedError
from ._http import HttpClient, quote

_COLUMNS = ["metric_name", "candidate_arm", "direction", "aggregation", "n_baseline", "n_candidate",
            "baseline_value", "candidate_value", "delta", "relative_delta", "method", "t", "df", "p_value",
            "confidence", "score", "verdict"]


class HypothesisEvaluator:
    """HypothesisEvaluator(project, hypothesis_id, baseline_experiment, target_metrics).

    evaluate() declares the hypothesis (key = hypothesis_id; an existing one takes the definition
    given here) and has the server evaluate it now; get_result() returns the latest evaluation:
    {'status': 'Supported'|'Refuted'|'Testing', 'evidence_score', 'confidence', 'message',
    'arms': [...], 'metrics': [...], ...}, or None before the first evaluation.

    Candidates: `candidate_experiments` (names or UUIDs), else `candidate_filter`
    ({"feature.path": [values]}), else every other run of the project. The baseline need not
    exist when the evaluator is created; at evaluate() a baseline that matches no experiment is an
    APIError (422) naming it.

    Routes (project by name or UUID, hypothesis by key or UUID):
      POST /api/v1/projects/{project}/hypotheses?if_exists=return
      POST /api/v1/projects/{project}/hypotheses/{hypothesis_id}/evaluate
      GET  /api/v1/projects/{project}/hypotheses/{hypothesis_id}        (with latest_evaluation)
      GET  /api/v1/projects/{project}/hypotheses/{hypothesis_id}/evaluations
    """

    def __init__(self, project: str, hypothesis_id: str, baseline_experiment: str,
                 target_metrics: Iterable[str], candidate_experiments: Optional[Iterable[str]] = None,
                 candidate_filter: Optional[Dict[str, List[Any]]] = None,
                 statement: Optional[str] = None, confidence_threshold: Optional[float] = None,
                 min_effect: Optional[float] = None,
                 api_url: Optional[str] = None, api_key: Optional[str] = None,
                 team_id: Optional[str] = None) -> None:
        self.project = project
        self.hypothesis_id = hypothesis_id
        self.baseline_experiment = baseline_experiment
        self.target_metrics: List[str] = list(target_metrics)
        self.candidate_experiments = list(candidate_experiments) if candidate_experiments else None
        self.candidate_filter = dict(candidate_filter) if candidate_filter else None
        self.statement = statement
        self.confidence_threshold = confidence_threshold
        self.min_effect = min_effect
        self.api_url = (api_url or os.environ.get("ASSAY_API_URL") or "http://localhost:8000").rstrip("/")
        self.api_key = api_key or os.environ.get("ASSAY_API_KEY")
        self.team_id = team_id
        self._result: Optional[Dict[str, Any]] = None

    def _base(self) -> str:
        return f"/api/v1/projects/{quote(self.project)}/hypotheses"

    def _one(self) -> str:
        return f"{self._base()}/{quote(self.hypothesis_id)}"

    def _call(self, method: str, path: str, payload: Any = None, query: Any = None) -> Any:
        c = HttpClient(self.api_url, self.api_key)
        try:
            return c.call(method, path, payload, query=query)
        except APIError as e:
            # The router's own 404 ("Not Found") means a server without these routes; any other
            # 404 ("Project not found", "Hypothesis not found") is the real answer.
            if e.status in (405, 501) or (e.status == 404 and e.detail == "Not Found"):
                raise NotSupportedError("hypotheses", e.status, e.detail, method, path) from None
            raise
        finally:
            c.close()

    def _body(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"key": self.hypothesis_id, "baseline_experiment": self.baseline_experiment,
                                "target_metrics": self.target_metrics,
                                "candidate_experiments": self.candidate_experiments,
                                "candidate_filter": self.candidate_filter}
        if self.statement:
            body["statement"] = self.statement
        if self.confidence_threshold is not None:
            body["confidence_threshold"] = self.confidence_threshold
        if self.min_effect is not None:
            body["min_effect"] = self.min_effect
        return body

    def save(self) -> Dict[str, Any]:
        """Create the hypothesis, or give the existing one this definition; returns it."""
        return self._call("POST", self._base(), self._body(), query={"if_exists": "return"})

    def evaluate(self) -> Dict[str, Any]:
        """Declare the hypothesis and evaluate it now; returns the evaluation."""
        self.save()
        self._result = self._call("POST", f"{self._one()}/evaluate")
        return self._result

    def get_result(self) -> Optional[Dict[str, Any]]:
        """The latest evaluation stored on the server (None before the first)."""
        doc = self._call("GET", self._one())
        self._result = doc.get("latest_evaluation")
        return self._result

    def info(self) -> Dict[str, Any]:
        """The stored hypothesis: definition, status, evidence score, confidence, latest evaluation."""
        return self._call("GET", self._one())

    def evaluations(self, limit: int = 20) -> List[Dict[str, Any]]:
        """Past evaluations, newest first."""
        return self._call("GET", f"{self._one()}/evaluations", query={"limit": limit})["items"]

    def evaluation_df(self, result: Optional[Dict[str, Any]] = None):
        """evaluation_frame() of `result` (default: the latest evaluation)."""
        return evaluation_frame(result if result is not None else (self._result or self.get_result() or {}))

    def compare_df(self, value: str = "last"):
        """The baseline and the candidates of the latest evaluation side by side (metric × experiment)."""
        from ._read import compare, compare_to_pandas
        result = self._result or self.get_result() or {}
        names = list((result.get("baseline") or {}).get("experiments") or [self.baseline_experiment])
        for arm in result.get("arms", []):
            names += [n for n in arm["experiments"] if n not in names]
        return compare_to_pandas(compare(self.project, names, self.target_metrics,
                                         api_url=self.api_url, api_key=self.api_key), value=value)


def evaluation_frame(result: Dict[str, Any]):
    """One row per target metric × candidate arm of an evaluation (pandas DataFrame)."""
    from ._read import _pd
    pd = _pd()
    rows = [{k: m.get(k) for k in _COLUMNS} for m in result.get("metrics", [])]
    df = pd.DataFrame(rows, columns=_COLUMNS)
    df.attrs.update({k: result.get(k) for k in ("status", "evidence_score", "confidence", "evaluated_at")})
    return df
