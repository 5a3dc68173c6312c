"""The MLflow client's own cost of log_batch — the ceiling over any server's throughput figure:
the benchmark's 1,000-metric calls (mlflow_client_bench.py's `ingest`) made by the same client in
the same threads, with the HTTP request itself replaced by an instant 200 `{}` answer, so what is
timed is building the Metric objects, validation, protobuf and JSON encoding — no server involved.

  bench/.venv/bin/python bench/peers/mlflow_client_log_batch_floor.py --threads 8 --batches 200
"""
import argparse, json, os, threading, time, uuid

import requests
import mlflow.utils.rest_utils as rest_utils
from mlflow import MlflowClient
from mlflow.entities import Metric

TS = 1_700_000_000_000


def instant(**_kwargs) -> requests.Response:
    r = requests.Response()
    r.status_code = 200
    r._content = b"{}"
    r.headers["Content-Type"] = "application/json"
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--batches", type=int, default=200, help="1,000-metric calls in all")
    a = ap.parse_args()
    rest_utils.http_request = instant
    c = MlflowClient(tracking_uri="http://127.0.0.1:9")  # never contacted: http_request is replaced
    runs = [uuid.uuid4().hex for _ in range(a.threads)]
    per = a.batches // a.threads

    def ingest(k: int) -> None:
        for b in range(per):
            c.log_batch(runs[k], metrics=[Metric(f"m{j % 10}", float(j), TS + b, b * 100 + j // 10) for j in range(1000)])

    t0 = time.perf_counter()
    ts = [threading.Thread(target=ingest, args=(k,)) for k in range(a.threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    dt = time.perf_counter() - t0
    print(json.dumps({"threads": a.threads, "calls": per * a.threads, "seconds": round(dt, 3),
                      "client_only_metrics_per_s": round(per * a.threads * 1000 / dt), "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
