"""The real `mlflow` client (3.17.2, in a cached venv) against a live Assay server, unmodified: every
tracking call Assay's MLflow API supports (mlflow_compat_driver.py), the results asserted exactly;
then the same script against a real `mlflow server` (SQLite) and both outputs compared key by key.
ASSAY_MLFLOW_COMPARE=0 skips the comparison (it installs full mlflow, in the venv that also holds the
frameworks test_mlflow_autolog.py drives, once and starts its server)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from typing import Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LiveServer, free_port, server_available  # noqa: E402
from venvs import venv_python  # noqa: E402

MLFLOW_VERSION = "3.17.2"
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlflow_compat_driver.py")
OFFLINE_HINTS = ("NewConnectionError", "Temporary failure in name resolution", "No matching distribution", "ConnectTimeout", "Network is unreachable")


# The full client (its server, the autologging integrations and the scikit-learn they use) plus
# LightGBM, Keras on JAX and transformers (its MLflowCallback) for test_mlflow_autolog.py: one venv for both.
MLFLOW_FULL = [f"mlflow=={MLFLOW_VERSION}", "lightgbm==4.6.0", "keras==3.15.1", "jax[cpu]==0.10.2", "transformers==5.24.0"]


def client_python(*requirements: str) -> str:
    """The venv interpreter, or a loud skip when PyPI cannot be reached (any other failure is an error)."""
    try:
        return venv_python("mlflow-" + requirements[0].split("==")[0], list(requirements))
    except RuntimeError as e:
        if any(h in str(e) for h in OFFLINE_HINTS):
            msg = f"!!! SKIPPED: cannot install {' '.join(requirements)} from PyPI (offline?) — the MLflow compatibility tests did NOT run !!!"
            print("\n" + msg, file=sys.stderr)
            raise unittest.SkipTest(msg)
        raise


def run_driver(python: str, env: dict, suffix: str, driver: str = DRIVER, tmp_root: str = "") -> dict:
    tmp = tempfile.mkdtemp(prefix="driver-", dir=tmp_root or TMP)
    out = os.path.join(tmp, "out.json")
    # the client's own temp files (downloads, uploads) go under TMP too, removed with it
    r = subprocess.run([python, driver, suffix, out], env={**env, "TMPDIR": tmp}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"driver failed ({r.returncode}):\n{r.stderr.decode()[-4000:]}")
    with open(out) as f:
        return json.load(f)


def mlflow_env(uri: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=uri, TMPDIR=TMP, **extra)
    return env


@contextlib.contextmanager
def real_mlflow_server(full_python: str, work_root: str) -> Iterator[str]:
    """`mlflow server` of the full client's venv on SQLite and a local artifact store; yields its URL."""
    work = tempfile.mkdtemp(prefix="mlflow-server-", dir=work_root)
    port = free_port()
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen([os.path.join(os.path.dirname(full_python), "mlflow"), "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
                             "--artifacts-destination", f"{work}/artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env={**mlflow_env(""), "TMPDIR": work}, cwd=work)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow server did not start: {open(log.name).read()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


SERVER: LiveServer | None = None
PYTHON = ""
OUT: dict = {}
TMP = ""


def setUpModule() -> None:
    global SERVER, PYTHON, OUT, TMP
    TMP = tempfile.mkdtemp(prefix="mlflow-compat-")
    try:
        if not server_available():
            raise unittest.SkipTest("node or the Assay server is not available")
        PYTHON = client_python(f"mlflow-skinny=={MLFLOW_VERSION}")
        SERVER = LiveServer(team="mlflow-compat").start()
        OUT = run_driver(PYTHON, mlflow_env(SERVER.url, MLFLOW_TRACKING_TOKEN=SERVER.api_key), "t1")
    except BaseException:
        tearDownModule()  # unittest skips tearDownModule when setUpModule raises
        raise


def tearDownModule() -> None:
    if SERVER:
        SERVER.stop()
        SERVER.cleanup()
    shutil.rmtree(TMP, ignore_errors=True)


def assay_get(path: str) -> dict:
    req = urllib.request.Request(SERVER.url + path, headers={"Authorization": f"Bearer {SERVER.api_key}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class MlflowClientAgainstAssay(unittest.TestCase):
    def test_experiments(self) -> None:
        self.assertEqual(OUT["set_experiment.name"], "compat-t1")
        self.assertTrue(OUT["set_experiment.again_same_id"])
        self.assertEqual(OUT["get_experiment.name"], "compat-other-t1")
        self.assertTrue(OUT["get_experiment_by_name.same_id"])
        self.assertIsNone(OUT["get_experiment_by_name.missing"])
        self.assertEqual(OUT["create_experiment.duplicate"], "RESOURCE_ALREADY_EXISTS")
        self.assertEqual(OUT["get_experiment.unknown"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(OUT["search_experiments.like"], ["compat-other-t1", "compat-t1"])
        self.assertEqual(OUT["search_experiments.order"], ["compat-t1", "compat-other-t1"])

    def test_run_a_params_metrics_tags_inputs(self) -> None:
        a = OUT["get_run.a"]
        self.assertEqual(a["status"], "FINISHED")
        self.assertEqual((a["run_name"], a["runName_tag"], a["lifecycle"]), ("run-a", "run-a", "active"))
        self.assertTrue(a["has_end_time"])
        self.assertTrue(a["experiment_id_matches"])
        self.assertEqual(a["params"], {"batch_size": "32", "dropout": "0.1", "lr": "0.01", "optimizer": "adam"})
        self.assertEqual(a["metrics"], {"acc": 0.9, "async_metric": 4.5, "batch_m": 49.0, "f1": 0.8, "loss": 0.1})
        self.assertEqual(a["tags"], {"batch_tag": "yes", "stage": "dev", "team": "vision"})
        self.assertEqual(a["inputs"], [["train", "abc123", [["mlflow.data.context", "training"]]]])
        self.assertEqual(OUT["start_run.status"], "RUNNING")
        self.assertEqual(OUT["change_param"], "INVALID_PARAMETER_VALUE")
        self.assertEqual(OUT["same_param_again"], "OK")
        self.assertEqual(OUT["delete_tag.missing"], "RESOURCE_DOES_NOT_EXIST")

    def test_statuses_and_rename(self) -> None:
        self.assertEqual(OUT["get_run.b.status"], "FAILED")
        self.assertEqual(OUT["get_run.c"], {"run_name": "run-c-renamed", "start_time": 1700000000000, "status": "KILLED"})
        self.assertEqual(OUT["get_run.unknown"], "RESOURCE_DOES_NOT_EXIST")

    def test_histories(self) -> None:
        t0 = 1700000000000
        self.assertEqual(OUT["history.loss"], [[i, 1.0 / (i + 1), t0 + i] for i in range(10)])
        self.assertEqual(OUT["history.async"], [[2, 3.5], [3, 4.5]])
        self.assertEqual(OUT["history.batch_m.len"], 50)
        expected = sorted([[True, i, 1.0 / (i + 1)] for i in range(10)] + [[False, i, 0.1 / (i + 1)] for i in range(5)])
        self.assertEqual([[x[0], x[1], round(x[2], 12)] for x in OUT["bulk_interval"]], [[x[0], x[1], round(x[2], 12)] for x in expected])

    def test_search_runs(self) -> None:
        self.assertEqual(OUT["search.all_default_order"], ["run-b", "run-a", "run-c-renamed"])
        self.assertEqual(OUT["search.metric_lt"], ["run-a", "run-b"])
        self.assertEqual(OUT["search.param_eq"], ["run-a"])
        self.assertEqual(OUT["search.tag_like"], ["run-a", "run-c-renamed"])
        self.assertEqual(OUT["search.tag_ilike"], ["run-a", "run-c-renamed"])
        self.assertEqual(OUT["search.status"], ["run-b"])
        self.assertEqual(OUT["search.in"], ["run-a", "run-b"])
        self.assertEqual(OUT["search.and"], ["run-a"])
        self.assertEqual(OUT["search.order_metric_asc"], ["run-b", "run-a", "run-c-renamed"])
        self.assertEqual(OUT["search.order_param_desc"], ["run-b", "run-a", "run-c-renamed"])
        self.assertEqual(OUT["search.bad_filter"], "INVALID_PARAMETER_VALUE")
        self.assertEqual(OUT["search.paged"], [["run-a"], ["run-b"], ["run-c-renamed"]])
        self.assertEqual(OUT["search_runs.fluent_df_rows"], 3)

    def test_delete_restore(self) -> None:
        self.assertEqual(OUT["delete_run.search_active"], ["run-a", "run-c-renamed"])
        self.assertEqual(OUT["delete_run.search_deleted"], ["run-b"])
        self.assertEqual(OUT["delete_run.lifecycle"], "deleted")
        self.assertEqual(OUT["restore_run.lifecycle"], "active")

    def test_experiment_tags_rename_default(self) -> None:
        self.assertEqual(OUT["default.get"], ["Default", "active"])
        self.assertEqual((OUT["default.by_name"], OUT["default.in_search"]), ("Default", True))
        self.assertEqual(OUT["exp_tags.get"], {"dataset": "birds", "empty": "", "multi": "a\nb"})
        self.assertEqual(OUT["exp_tags.delete_missing"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(OUT["exp_tags.search"], ["life-t1"])
        self.assertEqual((OUT["rename.name"], OUT["rename.taken"]), ("life-renamed-t1", "BAD_REQUEST"))

    def test_delete_restore_experiment(self) -> None:
        self.assertEqual(OUT["delete_experiment.lifecycle"], ["deleted", "deleted"])
        self.assertEqual(OUT["delete_experiment.search"], {"ACTIVE_ONLY": [], "DELETED_ONLY": ["life-renamed-t1"], "ALL": ["life-renamed-t1"]})
        self.assertEqual(OUT["delete_experiment.run_lifecycle"], "deleted")
        self.assertEqual(OUT["delete_experiment.search_runs"], {"ACTIVE_ONLY": [], "DELETED_ONLY": ["inside"]})
        for k in ("log_metric", "create_run", "set_tag"):
            self.assertEqual(OUT[f"delete_experiment.{k}"], "INVALID_PARAMETER_VALUE", k)
        self.assertEqual(OUT["delete_experiment.same_name"], "RESOURCE_ALREADY_EXISTS")
        self.assertEqual(OUT["delete_experiment.again"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(OUT["delete_experiment.set_experiment"], ["INVALID_PARAMETER_VALUE", True])
        self.assertEqual(OUT["restore_experiment.lifecycle"], ["active", "active"])
        self.assertEqual(OUT["restore_experiment.again"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(OUT["restore_experiment.log_metric"], "OK")
        # Assay's own API: the restored project is listed again, with its run
        exps = assay_get("/api/v1/projects/life-renamed-t1/experiments")["items"]
        self.assertEqual([e["name"] for e in exps], ["inside"])

    def test_artifacts(self) -> None:
        self.assertEqual(OUT["list_artifacts.root"], [["checkpoints", True, None], ["notes.txt", False, 17]])
        self.assertEqual(OUT["list_artifacts.sub"], [["checkpoints/inner", True, None], ["checkpoints/w0.bin", False, 2]])
        self.assertEqual(OUT["download_artifacts.dir"], {"inner/w1.bin": "w1-longer", "w0.bin": "w0"})
        self.assertEqual(OUT["download_artifacts.file"], "hello from run a\n")

    def test_artifact_locations(self) -> None:
        self.assertEqual(OUT["artifact_location.s3"], ["s3://compat-bucket/t1/", "s3://compat-bucket/t1/<run>/artifacts"])
        self.assertEqual(OUT["artifact_location.file"], ["file://<tmp>", "file://<tmp>/<run>/artifacts"])
        self.assertEqual(OUT["artifact_location.file_written"], ["a.txt"])
        self.assertEqual(OUT["artifact_location.file_listed"], [["a.txt", 11]])
        self.assertEqual(OUT["artifact_location.relative"], [True, True])
        self.assertEqual(OUT["artifact_location.proxy"], ["mlflow-artifacts:/custom/t1", "mlflow-artifacts:/custom/t1/<run>/artifacts", [["a.txt", 11]]])
        self.assertEqual(OUT["artifact_location.runs_uri"], "INVALID_PARAMETER_VALUE")

    def test_logged_models(self) -> None:
        self.assertEqual(OUT["logged_model"], {"model_type": "classifier", "name": "clf", "params": {"C": "1.0"}, "source_run_matches": True, "status": "READY", "tags": {"flavor": "sk"}})
        self.assertEqual(OUT["logged_model.search"], ["clf"])
        self.assertEqual(OUT["logged_model.artifacts"], ["MLmodel"])
        self.assertEqual(OUT["logged_model.download"], "flavors: {}\n")
        self.assertEqual(OUT["run_outputs"], [[True, 9]])

    def test_mlflow_data_is_ordinary_assay_data(self) -> None:
        exps = assay_get("/api/v1/projects/compat-t1/experiments?limit=100")["items"]
        self.assertEqual(sorted(e["name"] for e in exps), ["run-a", "run-b", "run-c-renamed"])
        a = next(e for e in exps if e["name"] == "run-a")
        self.assertEqual(a["status"], "complete")
        self.assertEqual({k: v for k, v in a["features"].items() if k != "mlflow"}, {"batch_size": "32", "dropout": "0.1", "lr": "0.01", "optimizer": "adam"})
        self.assertEqual(a["features"]["mlflow"]["tags"]["team"], "vision")
        summary = assay_get(f"/api/v1/metrics/summary/compat-t1/{a['id']}")["metrics"]
        self.assertEqual((summary["loss"]["count"], summary["loss"]["last"], summary["loss"]["min"]), (10, 0.1, 0.1))
        c = next(e for e in exps if e["name"] == "run-c-renamed")
        self.assertEqual(c["status"], "crashed")

    def test_auth_basic_and_bad_key(self) -> None:
        probe = "from mlflow import MlflowClient; print(sorted(e.name for e in MlflowClient().search_experiments()))"
        ok = subprocess.run([PYTHON, "-c", probe], env=mlflow_env(SERVER.url, MLFLOW_TRACKING_USERNAME="anyone", MLFLOW_TRACKING_PASSWORD=SERVER.api_key),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(ok.returncode, 0, ok.stderr.decode()[-2000:])
        self.assertEqual(ok.stdout.decode().strip(), "['Default', 'compat-other-t1', 'compat-t1', 'life-renamed-t1', 'loc-file-t1', 'loc-proxy-t1', 'loc-rel-t1', 'loc-s3-t1']")
        bad = subprocess.run([PYTHON, "-c", probe], env=mlflow_env(SERVER.url, MLFLOW_TRACKING_TOKEN="assay_wrong", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("UNAUTHENTICATED: Invalid or revoked API key", bad.stderr.decode())


@unittest.skipIf(os.environ.get("ASSAY_MLFLOW_COMPARE") == "0", "ASSAY_MLFLOW_COMPARE=0: comparison with a real mlflow server skipped")
@unittest.skipIf(bool(os.environ.get("DATABASE_URL")), "comparison with mlflow server runs in the embedded-store pass (the Assay side of it does not depend on DATABASE_URL)")
class SameScriptAgainstMlflowServer(unittest.TestCase):
    """Every normalised result of the driver is identical from Assay and from `mlflow server` (SQLite)."""

    def test_outputs_equal(self) -> None:
        with real_mlflow_server(client_python(*MLFLOW_FULL), TMP) as url:
            theirs = run_driver(PYTHON, mlflow_env(url), "t1")
        diffs = {k: (OUT.get(k), theirs.get(k)) for k in set(OUT) | set(theirs) if OUT.get(k) != theirs.get(k)}
        self.assertEqual(diffs, {}, "results that differ between Assay and mlflow server (assay, mlflow)")
        self.assertEqual(len(OUT), 75)


if __name__ == "__main__":
    unittest.main()
