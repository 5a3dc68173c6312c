"""The framework integrations a team's unchanged training code calls — MLflow's autologging
(`mlflow.sklearn.autolog()`, `mlflow.lightgbm.autolog()`, `mlflow.keras.autolog()`) and Hugging
Face's `MLflowCallback` — against a live Assay server, through the real full client (3.17.2, with
scikit-learn, LightGBM, Keras on JAX and transformers in a cached venv). mlflow_autolog_driver.py
trains three models and drives the callback, then reads back params, metric histories, tags,
artifacts and the logged models (loaded again and used to predict); the same script's output from a
real `mlflow server` must be the same. Autologging turns a rejected call into a warning and trains
on, so the driver also reports every failure it logged (must be none)."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LiveServer, server_available  # noqa: E402
from test_mlflow_compat import MLFLOW_FULL, client_python, mlflow_env, real_mlflow_server, run_driver  # noqa: E402

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlflow_autolog_driver.py")
SERVER: LiveServer | None = None
PYTHON = ""
OUT: dict = {}
TMP = ""


def setUpModule() -> None:
    global SERVER, PYTHON, OUT, TMP
    TMP = tempfile.mkdtemp(prefix="mlflow-autolog-")
    try:
        if not server_available():
            raise unittest.SkipTest("node or the Assay server is not available")
        PYTHON = client_python(*MLFLOW_FULL)
        SERVER = LiveServer(team="mlflow-autolog").start()
        OUT = run_driver(PYTHON, {**mlflow_env(SERVER.url, MLFLOW_TRACKING_TOKEN=SERVER.api_key), "TMPDIR": TMP}, "a1", DRIVER, TMP)
    except BaseException:
        tearDownModule()  # unittest skips tearDownModule when setUpModule raises
        raise


def tearDownModule() -> None:
    if SERVER:
        SERVER.stop()
        SERVER.cleanup()
    shutil.rmtree(TMP, ignore_errors=True)


class AutologAgainstAssay(unittest.TestCase):
    def test_no_autologging_failures(self) -> None:
        self.assertEqual(OUT["autolog_warnings"], [])
        self.assertEqual(OUT["search_runs"], ["keras", "lightgbm", "sklearn", "transformers"])

    def test_sklearn(self) -> None:
        sk = OUT["sklearn"]
        self.assertEqual(sk["status"], "FINISHED")
        self.assertEqual((sk["params"]["C"], sk["params"]["max_iter"], sk["params"]["solver"]), ("0.5", "300", "lbfgs"))
        self.assertEqual(sk["metric_keys"], ["training_accuracy_score", "training_f1_score", "training_log_loss", "training_precision_score",
                                             "training_recall_score", "training_roc_auc", "training_score"])
        self.assertEqual(sk["tags"], {"estimator_class": "sklearn.linear_model._logistic.LogisticRegression", "estimator_name": "LogisticRegression"})
        self.assertEqual(sk["artifacts"], ["estimator.html", "training_confusion_matrix.png", "training_precision_recall_curve.png", "training_roc_curve.png"])
        self.assertEqual(sk["inputs"], [["dataset", "code", ["train"]]])
        self.assertEqual(sk["logged_model"], {"name": "model", "source_run_matches": True, "status": "READY"})
        self.assertTrue(sk["predictions_equal"], "the autologged model, downloaded from Assay, predicts as the trained one")

    def test_lightgbm(self) -> None:
        lg = OUT["lightgbm"]
        self.assertEqual(lg["status"], "FINISHED")
        self.assertEqual(lg["history_steps"], list(range(25)))
        self.assertTrue(lg["history_matches_lightgbm"], "every iteration's logloss as LightGBM recorded it")
        self.assertEqual(lg["params"], {"keep_training_booster": "False", "learning_rate": "0.2", "num_boost_round": "25", "num_leaves": "7",
                                        "objective": "binary", "seed": "1", "verbose": "-1"})
        self.assertEqual(lg["artifacts"], ["feature_importance_gain.json", "feature_importance_gain.png", "feature_importance_split.json", "feature_importance_split.png"])
        self.assertEqual(lg["logged_model"], {"name": "model", "source_run_matches": True, "status": "READY"})
        self.assertTrue(lg["predictions_equal"])

    def test_keras(self) -> None:
        ks = OUT["keras"]
        self.assertEqual(ks["status"], "FINISHED")
        self.assertEqual(ks["params"], {"batch_size": "32", "epochs": "5", "optimizer_name": "adam", "shuffle": "True"})
        self.assertEqual((ks["metric_keys"], ks["history_steps"]), (["accuracy", "loss"], [0, 1, 2, 3, 4]))
        self.assertTrue(ks["history_matches_keras"], "every epoch's loss as Keras recorded it")
        self.assertEqual((ks["artifacts"], ks["inputs"]), (["model_summary.txt"], [["dataset", "code", ["train"]]]))
        self.assertEqual(ks["logged_model"], {"name": "model", "source_run_matches": True, "status": "READY"})
        self.assertTrue(ks["predictions_equal"])

    def test_transformers_mlflow_callback(self) -> None:
        hf = OUT["transformers"]
        self.assertEqual((hf["status"], hf["run_name"], hf["user_tags"]), ("FINISHED", "transformers", {"team": "nlp"}))
        # every TrainingArguments field, logged in two log_batch calls of at most 100 params, reads back as sent
        self.assertEqual((hf["params_sent"], hf["params_count"], hf["params_as_sent"]), (114, 114, 114))
        self.assertEqual(hf["metric_keys"], ["epoch", "learning_rate", "loss"])
        self.assertEqual(hf["loss_history"], [[s, round(2 / s, 6)] for s in range(1, 21)])

    def test_autologged_runs_are_assay_data(self) -> None:
        def get(path: str) -> dict:
            req = urllib.request.Request(SERVER.url + path, headers={"Authorization": f"Bearer {SERVER.api_key}"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        exps = {e["name"]: e for e in get("/api/v1/projects/autolog-a1/experiments?limit=100")["items"]}
        self.assertEqual(sorted(exps), ["keras", "lightgbm", "sklearn", "transformers"])
        self.assertEqual((exps["lightgbm"]["features"]["num_leaves"], exps["lightgbm"]["status"]), ("7", "complete"))
        series = get(f"/api/v1/metrics/timeseries/autolog-a1/{exps['lightgbm']['id']}/train-binary_logloss")
        self.assertEqual([p["step"] for p in series["points"]], list(range(25)))
        self.assertEqual(sorted(get(f"/api/v1/metrics/summary/autolog-a1/{exps['sklearn']['id']}")["metrics"]), OUT["sklearn"]["metric_keys"])


@unittest.skipIf(os.environ.get("ASSAY_MLFLOW_COMPARE") == "0", "ASSAY_MLFLOW_COMPARE=0: comparison with a real mlflow server skipped")
class SameAutologAgainstMlflowServer(unittest.TestCase):
    def test_outputs_equal(self) -> None:
        with real_mlflow_server(PYTHON, TMP) as url:
            theirs = run_driver(PYTHON, {**mlflow_env(url), "TMPDIR": TMP}, "a1", DRIVER, TMP)
        diffs = {k: (OUT.get(k), theirs.get(k)) for k in set(OUT) | set(theirs) if OUT.get(k) != theirs.get(k)}
        self.assertEqual(diffs, {}, "results that differ between Assay and mlflow server (assay, mlflow)")


if __name__ == "__main__":
    unittest.main()
