#!/usr/bin/env python3
"""MLflow peer for `npm run bench`: the real tracking server (SQLite backend, `mlflow server` on
loopback, default workers) driven by MLflow's own Python client with the harness's workload.
Progress goes to stderr; the last stdout line is one JSON object the TS harness reads.

Usage: mlflow_driver.py '<json config>'  (keys: see DEFAULTS)
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # its telemetry races in threaded clients
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric  # noqa: E402
from mlflow.utils.rest_utils import MlflowHostCreds, http_request  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from curves import T0, STEP_MS, Curve, metric_names  # noqa: E402
from mlflow_server import MlflowServer  # noqa: E402

DEFAULTS = {
    "clients": 8,
    "ingest_runs": 8,
    "ingest_metrics": 100,
    "ingest_seconds": 20,
    "batch_points": 1000,  # MLflow rejects more than 1000 metrics per log_batch
    "series_points": 1_000_000,
    "max_points": 1000,
    "summary_metrics": 100,
    "summary_points": 20_000,
    "compare_runs": 100,
    "compare_metrics": 10,
    "compare_steps": 100,
    "reps": 30,
    "query_budget_s": 15,
    "full_history": True,  # one get_metric_history of the whole series (~60 s for 1M points)  # per query figure: stop repeating after this long (at least 1 call)
    "workdir": "",
    "keep": False,  # keep the temp dir (SQLite db, server.log); removed by default
}


def log(msg):
    print(f"mlflow: {msg}", file=sys.stderr, flush=True)


def timed_reps(fn, reps, budget_s):
    """Up to `reps` timed calls (ms) after one warmup, stopping once `budget_s` is spent."""
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1000
    out = []
    start = time.perf_counter()
    while len(out) < reps and (time.perf_counter() - start) < budget_s:
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out or [first]


def ingest(client, server, exp_id, cfg):
    """`clients` threads, each logging its own run with log_batch (≤1000 points), time-boxed."""
    nm = cfg["ingest_metrics"]
    names = metric_names(nm)
    steps_per_batch = max(1, min(cfg["batch_points"], 1000) // nm)
    runs = [client.create_run(exp_id, run_name=f"ingest-{i}").info.run_id for i in range(cfg["ingest_runs"])]
    acked = [0] * cfg["clients"]
    errors = [0] * cfg["clients"]
    stop_at = [0.0]
    barrier = threading.Barrier(cfg["clients"] + 1)

    def worker(i):
        cl = MlflowClient(server.url)
        run = runs[i % len(runs)]
        curves = [Curve(1000 + i, m, 1_000_000) for m in range(nm)]
        # untimed first call (step 0): the first request per client/worker is slow
        cl.log_batch(run, metrics=[Metric(names[m], curves[m].value(0), T0, 0) for m in range(nm)])
        step = 1
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            batch = []
            for s in range(step, step + steps_per_batch):
                ts = T0 + s * STEP_MS
                batch.extend(Metric(names[m], curves[m].value(s), ts, s) for m in range(nm))
            step += steps_per_batch
            try:
                cl.log_batch(run, metrics=batch)
                acked[i] += len(batch)
            except Exception as e:  # noqa: BLE001 — count and go on (SQLite "database is locked")
                errors[i] += 1
                if errors[i] <= 3:
                    log(f"log_batch error: {str(e)[:200]}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(cfg["clients"])]
    for t in threads:
        t.start()
    peak = [0]
    peak_rss = [0]
    sampling = [True]

    def sample():
        while sampling[0]:
            m = server.memory()
            peak[0] = max(peak[0], m["pss"])
            peak_rss[0] = max(peak_rss[0], m["rss"])
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    stop_at[0] = t0 + cfg["ingest_seconds"]
    sampler.start()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    sampling[0] = False
    sampler.join()
    total = sum(acked)
    return {
        "points": total,
        "seconds": elapsed,
        "points_per_s": total / elapsed,
        "errors": sum(errors),
        "clients": cfg["clients"],
        "batch_points": steps_per_batch * nm,
        "peak_pss_bytes": peak[0],
        "peak_rss_bytes": peak_rss[0],
    }


def bulk_load(db_path, run_id, names, steps, seed):
    """Loads read-benchmark data straight into MLflow's SQLite tables (metrics + latest_metrics):
    its API ingests ~6k points/s here, far too slow to load millions of points in a benchmark run."""
    db = sqlite3.connect(db_path, timeout=60)
    latest = []
    for m, name in enumerate(names):
        curve = Curve(seed, m, steps)
        vals = [curve.value(s) for s in range(steps)]
        db.executemany(
            "INSERT INTO metrics(key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,0)",
            ((name, vals[s], T0 + s * STEP_MS, run_id, s) for s in range(steps)),
        )
        latest.append((name, vals[-1], T0 + (steps - 1) * STEP_MS, steps - 1, 0, run_id))
    db.executemany("INSERT OR REPLACE INTO latest_metrics(key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)", latest)
    db.commit()
    db.close()


def main():
    cfg = {**DEFAULTS, **(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})}
    import mlflow

    workdir = cfg["workdir"] or tempfile.mkdtemp(prefix="assay-bench-mlflow-")
    db_path = os.path.join(workdir, "mlflow.db")
    out = {"version": mlflow.__version__, "workdir": workdir, "backend": "sqlite"}

    server, cold_ms = MlflowServer.start(workdir, db_path)
    out["cold_start_ms"] = cold_ms
    server.stop()
    server, warm_ms = MlflowServer.start(workdir, db_path)
    out["warm_start_ms"] = warm_ms
    out["workers"] = server.workers
    out["settle_s"] = server.settle()
    mem = server.memory()
    out["idle_pss_bytes"], out["idle_rss_bytes"], out["processes"] = mem["pss"], mem["rss"], mem["pids"]
    log(f"{mlflow.__version__} up: cold {cold_ms:.0f} ms, warm {warm_ms:.0f} ms, idle PSS {mem['pss'] / 2**20:.0f} MiB over {mem['pids']} processes (settled after {out['settle_s']:.0f} s)")
    try:
        client = MlflowClient(server.url)
        exp_id = client.create_experiment("bench")
        log(f"ingest: {cfg['clients']} clients × log_batch for {cfg['ingest_seconds']} s")
        out["ingest"] = ingest(client, server, exp_id, cfg)
        log(f"ingest: {out['ingest']['points_per_s']:.0f} points/s, {out['ingest']['errors']} errors")

        # 1M-point series: full get_metric_history (paginated by the client) and the sampled
        # endpoint MLflow's UI uses (get-history-bulk-interval, max_results ≈ max_points).
        n = cfg["series_points"]
        run = client.create_run(exp_id, run_name="series").info.run_id
        bulk_load(db_path, run, ["train/loss"], n, 7)
        got, full = 0, []
        if cfg["full_history"]:
            t = time.perf_counter()
            got = len(client.get_metric_history(run, "train/loss"))  # one call: ~60 s for 1M points
            full = [(time.perf_counter() - t) * 1000]
        creds = MlflowHostCreds(server.url)
        sample_n = min(cfg["max_points"], 2500)

        def sampled():
            r = http_request(creds, "/api/2.0/mlflow/metrics/get-history-bulk-interval", "GET",
                             params={"run_ids": [run], "metric_key": "train/loss", "max_results": sample_n})
            r.raise_for_status()
            return r

        out["series"] = {
            "points": n, "returned": got, "load": "sqlite-bulk",
            "full_history_ms": full,
            "sampled_max_results": sample_n,
            "sampled_ms": timed_reps(sampled, cfg["reps"], cfg["query_budget_s"]),
        }
        if full:
            log(f"series {n}: full get_metric_history {full[0]:.0f} ms")

        # Summary: MLflow's nearest equivalent is get_run (latest value per metric only).
        run = client.create_run(exp_id, run_name="summary").info.run_id
        bulk_load(db_path, run, metric_names(cfg["summary_metrics"]), cfg["summary_points"], 11)
        out["summary"] = {
            "metrics": cfg["summary_metrics"], "points_per_metric": cfg["summary_points"], "call": "get_run",
            "ms": timed_reps(lambda: client.get_run(run), cfg["reps"], cfg["query_budget_s"]),
        }

        # Compare: search_runs over N runs returns each run's latest metrics.
        cexp = client.create_experiment("compare")
        names = metric_names(cfg["compare_metrics"])
        for i in range(cfg["compare_runs"]):
            r = client.create_run(cexp, run_name=f"c{i}").info.run_id
            bulk_load(db_path, r, names, cfg["compare_steps"], 100 + i)
        cr = cfg["compare_runs"]

        def compare():
            runs = client.search_runs([cexp], max_results=max(cr, 1))
            assert len(runs) == cr, len(runs)

        out["compare"] = {
            "runs": cr, "metrics": cfg["compare_metrics"], "call": "search_runs",
            "ms": timed_reps(compare, cfg["reps"], cfg["query_budget_s"]),
        }

        db = sqlite3.connect(db_path)
        points = db.execute("SELECT count(*) FROM metrics").fetchone()[0]
        db.close()
        size = sum(os.path.getsize(db_path + s) for s in ("", "-wal", "-journal") if os.path.exists(db_path + s))
        out["disk"] = {"bytes": size, "points": points, "bytes_per_point": size / max(points, 1), "what": "SQLite file size / rows in metrics"}
    finally:
        server.stop()
        if not cfg["keep"] and not cfg["workdir"]:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
