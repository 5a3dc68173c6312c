"""The design document's examples (`examples/`) run against a live server, and what they print and
what the server then holds are checked."""
from __future__ import annotations

import json
import os
import subprocess
import unittest
import urllib.request

from harness import REPO, LiveServer
from venvs import venv_python

EXAMPLES = os.path.join(REPO, "examples")
SERVER = None
PANDAS = None


def setUpModule():
    global SERVER, PANDAS
    PANDAS = venv_python("examples", ["pandas>=2", "requests>=2.28"])
    SERVER = LiveServer().start()


def tearDownModule():
    if SERVER:
        SERVER.cleanup()


def api(method: str, path: str, body=None):
    req = urllib.request.Request(SERVER.url + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {SERVER.api_key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def run_example(name: str, env: dict) -> str:
    full = dict(os.environ, ASSAY_API_URL=SERVER.url, ASSAY_API_KEY=SERVER.api_key, **env)
    r = subprocess.run([PANDAS, os.path.join(EXAMPLES, name)], env=full, cwd=EXAMPLES,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"{name} exited {r.returncode}:\n{r.stderr.decode()[-3000:]}")
    return r.stdout.decode()


class MetricAnalysisExample(unittest.TestCase):
    def test_pandas_example_verbatim_with_experiment_names(self):
        # exp-001 is the baseline: loss 2.0 → 1.0 and 0.5 (−50 %, −75 %), accuracy 0.5 → 0.6 and 0.75
        api("POST", "/projects", {"name": "pandas-example"})
        last = {"exp-001": (2.0, 0.5), "exp-002": (1.0, 0.6), "exp-003": (0.5, 0.75)}
        for name, (loss, acc) in last.items():
            api("POST", "/projects/pandas-example/experiments", {"name": name})
            api("POST", f"/metrics/batch/pandas-example/{name}", {"metrics": [
                {"metric_name": "loss", "metric_value": 9.0, "step": 0},
                {"metric_name": "loss", "metric_value": loss, "step": 1},
                {"metric_name": "accuracy", "metric_value": 0.1, "step": 0},
                {"metric_name": "accuracy", "metric_value": acc, "step": 1},
            ]})
        out = run_example("metric_analysis.py", {"ASSAY_PROJECT": "pandas-example"})
        pivot, improvements = out.split("Improvement over baseline:")
        rows = {l.split()[0]: l.split()[1:] for l in pivot.splitlines() if l.strip()}
        # the pivot: one row per metric, one column per experiment name, as the document prints it
        self.assertEqual(rows["experiment"], ["exp-001", "exp-002", "exp-003"])
        self.assertEqual([float(x) for x in rows["accuracy"]], [0.5, 0.6, 0.75])
        self.assertEqual([float(x) for x in rows["loss"]], [2.0, 1.0, 0.5])

        def percent(block: str) -> dict:
            return {l.split()[0]: float(l.split()[1]) for l in block.splitlines() if l.split()[:1] in (["loss"], ["accuracy"])}

        exp2, exp3 = improvements.split("exp-003:")
        self.assertEqual(percent(exp2), {"accuracy": 20.0, "loss": -50.0})
        self.assertEqual(percent(exp3), {"accuracy": 50.0, "loss": -75.0})

if __name__ == "__main__":
    unittest.main()
