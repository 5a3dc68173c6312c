"""Assay's stand-in for MLflow's tests/tracking/integration_test_utils.py (not fetched: the upstream
helpers start `mlflow server` processes). `_init_server` is where the module gets its server, so
this is the one seam, as in FastTrackML's and mlflow-go-backend's runs of this module: instead of
starting MLflow it yields the live Assay URL, signed in as a team made for this call alone (each
test sees an empty tracking store, as with upstream's fresh server per test)."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import requests

from assay_session import new_team  # ours, at the pytest root


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, server_type=None) -> Iterator[str]:
    old = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = new_team()
    try:
        yield os.environ["ASSAY_URL"]
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = old


def _send_rest_tracking_post_request(tracking_server_uri, api_path, json_payload, auth=None):
    """Same contract as upstream's helper: POST the JSON payload, return the response unchecked."""
    return requests.post(f"{tracking_server_uri}{api_path}", json=json_payload, auth=auth)
