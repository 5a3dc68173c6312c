"""Side by side in one run: mlflow_client_bench.py against Assay's MLflow API and against a real
`mlflow server` (SQLite, loopback), both measured by the same MLflow client over the same runs.

Seeding is not measured; each side gets its fastest honest path, both at once: Assay through its
public API (the MLflow client, `--seed-threads` at once), MLflow through its own store on the
SQLite file its server then opens (mlflow_seed_store.py). Then Assay is measured (MLflow's server
not yet started), stopped, and MLflow's server is started and measured.

Prints a markdown table (ratio = Assay's advantage) and the raw JSON of both sides. Needs
bench/.venv with mlflow (npm run bench:peers). Example:
  bench/.venv/bin/python bench/peers/mlflow_client_compare.py --runs 10000 --batches 200 --threads 8
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
BENCH = os.path.join(HERE, "mlflow_client_bench.py")
ROWS = (  # key, label, unit, higher is better
    ("log_batch_metrics_per_s", "`log_batch` throughput, {threads} threads × 1,000-metric calls", "metrics/s", True),
    ("log_batch_small_ms", "`log_batch` of 2 metrics, one client (latency)", "ms", False),
    ("create_run_ms", "`create_run` (latency)", "ms", False),
    ("get_run_ms", "`get_run` (latency)", "ms", False),
    ("search_runs_first_100_ms", "`search_runs` first 100 of {runs:,} (default order)", "ms", False),
    ("search_runs_filter_order_100_ms", "`search_runs` metric+param+tag filter, ordered by a metric, 100", "ms", False),
    ("search_runs_page_1000_ms", "`search_runs` a 1,000-run page ordered by a param", "ms", False),
    ("search_runs_all_ms", "`search_runs` `max_results` 50,000 (all {runs:,})", "ms", False),
    ("client_floor_ms", "the client's floor: one call to a do-nothing endpoint", "ms", False),
)


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


def run_json(cmd: list, env_extra: dict | None = None, timeout: float = 7200) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", **(env_extra or {}))
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed:\n" + r.stderr.decode()[-3000:])
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def log(msg: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {msg} (load {load()})", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed-threads", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", default=os.environ.get("BENCH_MLFLOW_WORKERS", "4"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (both data sets)")
    a = ap.parse_args()
    measure_args = ["--experiment", "search", "--batches", str(a.batches), "--threads", str(a.threads), "--reps", str(a.reps)]
    work = tempfile.mkdtemp(prefix="mlflow-client-bench-")
    procs: list = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        db = os.path.join(work, "mlflow.db")
        log(f"seeding {a.runs} runs: MLflow through its store, Assay through its API ({work})")
        mseed = subprocess.Popen([sys.executable, os.path.join(HERE, "mlflow_seed_store.py"), db, os.path.join(work, "art"), "search", str(a.runs)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        data = os.path.join(work, "assay")
        team = subprocess.run(["node", ASSAY, "team", "create", "bench", "--data-dir", data], stdout=subprocess.PIPE, check=True, cwd=REPO)
        key = json.loads([x for x in team.stdout.decode().splitlines() if x.startswith("{")][-1])["api_key"]
        port = free_port()
        procs.append(subprocess.Popen(["node", ASSAY, "serve", "--port", str(port), "--data-dir", data], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{port}/readyz", procs[-1])
        assay_env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "MLFLOW_TRACKING_TOKEN": key}
        aseed = run_json([sys.executable, BENCH, "--experiment", "search", "--seed", str(a.runs), "--threads", str(a.seed_threads)], assay_env)
        log(f"Assay seeded in {aseed['seed_seconds']:.0f} s; waiting for MLflow's seed")
        out, _ = mseed.communicate(timeout=7200)
        if mseed.returncode != 0:
            raise SystemExit("MLflow seed failed")
        mseeded = json.loads(out.decode().strip().splitlines()[-1])
        log(f"MLflow seeded in {mseeded['seed_seconds']:.0f} s; measuring Assay")
        ours = run_json([sys.executable, BENCH, *measure_args, "--floor-path", "/healthz"], assay_env)
        procs[-1].terminate()
        procs[-1].wait(60)
        mport = free_port()
        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        procs.append(subprocess.Popen([mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", f"{work}/art",
                                       "--host", "127.0.0.1", "--port", str(mport), "--workers", a.workers], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{mport}/health", procs[-1])
        log("measuring mlflow server")
        theirs = run_json([sys.executable, BENCH, *measure_args, "--floor-path", "/health"], {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mport}"})
        log("done")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    same = ours["filter_order_names"] == theirs["filter_order_names"]
    print(f"Started {started}; {a.runs:,} runs seeded (Assay {aseed['seed_seconds']:.0f} s through its API with {a.seed_threads} client threads, "
          f"MLflow {mseeded['seed_seconds']:.0f} s through SqlAlchemyStore); load average at the end {load()}; mlflow server --workers {a.workers}; "
          f"same MLflow client, both on loopback. Filtered page identical on both: {same}.\n")
    print("| figure | Assay | mlflow server | Assay's advantage |\n|---|---|---|---|")
    for k, label, unit, higher in ROWS:
        x, y = ours[k], theirs[k]
        ratio = x / y if higher else y / x
        fmt = (lambda v: f"{v:,.0f}") if unit == "metrics/s" else (lambda v: f"{v:,.1f}")
        print(f"| {label.format(threads=a.threads, runs=ours['runs'])} | {fmt(x)} {unit} | {fmt(y)} {unit} | {ratio:.2f}× |")
    counts = {k: (ours[k], theirs[k]) for k in ours if k.endswith("_results")}
    print(f"\nresult counts (Assay, MLflow): {counts}")
    print("# raw: " + json.dumps({"assay": ours, "mlflow": theirs, "assay_seed": aseed, "mlflow_seed": mseeded}))


if __name__ == "__main__":
    main()
