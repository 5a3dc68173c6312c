"""The Assay side of the run, imported by our conftest before MLflow's module is collected:
a fresh team per server the module asks for, and credentials on the module's raw HTTP calls."""
from __future__ import annotations

import itertools
import json
import os
import urllib.request

import requests

_teams = itertools.count(1)


def new_team() -> str:
    """A new team's API key, made through the local admin route (token from the data dir)."""
    body = json.dumps({"name": f"upstream-{os.getpid()}-{next(_teams)}"}).encode()
    req = urllib.request.Request(os.environ["ASSAY_URL"] + "/api/v1/admin/teams", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + os.environ["ASSAY_ADMIN_TOKEN"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["api_key"]


_original_request = requests.Session.request


def _request(self, method, url, *args, **kwargs):
    # The module's own requests.get/post calls carry no credentials (upstream's server runs without
    # auth); Assay always authenticates, so they get the current test's key, exactly as the MLflow
    # client itself sends it from MLFLOW_TRACKING_TOKEN. Explicit auth or headers are left alone.
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    assay = os.environ.get("ASSAY_URL")
    if token and assay and isinstance(url, str) and url.startswith(assay) and kwargs.get("auth") is None:
        headers = dict(kwargs.get("headers") or {})
        if not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = "Bearer " + token
            kwargs["headers"] = headers
    return _original_request(self, method, url, *args, **kwargs)


requests.Session.request = _request
