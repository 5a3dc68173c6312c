"""Seeds a `mlflow server`'s SQLite file through MLflow's own store: SqlAlchemyStore makes the
schema and the experiment, and the runs go in as the rows its create_run and log_batch write (its
ORM models: runs with the mlflow.runName/mlflow.user tags and artifact URI create_run sets, params,
tags, metrics, latest_metrics) in one transaction. Its own calls commit (and fsync) per call —
~30 ms per create_run on this machine, ~15 runs/s with log_batch under load — too slow for 10,000
runs in a benchmark. Same runs as mlflow_client_bench.seed_run.

  python mlflow_seed_store.py <sqlite file> <artifact root> <experiment name> <runs>
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import uuid  # noqa: E402

from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

from mlflow_client_bench import seed_run  # noqa: E402


def main() -> None:
    db, art, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SqlAlchemyStore(f"sqlite:///{db}", art)
    eid = store.create_experiment(name)
    root = store.get_experiment(eid).artifact_location
    t = time.perf_counter()
    with store.ManagedSessionMaker() as session:
        for i in range(n):
            s = seed_run(i)
            rid = uuid.uuid4().hex
            session.add(SqlRun(run_uuid=rid, name=s["name"], artifact_uri=f"{root}/{rid}/artifacts", experiment_id=eid, source_type="UNKNOWN",
                               source_name="", entry_point_name="", user_id="bench", status="RUNNING", start_time=s["start_time"], end_time=None,
                               deleted_time=None, source_version="", lifecycle_stage="active"))
            session.add_all([SqlTag(run_uuid=rid, key=k, value=v) for k, v in [("mlflow.runName", s["name"]), ("mlflow.user", "bench"), *((x.key, x.value) for x in s["tags"])]])
            session.add_all([SqlParam(run_uuid=rid, key=p.key, value=p.value) for p in s["params"]])
            latest = {}
            for m in s["metrics"]:
                session.add(SqlMetric(run_uuid=rid, key=m.key, value=m.value, timestamp=m.timestamp, step=m.step, is_nan=False))
                if m.key not in latest or m.step >= latest[m.key].step:
                    latest[m.key] = m
            session.add_all([SqlLatestMetric(run_uuid=rid, key=m.key, value=m.value, timestamp=m.timestamp, step=m.step, is_nan=False) for m in latest.values()])
            if i % 1000 == 999:
                session.flush()
    print(json.dumps({"seeded_runs": n, "seed_seconds": time.perf_counter() - t}))


if __name__ == "__main__":
    main()
