"""Drives the real `mlflow` client (run under a venv that has it) through every tracking call Assay's
MLflow API supports, against MLFLOW_TRACKING_URI, and prints one JSON document of what came back —
normalised (no ids, no wall-clock times) so the same script's output from Assay and from a real
`mlflow server` can be compared key by key. Not a test by itself: test_mlflow_compat.py runs it.

Usage: python mlflow_compat_driver.py <unique-suffix> <output.json>  (the client prints run links on stdout)"""
from __future__ import annotations

import json
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.rest_utils import http_request
from mlflow.utils.credentials import get_default_host_creds

out: dict = {}


def code_of(fn):
    try:
        fn()
        return "OK"
    except MlflowException as e:
        return e.error_code


def names(runs):
    return [r.info.run_name for r in runs]


def user_tags(tags):
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.")}


def main(suffix: str, out_path: str) -> None:
    c = MlflowClient()
    t0 = 1_700_000_000_000

    # experiments
    exp = mlflow.set_experiment(f"compat-{suffix}")
    out["set_experiment.name"] = exp.name
    out["set_experiment.again_same_id"] = mlflow.set_experiment(f"compat-{suffix}").experiment_id == exp.experiment_id
    other = c.create_experiment(f"compat-other-{suffix}")
    out["get_experiment.name"] = c.get_experiment(other).name
    out["get_experiment_by_name.same_id"] = c.get_experiment_by_name(f"compat-other-{suffix}").experiment_id == other
    out["get_experiment_by_name.missing"] = c.get_experiment_by_name(f"nope-{suffix}")
    out["create_experiment.duplicate"] = code_of(lambda: c.create_experiment(f"compat-other-{suffix}"))
    out["get_experiment.unknown"] = code_of(lambda: c.get_experiment("123456789"))
    out["search_experiments.like"] = sorted(e.name for e in c.search_experiments(filter_string=f"name LIKE 'compat-%{suffix}'"))
    out["search_experiments.order"] = [e.name for e in c.search_experiments(filter_string=f"name LIKE '%{suffix}'", order_by=["name DESC"])]
    eid = exp.experiment_id

    # run A: the fluent API end to end
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("hello from run a\n")
    os.makedirs(os.path.join(d, "ckpt", "inner"))
    for p, body in (("ckpt/w0.bin", "w0"), ("ckpt/inner/w1.bin", "w1-longer")):
        with open(os.path.join(d, p), "w") as f:
            f.write(body)
    with mlflow.start_run(run_name="run-a") as run:
        a = run.info.run_id
        out["start_run.status"] = mlflow.active_run().info.status
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "owner": "ana"})
        for i in range(10):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, timestamp=t0 + i)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=9, timestamp=t0 + 9)
        mlflow.log_metric("async_metric", 3.5, step=2, timestamp=t0, synchronous=False)
        mlflow.log_metric("async_metric", 4.5, step=3, timestamp=t0, synchronous=False).wait()
        mlflow.flush_async_logging()
        c.log_batch(a, metrics=[Metric("batch_m", float(i), t0 + i, i) for i in range(50)],
                    params=[Param("dropout", "0.1")], tags=[RunTag("batch_tag", "yes")])
        mlflow.log_artifact(os.path.join(d, "notes.txt"))
        mlflow.log_artifacts(os.path.join(d, "ckpt"), artifact_path="checkpoints")
        ds = Dataset(name="train", digest="abc123", source_type="local", source='{"uri": "/data/train"}')
        c.log_inputs(a, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training")])])
        out["change_param"] = code_of(lambda: mlflow.log_param("lr", 0.5))
        out["same_param_again"] = code_of(lambda: mlflow.log_param("lr", 0.01))
        c.delete_tag(a, "owner")
        out["delete_tag.missing"] = code_of(lambda: c.delete_tag(a, "never-set"))
    # run B: finished as FAILED
    with mlflow.start_run(run_name="run-b") as run:
        b = run.info.run_id
        mlflow.log_params({"lr": 0.1, "optimizer": "sgd"})
        mlflow.set_tag("team", "speech")
        for i in range(5):
            mlflow.log_metric("loss", 0.1 / (i + 1), step=i, timestamp=t0 + i)
        mlflow.log_metric("acc", 0.95, step=4, timestamp=t0)
    c.set_terminated(b, "FAILED")
    # run C: the client API, KILLED, renamed
    rc = c.create_run(eid, run_name="run-c", tags={"team": "vision"}, start_time=t0)
    cid = rc.info.run_id
    c.log_param(cid, "lr", "0.001")
    c.log_metric(cid, "loss", 0.7, step=0, timestamp=t0)
    c.update_run(cid, status="KILLED", name="run-c-renamed")

    ra = c.get_run(a)
    out["get_run.a"] = {
        "status": ra.info.status, "run_name": ra.info.run_name, "lifecycle": ra.info.lifecycle_stage,
        "params": ra.data.params, "metrics": ra.data.metrics, "tags": user_tags(ra.data.tags),
        "runName_tag": ra.data.tags.get("mlflow.runName"), "has_end_time": ra.info.end_time is not None,
        "experiment_id_matches": ra.info.experiment_id == eid,
        "inputs": [(i.dataset.name, i.dataset.digest, [(t.key, t.value) for t in i.tags]) for i in ra.inputs.dataset_inputs],
    }
    out["get_run.b.status"] = c.get_run(b).info.status
    rcc = c.get_run(cid)
    out["get_run.c"] = {"status": rcc.info.status, "run_name": rcc.info.run_name, "start_time": rcc.info.start_time}
    out["get_run.unknown"] = code_of(lambda: c.get_run("0" * 32))
    out["history.loss"] = [(m.step, m.value, m.timestamp) for m in c.get_metric_history(a, "loss")]
    out["history.async"] = [(m.step, m.value) for m in c.get_metric_history(a, "async_metric")]
    out["history.batch_m.len"] = len(c.get_metric_history(a, "batch_m"))
    creds = get_default_host_creds(mlflow.get_tracking_uri())
    r = http_request(creds, "/api/2.0/mlflow/metrics/get-history-bulk-interval", "GET",
                     params={"run_ids": [a, b], "metric_key": "loss", "max_results": 1000})
    bulk = r.json().get("metrics", [])
    out["bulk_interval"] = sorted((m["run_id"] == a, m["step"], m["value"]) for m in bulk)

    # search_runs
    def search(f="", order=None, view=None):
        kw = {"filter_string": f, "order_by": order}
        if view:
            kw["run_view_type"] = view
        return names(c.search_runs([eid], **kw))
    out["search.all_default_order"] = search()
    out["search.metric_lt"] = sorted(search("metrics.loss < 0.5"))
    out["search.param_eq"] = search("params.optimizer = 'adam'")
    out["search.tag_like"] = sorted(search("tags.team LIKE 'vis%'"))
    out["search.tag_ilike"] = sorted(search("tags.team ILIKE 'VIS%'"))
    out["search.status"] = search("attributes.status = 'FAILED'")
    out["search.in"] = sorted(search(f"attributes.run_id IN ('{a}', '{b}')"))
    out["search.and"] = search("params.lr = '0.01' and metrics.acc > 0.5")
    out["search.order_metric_asc"] = search(order=["metrics.loss ASC"])
    out["search.order_param_desc"] = search(order=["params.lr DESC"])
    out["search.bad_filter"] = code_of(lambda: c.search_runs([eid], "metrics.loss <<< 3"))
    pages, token = [], None
    while True:
        page = c.search_runs([eid], max_results=1, page_token=token, order_by=["attributes.run_name ASC"])
        pages.append(names(page))
        token = page.token
        if not token:
            break
    out["search.paged"] = pages
    out["search_runs.fluent_df_rows"] = len(mlflow.search_runs([eid], output_format="list"))

    # lifecycle
    c.delete_run(b)
    out["delete_run.search_active"] = sorted(search())
    out["delete_run.search_deleted"] = search(view=2)
    out["delete_run.lifecycle"] = c.get_run(b).info.lifecycle_stage
    c.restore_run(b)
    out["restore_run.lifecycle"] = c.get_run(b).info.lifecycle_stage

    # artifacts
    out["list_artifacts.root"] = [(f.path, f.is_dir, f.file_size) for f in c.list_artifacts(a)]
    out["list_artifacts.sub"] = [(f.path, f.is_dir, f.file_size) for f in c.list_artifacts(a, "checkpoints")]
    dl = c.download_artifacts(a, "checkpoints", tempfile.mkdtemp())
    got = {}
    for root, _, files in os.walk(dl):
        for fn in files:
            with open(os.path.join(root, fn)) as f:
                got[os.path.relpath(os.path.join(root, fn), dl)] = f.read()
    out["download_artifacts.dir"] = got
    with open(mlflow.artifacts.download_artifacts(run_id=a, artifact_path="notes.txt")) as f:
        out["download_artifacts.file"] = f.read()

    # MLflow 3 logged models: the calls log_model makes (create, upload files, finalize, outputs)
    m = c.create_logged_model(eid, name="clf", source_run_id=a, params={"C": "1.0"}, tags={"flavor": "sk"}, model_type="classifier")
    mdir = tempfile.mkdtemp()
    with open(os.path.join(mdir, "MLmodel"), "w") as f:
        f.write("flavors: {}\n")
    c.log_model_artifacts(m.model_id, mdir)
    fin = c.finalize_logged_model(m.model_id, "READY")
    # what log_model does inside a run: the model becomes an output of the run
    c._tracking_client.store.log_outputs(a, [LoggedModelOutput(m.model_id, 9)])
    out["run_outputs"] = [(o.model_id == m.model_id, o.step) for o in c.get_run(a).outputs.model_outputs]
    gm = c.get_logged_model(m.model_id)
    out["logged_model"] = {"name": gm.name, "status": str(fin.status), "params": gm.params, "tags": {k: v for k, v in gm.tags.items() if not k.startswith("mlflow.")},
                           "source_run_matches": gm.source_run_id == a, "model_type": gm.model_type}
    out["logged_model.search"] = [x.name for x in c.search_logged_models(experiment_ids=[eid])]
    out["logged_model.artifacts"] = [f.path for f in c.list_logged_model_artifacts(m.model_id)]
    with open(os.path.join(mlflow.artifacts.download_artifacts(f"models:/{m.model_id}"), "MLmodel")) as f:
        out["logged_model.download"] = f.read()

    experiment_lifecycle(c, suffix)
    artifact_locations(c, suffix)

    with open(out_path, "w") as f:
        json.dump(out, f, sort_keys=True, default=str)


def experiment_lifecycle(c: MlflowClient, suffix: str) -> None:
    """Experiment tags, rename, delete/restore (and what it does to runs), the Default experiment."""
    from mlflow.entities import ViewType

    # the Default experiment exists before anything is written to it (its id differs: "0" vs Assay's UUID)
    d = c.get_experiment("0")
    out["default.get"] = [d.name, d.lifecycle_stage]
    out["default.by_name"] = c.get_experiment_by_name("Default").name
    out["default.in_search"] = "Default" in [e.name for e in c.search_experiments()]

    eid = c.create_experiment(f"life-{suffix}", tags={"dataset": "imagenet", "owner": "vision"})
    c.set_experiment_tag(eid, "dataset", "birds")
    c.set_experiment_tag(eid, "multi", "a\nb")
    c.set_experiment_tag(eid, "empty", "")
    c.delete_experiment_tag(eid, "owner")
    out["exp_tags.get"] = user_tags(c.get_experiment(eid).tags)
    out["exp_tags.delete_missing"] = code_of(lambda: c.delete_experiment_tag(eid, "owner"))
    out["exp_tags.search"] = [e.name for e in c.search_experiments(filter_string=f"tags.dataset = 'birds' AND name LIKE '%{suffix}'")]
    c.rename_experiment(eid, f"life-renamed-{suffix}")
    out["rename.name"] = c.get_experiment(eid).name
    out["rename.taken"] = code_of(lambda: c.rename_experiment(eid, f"compat-{suffix}"))
    run = c.create_run(eid, run_name="inside").info.run_id

    c.delete_experiment(eid)
    e = c.get_experiment(eid)
    out["delete_experiment.lifecycle"] = [e.lifecycle_stage, c.get_experiment_by_name(f"life-renamed-{suffix}").lifecycle_stage]
    mine = f"name LIKE 'life-%{suffix}'"
    out["delete_experiment.search"] = {v: [x.name for x in c.search_experiments(view_type=getattr(ViewType, v), filter_string=mine)] for v in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")}
    out["delete_experiment.run_lifecycle"] = c.get_run(run).info.lifecycle_stage
    out["delete_experiment.search_runs"] = {v: names(c.search_runs([eid], run_view_type=getattr(ViewType, v))) for v in ("ACTIVE_ONLY", "DELETED_ONLY")}
    out["delete_experiment.log_metric"] = code_of(lambda: c.log_metric(run, "x", 1.0, step=0))
    out["delete_experiment.create_run"] = code_of(lambda: c.create_run(eid))
    out["delete_experiment.set_tag"] = code_of(lambda: c.set_experiment_tag(eid, "k", "v"))
    out["delete_experiment.same_name"] = code_of(lambda: c.create_experiment(f"life-renamed-{suffix}"))
    out["delete_experiment.again"] = code_of(lambda: c.delete_experiment(eid))
    try:
        mlflow.set_experiment(f"life-renamed-{suffix}")
        out["delete_experiment.set_experiment"] = "OK"
    except MlflowException as ex:
        out["delete_experiment.set_experiment"] = [ex.error_code, "deleted experiment" in str(ex)]

    c.restore_experiment(eid)
    out["restore_experiment.lifecycle"] = [c.get_experiment(eid).lifecycle_stage, c.get_run(run).info.lifecycle_stage]
    out["restore_experiment.again"] = code_of(lambda: c.restore_experiment(eid))
    out["restore_experiment.log_metric"] = code_of(lambda: c.log_metric(run, "x", 1.0, step=0))


def artifact_locations(c: MlflowClient, suffix: str) -> None:
    """create_experiment's artifact_location: kept, followed by runs; the client itself writes file: locations."""
    import pathlib

    def rel(uri: str, run_id: str) -> str:
        return uri.replace(run_id, "<run>")

    s3 = c.create_experiment(f"loc-s3-{suffix}", artifact_location=f"s3://compat-bucket/{suffix}/")
    r = c.create_run(s3).info
    out["artifact_location.s3"] = [c.get_experiment(s3).artifact_location, rel(r.artifact_uri, r.run_id)]

    src = os.path.join(tempfile.mkdtemp(), "a.txt")
    with open(src, "w") as f:
        f.write("local bytes")
    local = tempfile.mkdtemp()
    fe = c.create_experiment(f"loc-file-{suffix}", artifact_location=pathlib.Path(local).as_uri())
    r = c.create_run(fe).info
    out["artifact_location.file"] = [c.get_experiment(fe).artifact_location.replace(local, "<tmp>"), rel(r.artifact_uri, r.run_id).replace(local, "<tmp>")]
    c.log_artifact(r.run_id, src)
    out["artifact_location.file_written"] = sorted(os.listdir(os.path.join(local, r.run_id, "artifacts")))
    out["artifact_location.file_listed"] = [(f.path, f.file_size) for f in c.list_artifacts(r.run_id)]

    # resolved against the server's working directory (each server has its own)
    loc = c.get_experiment(c.create_experiment(f"loc-rel-{suffix}", artifact_location="rel_loc")).artifact_location
    out["artifact_location.relative"] = [os.path.isabs(loc), loc.endswith("/rel_loc")]

    px = c.create_experiment(f"loc-proxy-{suffix}", artifact_location=f"mlflow-artifacts:/custom/{suffix}")
    r = c.create_run(px).info
    c.log_artifact(r.run_id, src)
    out["artifact_location.proxy"] = [c.get_experiment(px).artifact_location, rel(r.artifact_uri, r.run_id), [(f.path, f.file_size) for f in c.list_artifacts(r.run_id)]]
    out["artifact_location.runs_uri"] = code_of(lambda: c.create_experiment(f"loc-runs-{suffix}", artifact_location="runs:/abc/x"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
