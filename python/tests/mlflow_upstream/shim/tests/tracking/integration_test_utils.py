"""Assay's stand-in for MLflow's tests/tracking/integration_test_utils.py (not fetched: the upstream
helpers start `mlflow server` processes). `_init_server` is where the module gets its server, so
this is the one seam, as in FastTrackML's and mlflow-go-backend's runs of this module: instead of
starting MLflow it yields the live Assay URL, signed in as a team made for this call alone (each
test sees an empty tracking store, as with upstream's fresh server per test). The tests named in
own_server.txt assert the server's start-up options (--default-artifact-root): they get a fresh Assay
started with them, as upstream starts a server per test."""
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


def _current_test() -> str:
    """`test_x` of PYTEST_CURRENT_TEST (`path::test_x[param] (setup)`), set while its fixtures run."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0].split("[")[0]


def _own_server_tests() -> set:
    path = os.environ.get("ASSAY_UPSTREAM_OWN_SERVER")
    if not path:
        return set()
    with open(path) as f:
        return {line.split()[0] for line in f if line.strip() and not line.startswith("#")}


@contextlib.contextmanager
def _assay_server(root_artifact_uri) -> Iterator[str]:
    """A fresh Assay started the way upstream starts `mlflow server` for each test: with the test's
    --default-artifact-root (ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT), in the test's working directory."""
    sys.path.insert(0, os.environ["ASSAY_HARNESS_DIR"])
    from harness import LiveServer  # ours: python/tests/harness.py

    server = LiveServer(env={"ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT": root_artifact_uri}, team="upstream-own").start(cwd=os.getcwd())
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_TOKEN", "ASSAY_URL")}
    os.environ.update(MLFLOW_TRACKING_TOKEN=server.api_key, ASSAY_URL=server.url)
    try:
        yield server.url
    finally:
        server.cleanup()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, server_type=None) -> Iterator[str]:
    if os.environ.get("ASSAY_UPSTREAM_AGAINST") == "mlflow":
        with _mlflow_server(backend_uri, root_artifact_uri) as url:
            yield url
        return
    if _current_test() in _own_server_tests():
        with _assay_server(root_artifact_uri) as url:
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
