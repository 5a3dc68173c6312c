"""Side by side in one run: mlflow_client_bench.py against Assay's MLflow API and against a real
`mlflow server` (SQLite, loopback), both driven by the same MLflow client. Prints bench lines

    name value unit [mlflow <peer value>, <ratio>x]     (ratio = Assay's advantage)

Needs bench/.venv with mlflow (npm run bench:peers). Example:
  bench/.venv/bin/python bench/peers/mlflow_client_compare.py --runs 10000 --batches 200
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ASSAY = os.environ.get("BENCH_SERVER_BIN", os.path.join(REPO, "packages", "server", "bin", "assay.mjs"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"not ready: {url}")


def bench(uri: str, env_extra: dict, args: list) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=uri, **env_extra)
    r = subprocess.run([sys.executable, os.path.join(HERE, "mlflow_client_bench.py"), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=7200)
    if r.returncode != 0:
        raise SystemExit(r.stderr.decode()[-3000:])
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="10000")
    ap.add_argument("--batches", default="200")
    ap.add_argument("--threads", default="8")
    ap.add_argument("--reps", default="5")
    ap.add_argument("--workers", default=os.environ.get("BENCH_MLFLOW_WORKERS", "4"))
    a = ap.parse_args()
    args = ["--runs", a.runs, "--batches", a.batches, "--threads", a.threads, "--reps", a.reps]
    work = tempfile.mkdtemp(prefix="mlflow-client-bench-")
    procs = []
    try:
        data = os.path.join(work, "assay")
        team = subprocess.run(["node", ASSAY, "team", "create", "bench", "--data-dir", data], stdout=subprocess.PIPE, check=True, cwd=REPO)
        key = json.loads([x for x in team.stdout.decode().splitlines() if x.startswith("{")][-1])["api_key"]
        port = free_port()
        procs.append(subprocess.Popen(["node", ASSAY, "serve", "--port", str(port), "--data-dir", data], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{port}/readyz", procs[-1])
        ours = bench(f"http://127.0.0.1:{port}", {"MLFLOW_TRACKING_TOKEN": key}, args)
        procs[-1].terminate()
        mport = free_port()
        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        procs.append(subprocess.Popen([mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--artifacts-destination", f"{work}/art",
                                       "--host", "127.0.0.1", "--port", str(mport), "--workers", a.workers], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{mport}/health", procs[-1])
        theirs = bench(f"http://127.0.0.1:{mport}", {}, args)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"# runs={ours['runs']} log_batch_calls={ours['log_batch_calls']} threads={a.threads} mlflow_workers={a.workers} (same MLflow client, both servers on loopback)")
    for name, unit, higher in (("log_batch_metrics_per_s", "metrics/s", True), ("create_runs_seconds", "s", False),
                               ("search_runs_first_100_ms", "ms", False), ("search_runs_filter_order_100_ms", "ms", False), ("search_runs_page_1000_ms", "ms", False)):
        x, y = ours[name], theirs[name]
        ratio = x / y if higher else y / x
        print(f"mlflow_client.{name} {x:.1f} {unit} [mlflow {y:.1f}, {ratio:.2f}x]")
    print("# raw: " + json.dumps({"assay": ours, "mlflow": theirs}))


if __name__ == "__main__":
    main()
