"""The client half of hypothesis evaluation. The server half is its own issue: until the server
has the hypotheses routes, evaluate()/get_result() raise NotSupportedError (never a fake result)."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional

from ._errors import APIError, NotSupportedError
from ._http import HttpClient, quote


class HypothesisEvaluator:
    """HypothesisEvaluator(project, hypothesis_id, baseline_experiment, target_metrics).

    evaluate() upserts the hypothesis (key = hypothesis_id) and asks the server to evaluate it;
    get_result() returns {'status': 'Supported'|'Refuted'|'Testing', 'evidence_score',
    'confidence', ...} as computed by the server.

    Routes used (project and hypothesis addressable by name/key):
      POST /api/v1/projects/{project}/hypotheses?if_exists=return
      POST /api/v1/projects/{project}/hypotheses/{hypothesis_id}/evaluate
      GET  /api/v1/projects/{project}/hypotheses/{hypothesis_id}
    """

    def __init__(self, project: str, hypothesis_id: str, baseline_experiment: str,
                 target_metrics: Iterable[str], candidate_experiments: Optional[Iterable[str]] = None,
                 statement: Optional[str] = None, confidence_threshold: Optional[float] = None,
                 api_url: Optional[str] = None, api_key: Optional[str] = None,
                 team_id: Optional[str] = None) -> None:
        self.project = project
        self.hypothesis_id = hypothesis_id
        self.baseline_experiment = baseline_experiment
        self.target_metrics: List[str] = list(target_metrics)
        self.candidate_experiments = list(candidate_experiments) if candidate_experiments else None
        self.statement = statement
        self.confidence_threshold = confidence_threshold
        self.api_url = (api_url or os.environ.get("ASSAY_API_URL") or "http://localhost:8000").rstrip("/")
        self.api_key = api_key or os.environ.get("ASSAY_API_KEY")
        self.team_id = team_id
        self._result: Optional[Dict[str, Any]] = None

    def _base(self) -> str:
        return f"/api/v1/projects/{quote(self.project)}/hypotheses"

    def _call(self, client: HttpClient, method: str, path: str, payload: Any = None, query: Any = None) -> Any:
        try:
            return client.call(method, path, payload, query=query)
        except APIError as e:
            if e.status in (404, 405, 501):
                raise NotSupportedError("hypotheses", e.status, e.detail, method, path) from None
            raise

    def _body(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"key": self.hypothesis_id, "baseline_experiment": self.baseline_experiment,
                                "target_metrics": self.target_metrics}
        if self.statement:
            body["statement"] = self.statement
        if self.candidate_experiments is not None:
            body["candidate_experiments"] = self.candidate_experiments
        if self.confidence_threshold is not None:
            body["confidence_threshold"] = self.confidence_threshold
        return body

    def evaluate(self) -> Dict[str, Any]:
        c = HttpClient(self.api_url, self.api_key)
        try:
            self._call(c, "POST", self._base(), self._body(), query={"if_exists": "return"})
            self._result = self._call(c, "POST", f"{self._base()}/{quote(self.hypothesis_id)}/evaluate")
            return self._result
        finally:
            c.close()

    def get_result(self) -> Dict[str, Any]:
        c = HttpClient(self.api_url, self.api_key)
        try:
            doc = self._call(c, "GET", f"{self._base()}/{quote(self.hypothesis_id)}")
        finally:
            c.close()
        self._result = doc
        return doc
