"""Trains three small models under MLflow's own autologging integrations — `mlflow.sklearn.autolog()`,
`mlflow.lightgbm.autolog()`, `mlflow.keras.autolog()` — and drives Hugging Face's `MLflowCallback`
through a training's callbacks: the framework integrations a team's unchanged training code already
calls, against MLFLOW_TRACKING_URI. Then reads everything back through the client (params, metric
histories, tags, artifacts, the logged models loaded and used for predictions) and writes one JSON
document, normalised (no ids, no wall-clock times) so Assay's answers can be compared with a real
`mlflow server`'s. Not a test by itself: test_mlflow_autolog.py runs it.

Usage: python mlflow_autolog_driver.py <unique-suffix> <output.json>"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported; JAX installs from PyPI without CUDA

import keras
import lightgbm as lgb
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from transformers import TrainerControl, TrainerState, TrainingArguments
from transformers.integrations import MLflowCallback

out: dict = {}
# Autologging swallows its own failures (a rejected call becomes a warning and the training goes
# on): every warning it logs is collected and must be empty, or a broken call would pass unseen.
autolog_warnings: list[str] = []


class Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # safe_patch's "Encountered unexpected error during … autologging", the queueing client's and
        # the model logger's failures; deprecation and pickle-safety notices are not about the server
        if record.levelno >= logging.WARNING and (record.name.startswith("mlflow.utils.autologging_utils") or re.search(r"error|fail|exception", message, re.I)):
            autolog_warnings.append(f"{record.name}: {message}"[:500])


def artifact_tree(c: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    files = []
    for f in c.list_artifacts(run_id, path):
        files.extend(artifact_tree(c, run_id, f.path) if f.is_dir else [f.path])
    return sorted(files)


def run_summary(c: MlflowClient, run_id: str) -> dict:
    run = c.get_run(run_id)
    return {
        "status": run.info.status,
        "params": dict(sorted(run.data.params.items())),
        "metric_keys": sorted(run.data.metrics),
        "tags": {k: v for k, v in sorted(run.data.tags.items()) if k in ("estimator_name", "estimator_class")},
        "artifacts": artifact_tree(c, run_id),
        "inputs": sorted((d.dataset.name, d.dataset.source_type, [t.value for t in d.tags]) for d in run.inputs.dataset_inputs),
    }


def last_model(run_id: str):
    """The model autologging just logged (to load back) and its summary."""
    model = mlflow.last_logged_model()
    return model, {"name": model.name, "status": str(model.status), "source_run_matches": model.source_run_id == run_id}


def main(suffix: str, out_path: str) -> None:
    logging.getLogger("mlflow").addHandler(Collect())
    warnings.simplefilter("ignore")  # library deprecation chatter; MLflow's own warnings go to the logger above
    c = MlflowClient()
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=7)
    mlflow.set_experiment(f"autolog-{suffix}")

    # scikit-learn: params, training metrics, estimator tags, the model, the training dataset
    mlflow.sklearn.autolog(log_input_examples=True, log_model_signatures=True, silent=False)
    with mlflow.start_run(run_name="sklearn") as run:
        clf = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    sk = run_summary(c, run.info.run_id)
    sk["training_accuracy_score"] = round(c.get_run(run.info.run_id).data.metrics["training_accuracy_score"], 9)
    model, sk["logged_model"] = last_model(run.info.run_id)
    loaded = mlflow.pyfunc.load_model(model.model_uri)
    sk["predictions_equal"] = bool(np.array_equal(loaded.predict(X), clf.predict(X)))
    out["sklearn"] = sk
    mlflow.sklearn.autolog(disable=True)

    # LightGBM: a per-iteration metric history (log_batch with steps), params, importance artifacts, the model
    mlflow.lightgbm.autolog(silent=False)
    evals: dict = {}
    with mlflow.start_run(run_name="lightgbm") as run:
        ds = lgb.Dataset(X, y)
        booster = lgb.train({"objective": "binary", "num_leaves": 7, "learning_rate": 0.2, "verbose": -1, "seed": 1},
                            ds, num_boost_round=25, valid_sets=[ds], valid_names=["train"],
                            callbacks=[lgb.record_evaluation(evals)])
    lg = run_summary(c, run.info.run_id)
    history = c.get_metric_history(run.info.run_id, "train-binary_logloss")
    lg["history_steps"] = [m.step for m in history]
    lg["history_matches_lightgbm"] = [round(m.value, 9) for m in history] == [round(v, 9) for v in evals["train"]["binary_logloss"]]
    model, lg["logged_model"] = last_model(run.info.run_id)
    loaded = mlflow.lightgbm.load_model(model.model_uri)
    lg["predictions_equal"] = bool(np.allclose(loaded.predict(X), booster.predict(X)))
    out["lightgbm"] = lg
    mlflow.lightgbm.autolog(disable=True)

    # Keras 3 (JAX backend): params from fit() and the optimizer, per-epoch metrics, the summary, the model
    mlflow.keras.autolog()
    keras.utils.set_random_seed(1)
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    with mlflow.start_run(run_name="keras") as run:
        fit = net.fit(X, y, epochs=5, batch_size=32, verbose=0)
    ks = run_summary(c, run.info.run_id)
    ks["params"] = {k: v for k, v in ks["params"].items() if k in ("batch_size", "epochs", "optimizer_name", "shuffle")}
    history = c.get_metric_history(run.info.run_id, "loss")
    ks["history_steps"] = [m.step for m in history]
    ks["history_matches_keras"] = [round(m.value, 9) for m in history] == [round(v, 9) for v in fit.history["loss"]]
    model, ks["logged_model"] = last_model(run.info.run_id)
    loaded = mlflow.pyfunc.load_model(model.model_uri)
    ks["predictions_equal"] = bool(np.allclose(np.asarray(loaded.predict(X.astype("float32"))).reshape(-1), net.predict(X, verbose=0).reshape(-1)))
    out["keras"] = ks
    mlflow.keras.autolog(disable=True)

    # Hugging Face's MLflowCallback, as Trainer calls it (a Trainer needs PyTorch; the callback does not):
    # the run named after the arguments, every TrainingArguments field as a param (in chunks of 100),
    # MLFLOW_TAGS as tags, each logging step's numbers as metrics at the global step, the run ended
    os.environ.update(MLFLOW_EXPERIMENT_NAME=f"autolog-{suffix}", MLFLOW_TAGS=json.dumps({"team": "nlp"}), HF_MLFLOW_LOG_ARTIFACTS="0")
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), report_to=["mlflow"], run_name="transformers", logging_steps=1,
                             learning_rate=3e-5, num_train_epochs=2, seed=7)
    callback, state, control = MLflowCallback(), TrainerState(is_world_process_zero=True, is_local_process_zero=True, max_steps=20), TrainerControl()
    callback.on_train_begin(args, state, control)
    run_id = mlflow.active_run().info.run_id
    for step in range(1, 21):
        state.global_step = step
        callback.on_log(args, state, control, logs={"loss": round(2 / step, 6), "learning_rate": 3e-5 * (1 - step / 20), "epoch": step / 10})
    callback.on_train_end(args, state, control)
    hf = run_summary(c, run_id)
    sent = {k: str(v) for k, v in args.to_dict().items()}
    hf["params_count"] = len(hf.pop("params"))
    hf["params_as_sent"] = sum(1 for k, v in c.get_run(run_id).data.params.items() if sent.get(k, "")[:6000] == v)
    hf["params_sent"] = len(sent)
    hf["run_name"] = c.get_run(run_id).info.run_name
    hf["user_tags"] = {k: v for k, v in c.get_run(run_id).data.tags.items() if not k.startswith("mlflow.")}
    hf["loss_history"] = [(m.step, m.value) for m in c.get_metric_history(run_id, "loss")]
    out["transformers"] = hf

    out["search_runs"] = sorted(r.info.run_name for r in c.search_runs([mlflow.get_experiment_by_name(f"autolog-{suffix}").experiment_id]))
    out["autolog_warnings"] = autolog_warnings
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
