"""Run MLflow's own REST tracking test module (tests/tracking/test_rest_tracking.py at the commit
pinned in manifest.json) against a live Assay server, with the pinned `mlflow` client.

    python3 python/tests/mlflow_upstream/run.py [--json out.json] [-k EXPR]

Sources: fetch.py (cache, verified by SHA-256). Client: full mlflow==3.17.2 + pytest in a cached
venv (venvs.py). Server: a LiveServer (harness.py) on its own temp data dir; each test gets a new
team (shim/tests/tracking/integration_test_utils.py); the tests of own_server.txt get a fresh Assay
started with the test's --default-artifact-root, as upstream does. Out-of-scope tests: skips.txt. Prints one
line per test (outcome, id, first line of the failure) and the counts."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from fetch import SourcesUnavailable, assemble, fetch, manifest  # noqa: E402
from harness import LiveServer  # noqa: E402
from venvs import venv_python  # noqa: E402

REQUIREMENTS = ["mlflow==3.17.2", "pytest==8.4.2"]
MODULE = "tests/tracking/test_rest_tracking.py"
SKIPS = os.path.join(HERE, "skips.txt")
OWN_SERVER = os.path.join(HERE, "own_server.txt")


def test_id(name: str) -> str:
    """`test_x[sqlalchemy-None]` -> `test_x[None]`: the backend parameter is always the same Assay."""
    return name.replace("[sqlalchemy]", "").replace("[sqlalchemy-", "[")


def parse_junit(path: str) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or child.text or "").strip()
            elif child.tag == "skipped":
                outcome, message = "skipped", (child.get("message") or "").strip()
        out[test_id(case.get("name", ""))] = {"outcome": outcome, "message": message.splitlines()[0][:300] if message else "",
                                             "seconds": float(case.get("time") or 0)}
    return out


def run(select: Optional[str] = None, timeout: float = 1800.0, against: str = "assay") -> dict:
    """{"results": {id: {outcome, message, seconds}}, "seconds": wall time of the pytest run}.
    against="mlflow": the baseline, every test against a real `mlflow server` of the pinned release."""
    files = fetch()
    python = venv_python("mlflow-upstream", REQUIREMENTS)
    work = tempfile.mkdtemp(prefix="mlflow-upstream-")
    server = None
    try:
        root = os.path.join(work, "root")
        assemble(root, files)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        if against == "mlflow":
            env["ASSAY_UPSTREAM_AGAINST"] = "mlflow"
        else:
            # in the test's working directory, as upstream's server is: a relative artifact_location
            # resolves against the server's cwd (test_create_get_search_experiment asserts it)
            server = LiveServer(team="upstream-owner").start(cwd=root)
            with open(os.path.join(server.data_dir, "server.json")) as f:
                env.update(ASSAY_URL=server.url, ASSAY_ADMIN_TOKEN=json.load(f)["admin_token"])
        env.update(ASSAY_UPSTREAM_SKIPS=SKIPS, ASSAY_UPSTREAM_OWN_SERVER=OWN_SERVER, ASSAY_HARNESS_DIR=os.path.dirname(HERE), TMPDIR=work,
                   # an Assay 5xx is a failure to report, not something to wait out over minutes of retries
                   MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="120",
                   PYTHONDONTWRITEBYTECODE="1")
        junit = os.path.join(work, "junit.xml")
        cmd = [python, "-m", "pytest", MODULE, "-p", "no:cacheprovider", "-q", "-rN", "--tb=line",
               f"--junitxml={junit}", "-o", "junit_family=xunit2", "-W", "ignore::DeprecationWarning"]
        if select:
            cmd += ["-k", select]
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        seconds = time.monotonic() - t0
        if not os.path.exists(junit):
            raise RuntimeError(f"pytest wrote no report (exit {r.returncode}):\n{r.stdout.decode()[-4000:]}")
        return {"results": parse_junit(junit), "seconds": round(seconds, 1), "pytest_tail": r.stdout.decode()[-2000:]}
    finally:
        if server:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def counts(results: Dict[str, dict]) -> Dict[str, int]:
    c = {"passed": 0, "failed": 0, "skipped": 0}
    for r in results.values():
        c[r["outcome"]] += 1
    return c


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the per-test results here")
    p.add_argument("-k", dest="select", help="pytest -k expression (a subset)")
    p.add_argument("--against", choices=["assay", "mlflow"], default="assay", help="mlflow: the baseline, a real `mlflow server` %s per test" % REQUIREMENTS[0])
    a = p.parse_args(argv)
    try:
        # a real mlflow server starts per test (~30-60 s each on a loaded 2-core machine)
        out = run(a.select, against=a.against, timeout=7200.0 if a.against == "mlflow" else 1800.0)
    except SourcesUnavailable as e:
        print(f"MLflow's test sources are not available: {e}", file=sys.stderr)
        return 2
    for name, r in sorted(out["results"].items()):
        print(f"{r['outcome']:8} {name}  {r['message']}")
    m = manifest()
    print(f"{counts(out['results'])} in {out['seconds']} s (against {a.against}; mlflow/mlflow@{m['commit'][:12]}, {m['client']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
