"""MLflow-client figures for one tracking server (Assay's MLflow API or a real `mlflow server`),
driven by the real client: log_batch throughput and search_runs latency over many runs.
Prints one JSON object. Run it with a python that has mlflow (bench/.venv or the test venv):

  MLFLOW_TRACKING_URI=http://127.0.0.1:8000 MLFLOW_TRACKING_TOKEN=<key> \\
    python bench/peers/mlflow_client_bench.py --runs 10000 --batches 200 --threads 8
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10000, help="runs to create for search_runs")
    ap.add_argument("--batches", type=int, default=200, help="log_batch calls (1000 metrics each) for throughput")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--name", default=f"bench-{int(time.time())}")
    a = ap.parse_args()
    c = MlflowClient()
    out: dict = {}

    # log_batch throughput: `threads` runs, each sent batches of 1000 metrics (MLflow's cap) back to back
    eid = c.create_experiment(a.name + "-ingest")
    runs = [c.create_run(eid, run_name=f"ingest-{i}").info.run_id for i in range(a.threads)]
    per = max(1, a.batches // a.threads)
    ts = 1_700_000_000_000

    def ingest(k: int) -> None:
        rid = runs[k]
        for b in range(per):
            c.log_batch(rid, metrics=[Metric(f"m{j % 10}", float(j), ts + b, b * 100 + j // 10) for j in range(1000)])

    t = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(ingest, range(a.threads)))
    dt = time.perf_counter() - t
    out["log_batch_metrics_per_s"] = per * a.threads * 1000 / dt
    out["log_batch_calls"] = per * a.threads
    out["log_batch_seconds"] = dt

    # search_runs over `runs` runs: each with 2 params, a tag and 2 metrics (one log_batch per run)
    sid = c.create_experiment(a.name + "-search")
    lock = threading.Lock()
    made = [0]

    def make(i: int) -> None:
        r = c.create_run(sid, run_name=f"r{i}", start_time=ts + i)
        c.log_batch(r.info.run_id, metrics=[Metric("loss", 1.0 / (1 + i % 97), ts, 0), Metric("acc", (i % 89) / 89, ts, 0)],
                    params=[Param("lr", ["0.1", "0.01", "0.001"][i % 3]), Param("bs", str(16 << (i % 4)))], tags=[RunTag("team", ["a", "b"][i % 2])])
        with lock:
            made[0] += 1

    t = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(make, range(a.runs)))
    out["create_runs_seconds"] = time.perf_counter() - t
    out["runs"] = made[0]

    def timed(label: str, fn) -> None:
        fn()  # warm-up
        xs = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            n = fn()
            xs.append((time.perf_counter() - t0) * 1000)
        out[label + "_ms"] = statistics.median(xs)
        out[label + "_results"] = n

    timed("search_runs_first_100", lambda: len(c.search_runs([sid], max_results=100)))
    timed("search_runs_filter_order_100", lambda: len(c.search_runs([sid], "metrics.loss < 0.05 and params.lr = '0.01' and tags.team = 'a'", order_by=["metrics.acc DESC"], max_results=100)))
    timed("search_runs_page_1000", lambda: len(c.search_runs([sid], max_results=1000, order_by=["params.bs ASC"])))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
