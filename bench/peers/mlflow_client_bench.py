"""MLflow-client figures for one tracking server (Assay's MLflow API or a real `mlflow server`),
driven by the real client. Two modes (both print one JSON object on the last stdout line):

  --seed N --experiment NAME   make the search experiment through the client, `--threads` at once
                               (Assay's fastest public path; mlflow_client_compare.py seeds MLflow's
                               SQLite through its own store instead, see seed_run below)
  (default)                    measure: log_batch throughput, create_run, get_run, search_runs over
                               the runs of experiment NAME

  MLFLOW_TRACKING_URI=http://127.0.0.1:8000 MLFLOW_TRACKING_TOKEN=<key> \\
    python bench/peers/mlflow_client_bench.py --experiment search-10k --batches 200 --threads 8
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # its telemetry thread races in threaded clients

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.utils.rest_utils import MlflowHostCreds, http_request  # noqa: E402

TS = 1_700_000_000_000
STEPS = 5  # each seeded metric has a short history: search compares the latest step's value
FILTER = "metrics.loss < 0.05 and params.lr = '0.01' and tags.team = 'a'"


def seed_run(i: int) -> dict:
    """What seeded run i holds (the same for both servers): 4 params, 2 tags, 3 metrics × STEPS steps."""
    loss = 1.0 / (1 + i % 97)
    return {
        "name": f"r{i}",
        "start_time": TS + i,
        "metrics": [Metric(k, v * (2 - s / STEPS), TS + s, s) for s in range(1, STEPS + 1)
                    for k, v in (("loss", loss), ("acc", (i % 89) / 89), ("val_loss", loss * 1.1))],
        "params": [Param("lr", ["0.1", "0.01", "0.001"][i % 3]), Param("bs", str(16 << (i % 4))),
                   Param("optimizer", ["adam", "sgd"][i % 2]), Param("dropout", str((i % 5) / 10))],
        "tags": [RunTag("team", ["a", "b"][i % 2]), RunTag("model", f"net{i % 7}")],
    }


def median_ms(fn, reps: int):
    fn()  # warm-up
    xs = []
    n = None
    for _ in range(reps):
        t0 = time.perf_counter()
        n = fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(xs), n


def seed(c: MlflowClient, a) -> dict:
    eid = c.create_experiment(a.experiment)

    def make(i: int) -> None:
        s = seed_run(i)
        r = c.create_run(eid, run_name=s["name"], start_time=s["start_time"])
        c.log_batch(r.info.run_id, metrics=s["metrics"], params=s["params"], tags=s["tags"])

    t = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(make, range(a.seed)))
    return {"seeded_runs": a.seed, "seed_seconds": time.perf_counter() - t}


def measure(c: MlflowClient, a) -> dict:
    out: dict = {}
    sid = c.get_experiment_by_name(a.experiment).experiment_id
    # the floor: the client's own cost of one call (requests session, retries, JSON) against an
    # endpoint that does nothing (Assay /healthz, MLflow /health)
    creds = MlflowHostCreds(os.environ["MLFLOW_TRACKING_URI"], token=os.environ.get("MLFLOW_TRACKING_TOKEN"))
    out["client_floor_ms"], _ = median_ms(lambda: http_request(creds, a.floor_path, "GET").raise_for_status(), a.reps * 10)

    # log_batch throughput: `threads` runs, each sent 1,000-metric batches (MLflow's cap) back to back
    eid = c.create_experiment(a.experiment + "-ingest")
    runs = [c.create_run(eid, run_name=f"ingest-{i}").info.run_id for i in range(a.threads)]
    per = max(1, a.batches // a.threads)

    def ingest(k: int) -> None:
        for b in range(per):
            c.log_batch(runs[k], metrics=[Metric(f"m{j % 10}", float(j), TS + b, b * 100 + j // 10) for j in range(1000)])

    t = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(ingest, range(a.threads)))
    dt = time.perf_counter() - t
    out.update(log_batch_metrics_per_s=per * a.threads * 1000 / dt, log_batch_calls=per * a.threads, log_batch_seconds=dt)

    # one client, one call at a time: the latency a training script sees
    small = [Metric("loss", 0.5, TS, 0), Metric("acc", 0.25, TS, 0)]
    out["log_batch_small_ms"], _ = median_ms(lambda: c.log_batch(runs[0], metrics=small), a.reps * 4)
    k = [0]

    def create() -> None:
        k[0] += 1
        c.create_run(eid, run_name=f"c{k[0]}", start_time=TS + k[0])

    out["create_run_ms"], _ = median_ms(create, a.reps * 4)
    first = c.search_runs([sid], max_results=1)[0].info.run_id
    out["get_run_ms"], _ = median_ms(lambda: len(c.get_run(first).data.metrics), a.reps * 4)

    def timed(label: str, fn) -> None:
        out[label + "_ms"], out[label + "_results"] = median_ms(fn, a.reps)

    timed("search_runs_first_100", lambda: len(c.search_runs([sid], max_results=100)))
    timed("search_runs_filter_order_100", lambda: len(c.search_runs([sid], FILTER, order_by=["metrics.acc DESC"], max_results=100)))
    timed("search_runs_page_1000", lambda: len(c.search_runs([sid], max_results=1000, order_by=["params.bs ASC"])))
    timed("search_runs_all", lambda: len(c.search_runs([sid], max_results=50_000)))
    # the same answers from both servers, not just the same counts: the filtered page's run names in order
    out["filter_order_names"] = [r.info.run_name for r in c.search_runs([sid], FILTER, order_by=["metrics.acc DESC", "attributes.run_name ASC"], max_results=20)]
    out["runs"] = out["search_runs_all_results"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", default="search")
    ap.add_argument("--seed", type=int, default=0, help="seed this many runs into --experiment and exit")
    ap.add_argument("--batches", type=int, default=200, help="log_batch calls (1000 metrics each) for throughput")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--floor-path", default="/health", help="a do-nothing endpoint of the server (Assay: /healthz)")
    a = ap.parse_args()
    c = MlflowClient()
    print(json.dumps(seed(c, a) if a.seed else measure(c, a)))


if __name__ == "__main__":
    main()
