"""Assay's stand-in for MLflow's tests/tracking/integration_test_utils.py (not fetched: the upstream
helpers start `mlflow server` processes). `_init_server` is where the module gets its server, so
this is the one seam, as in FastTrackML's and mlflow-go-backend's runs of this module: instead of
starting MLflow it yields the live Assay URL, signed in as a team made for this call alone (each
test sees an empty tracking store, as with upstream's fresh server per test)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Iterator

import requests

from assay_session import new_team  # ours, at the pytest root


@contextlib.contextmanager
def _mlflow_server(backend_uri, root_artifact_uri) -> Iterator[str]:
    """The baseline (run.py --against mlflow): a real `mlflow server` of the pinned release, as upstream starts it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server", "--backend-store-uri", backend_uri,
           "--default-artifact-root", root_artifact_uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {cmd}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, server_type=None) -> Iterator[str]:
    if os.environ.get("ASSAY_UPSTREAM_AGAINST") == "mlflow":
        with _mlflow_server(backend_uri, root_artifact_uri) as url:
            yield url
        return
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
