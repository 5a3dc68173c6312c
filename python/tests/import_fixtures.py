"""Fixtures for `assay import` tests, written by the real libraries (packages/server/test/import.test.ts
runs this in a venv from venvs.py with mlflow-skinny and tensorboardX).

  import_fixtures.py generate OUT      mlruns/ via mlflow's file store, tb/ via tensorboardX (plus a
                                       corrupted copy), and OUT/expected.json with what was written
  import_fixtures.py read-bench MLRUNS LOGDIR
                                       reads the benchmark's hand-written fixtures back with mlflow's
                                       client and tensorboardX's protobufs + CRC, prints a JSON summary
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import struct
import sys

# MLflow 3 refuses the file store unless asked: importing old mlruns/ directories is exactly that case
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def gen_mlflow(out: str) -> dict:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = "file:" + os.path.join(out, "mlruns")
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    runs = {}

    exp_a = client.create_experiment("exp-a", tags={"owner": "vision-team"})
    client.set_experiment_tag(exp_a, "dataset", "cifar10")
    r = client.create_run(exp_a, run_name="alpha", start_time=1_700_000_000_000, tags={"team": "vision", "mlflow.note.content": "first try"})
    rid = r.info.run_id
    client.log_param(rid, "lr", "0.01")
    client.log_param(rid, "batch_size", "32")
    client.log_param(rid, "opt/name", "adam")  # a key with "/" is a subdirectory in the file store
    for s in range(100):
        client.log_metric(rid, "loss", 1.0 / (s + 1), timestamp=1_700_000_000_000 + s * 1000, step=s)
    for s in range(50):
        client.log_metric(rid, "acc", s / 50.0, timestamp=1_700_000_000_000 + s * 1000, step=s * 2)
    art = os.path.join(out, "art")
    os.makedirs(os.path.join(art, "notes"), exist_ok=True)
    with open(os.path.join(art, "notes", "readme.txt"), "w") as f:
        f.write("hello artifacts\n")
    with open(os.path.join(art, "model.bin"), "wb") as f:
        f.write(bytes(range(256)) * 4)
    client.log_artifacts(rid, art)
    client.set_terminated(rid, "FINISHED", end_time=1_700_000_200_000)
    runs["alpha"] = rid

    r = client.create_run(exp_a, run_name="beta", start_time=1_700_000_300_000)
    rid = r.info.run_id
    client.log_param(rid, "lr", "0.1")
    client.log_metric(rid, "loss", float("nan"), timestamp=1_700_000_300_000, step=0)
    client.log_metric(rid, "loss", float("inf"), timestamp=1_700_000_301_000, step=1)
    client.log_metric(rid, "loss", 2.5, timestamp=1_700_000_302_000, step=2)
    client.set_terminated(rid, "FAILED", end_time=1_700_000_400_000)
    runs["beta"] = rid

    # a second run named alpha: MLflow names need not be unique, Assay's do
    r = client.create_run(exp_a, run_name="alpha", start_time=1_700_000_500_000)
    rid = r.info.run_id
    client.log_metric(rid, "loss", 0.5, timestamp=1_700_000_500_000, step=0)
    client.set_terminated(rid, "KILLED", end_time=1_700_000_600_000)
    runs["alpha2"] = rid

    r = client.create_run(exp_a, run_name="gone", start_time=1_700_000_700_000)
    client.log_metric(r.info.run_id, "loss", 1.0, step=0)
    client.set_terminated(r.info.run_id, "FINISHED")
    client.delete_run(r.info.run_id)
    runs["gone"] = r.info.run_id

    exp_b = client.create_experiment("exp-b")
    r = client.create_run(exp_b, run_name="gamma", start_time=1_700_001_000_000)
    rid = r.info.run_id
    client.log_batch(rid, metrics=[mlflow.entities.Metric("m/x", float(i), 1_700_001_000_000 + i, i) for i in range(1000)])
    runs["gamma"] = rid  # left RUNNING

    # a deleted experiment (the file store moves it to .trash/) with a run: imported, then soft-deleted
    exp_c = client.create_experiment("exp-c", tags={"stage": "abandoned"})
    r = client.create_run(exp_c, run_name="delta", start_time=1_700_002_000_000)
    client.log_metric(r.info.run_id, "loss", 0.25, timestamp=1_700_002_000_000, step=0)
    client.set_terminated(r.info.run_id, "FINISHED", end_time=1_700_002_100_000)
    client.delete_experiment(exp_c)
    runs["delta"] = r.info.run_id
    return {"runs": runs, "experiments": {"exp-a": exp_a, "exp-b": exp_b, "exp-c": exp_c}}


def tb_scalar_tensor(tag: str, value: float, double: bool, first: bool):
    """A TF2-style scalar: a rank-0 tensor (float_val / tensor_content), plugin "scalars" on the first value."""
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    if double:
        t = TensorProto(dtype=2, tensor_shape=TensorShapeProto(), tensor_content=struct.pack("<d", value))
    else:
        t = TensorProto(dtype=1, tensor_shape=TensorShapeProto(), float_val=[value])
    md = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars")) if first else None
    v = Summary.Value(tag=tag, tensor=t, metadata=md) if md else Summary.Value(tag=tag, tensor=t)
    return Summary(value=[v])


def record_offsets(path: str) -> list[int]:
    offs, pos, data = [], 0, open(path, "rb").read()
    while pos + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        offs.append(pos)
        pos += 16 + n
    return offs


def gen_tensorboard(out: str) -> dict:
    import numpy as np
    from tensorboardX import SummaryWriter

    logdir = os.path.join(out, "tb")
    w = SummaryWriter(os.path.join(logdir, "runA"))
    for s in range(200):
        w.add_scalar("train/loss", 1.0 / (s + 1), s, walltime=1_700_000_000 + s)
    for s in range(0, 200, 10):
        w.add_histogram("weights", np.arange(10) * s, s, walltime=1_700_000_000 + s)
    w.add_text("notes", "not a scalar", 0, walltime=1_700_000_000)
    for s in range(30):
        w.file_writer.add_summary(tb_scalar_tensor("tf2/acc", s / 30.0, False, s == 0), s, walltime=1_700_000_100 + s)
        w.file_writer.add_summary(tb_scalar_tensor("tf2/acc64", s / 7.0, True, s == 0), s, walltime=1_700_000_100 + s)
    w.add_hparams({"lr": 0.1, "optimizer": "sgd", "layers": 3}, {"hp/acc": 0.9}, name="hp", global_step=5)
    w.close()

    w = SummaryWriter(os.path.join(logdir, "group", "runB"))
    w.add_scalar("val/loss", float("nan"), 0, walltime=1_700_000_500)
    for s in range(1, 10):
        w.add_scalar("val/loss", float(s), s, walltime=1_700_000_500 + s)
    w.close()

    # a damaged copy of runB: one data CRC flipped (that record is skipped), then cut mid-record
    src = glob.glob(os.path.join(logdir, "group", "runB", "events.out.tfevents.*"))[0]
    bad_dir = os.path.join(out, "tb-bad", "runC")
    os.makedirs(bad_dir)
    data = bytearray(open(src, "rb").read())
    offs = record_offsets(src)
    # records: 0 file_version, 1 step 0 (NaN), 2 step 1, 3 step 2, … 10 step 9
    flip = offs[3]
    n = struct.unpack("<Q", data[flip:flip + 8])[0]
    data[flip + 12 + n] ^= 0xFF  # the data CRC of step 2's record
    cut = offs[8] + 20  # inside step 7's record
    bad = os.path.join(bad_dir, os.path.basename(src))
    open(bad, "wb").write(bytes(data[:cut]))
    return {"bad_file": bad, "bad_crc_offset": flip, "truncated_offset": offs[8]}


def generate(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    expected = {"mlflow": gen_mlflow(out), "tensorboard": gen_tensorboard(out)}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


def read_bench(mlruns: str, logdir: str) -> None:
    """What the real readers see in the benchmark's hand-written fixtures."""
    from mlflow.tracking import MlflowClient
    from tensorboardX.crc32c import crc32c
    from tensorboardX.proto.event_pb2 import Event

    client = MlflowClient("file:" + mlruns)
    out = {"mlflow": {}, "tensorboard": {}}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            hist = {k: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(run.info.run_id, k)] for k in run.data.metrics}
            out["mlflow"][f"{exp.name}/{run.info.run_name}"] = {"status": run.info.status, "start_time": run.info.start_time, "end_time": run.info.end_time,
                                                               "params": run.data.params, "history": hist}

    def masked(b: bytes) -> int:
        c = crc32c(b)
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    for path in sorted(glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True)):
        data, pos, scalars = open(path, "rb").read(), 0, {}
        while pos < len(data):
            hdr = data[pos:pos + 8]
            assert struct.unpack("<I", data[pos + 8:pos + 12])[0] == masked(hdr), f"length crc at {pos}"
            (n,) = struct.unpack("<Q", hdr)
            body = data[pos + 12:pos + 12 + n]
            assert struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])[0] == masked(body), f"data crc at {pos}"
            ev = Event.FromString(body)
            for v in ev.summary.value:
                scalars.setdefault(v.tag, []).append((ev.step, v.simple_value, ev.wall_time))
            pos += 16 + n
        out["tensorboard"][os.path.relpath(path, logdir)] = scalars
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif sys.argv[1] == "read-bench":
        read_bench(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
