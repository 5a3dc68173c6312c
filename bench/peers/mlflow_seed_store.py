"""Seeds a `mlflow server`'s SQLite file through MLflow's own store (SqlAlchemyStore: the code its
server runs for CreateRun and LogBatch, without HTTP) — its fastest honest path; through its REST
API 10,000 runs take longer than the benchmark is worth. Same runs as mlflow_client_bench.seed_run.

  python mlflow_seed_store.py <sqlite file> <artifact root> <experiment name> <runs>
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

from mlflow_client_bench import seed_run  # noqa: E402


def main() -> None:
    db, art, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SqlAlchemyStore(f"sqlite:///{db}", art)
    eid = store.create_experiment(name)
    t = time.perf_counter()
    for i in range(n):
        s = seed_run(i)
        r = store.create_run(eid, user_id="bench", start_time=s["start_time"], tags=[], run_name=s["name"])
        store.log_batch(r.info.run_id, metrics=s["metrics"], params=s["params"], tags=s["tags"])
    print(json.dumps({"seeded_runs": n, "seed_seconds": time.perf_counter() - t}))


if __name__ == "__main__":
    main()
