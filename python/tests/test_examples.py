"""The design document's examples (`examples/`) run against a live server, and what they print and
what the server then holds are checked: example 1 in Python and TypeScript (here), example 2 (the
pandas comparison, here), example 3 (hypothesis evidence: test_hypotheses.DesignExample3)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
import urllib.request

from harness import REPO, LiveServer, temp_dir
from venvs import venv_python

EXAMPLES = os.path.join(REPO, "examples")
SERVER = None
PANDAS = None


def setUpModule():
    global SERVER, PANDAS
    PANDAS = venv_python("examples", ["pandas>=2", "requests>=2.28"])
    # fsync off: example 1 flushes once per epoch (100 acknowledged inserts); durability is not under test here
    SERVER = LiveServer(env={"ASSAY_FSYNC": "off"}).start()


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

def simulated(step: int):
    """The examples' stand-in training step: (loss, accuracy) at `step`."""
    return 2.0 / (1.0 + step / 100.0), 1.0 - 0.5 / (1.0 + step / 100.0)


class ExperimentTrackingExample(unittest.TestCase):
    """Example 1, as a user runs it: from a scratch directory in a git work tree, against the team
    the document names ("team-123", the harness's team), placeholders from ASSAY_API_URL/KEY."""

    def run_in_scratch(self, argv):
        work = temp_dir(self, "assay-example1-")
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
                       cwd=work, check=True)
        env = dict(os.environ, ASSAY_API_URL=SERVER.url, ASSAY_API_KEY=SERVER.api_key,
                   ASSAY_SPOOL_DIR=os.path.join(work, ".spool"), PYTHONPATH=os.path.join(REPO, "python"))
        r = subprocess.run(argv, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        return r.stdout.decode()

    def check_run(self, name: str, out: str, artifact_path: str):
        self.assertEqual(out.splitlines(), [f"Epoch {e} completed" for e in range(100)] + ["Experiment tracking completed!"])
        info = api("GET", f"/projects/vision_transformer/experiments/{name}")
        self.assertEqual(info["status"], "complete")
        self.assertEqual(info["features"], {
            "model": {"architecture": "ViT-Base", "patch_size": 16, "hidden_dim": 768},
            "training": {"optimizer": "AdamW", "learning_rate": 1e-4, "batch_size": 256, "epochs": 100},
        })
        self.assertEqual(len(info["git"]["commit"]), 40)
        summary = api("GET", f"/metrics/summary/vision_transformer/{name}")["metrics"]
        loss, acc = simulated(999)
        for metric, last in (("loss", loss), ("accuracy", acc)):
            m = summary[metric]
            self.assertEqual((m["count"], m["first_step"], m["last_step"]), (1000, 0, 999))
            self.assertAlmostEqual(m["last"], last, places=12)
        # every step of the simulated loop, through the document's "secure" history path
        ts = api("GET", f"/metrics/secure/timeseries/vision_transformer/{name}/loss?limit=100000")
        self.assertEqual([p["step"] for p in ts["points"]], list(range(1000)))
        self.assertEqual([p["value"] for p in ts["points"][:3]], [simulated(s)[0] for s in range(3)])
        arts = api("GET", f"/projects/vision_transformer/experiments/{name}/artifacts")["items"]
        self.assertEqual([(a["path"], a["size"]) for a in arts], [(artifact_path, 21)])

    def test_python(self):
        out = self.run_in_scratch([sys.executable, os.path.join(EXAMPLES, "experiment_tracking.py")])
        # both SDKs store a directory's files under the directory's name
        self.check_run("vit_base_imagenet", out, "checkpoints/vit_base_epoch_99.pt")

    def test_typescript(self):
        tsx = os.path.join(REPO, "node_modules", ".bin", "tsx")
        out = self.run_in_scratch([tsx, os.path.join(EXAMPLES, "experiment_tracking.ts")])
        self.check_run("vit_base_imagenet_ts", out, "checkpoints/vit_base_epoch_99.pt")


if __name__ == "__main__":
    unittest.main()
