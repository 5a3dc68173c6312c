"""The MLflow client's own cost of a search_runs answer — the floor under any server's figure: a
JSON body of N runs shaped like the benchmark's (4 params, 4 tags, 3 metrics), parsed the way
MlflowClient.search_runs does (json -> protobuf via parse_dict -> Run entities), no server involved.

  bench/.venv/bin/python bench/peers/mlflow_client_parse_floor.py 1000
"""
import json, time, sys, uuid, statistics
from mlflow.protos.service_pb2 import SearchRuns
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.entities import Run
N=int(sys.argv[1])
runs=[]
for i in range(N):
    rid=uuid.uuid4().hex
    runs.append({"info":{"run_id":rid,"run_uuid":rid,"run_name":f"r{i}","experiment_id":"1","user_id":"bench","status":"RUNNING","start_time":1700000000000+i,"artifact_uri":f"mlflow-artifacts:/1/{rid}/artifacts","lifecycle_stage":"active"},
      "data":{"metrics":[{"key":k,"value":0.5,"timestamp":1700000000005,"step":5} for k in ("loss","acc","val_loss")],
              "params":[{"key":k,"value":"0.01"} for k in ("lr","bs","optimizer","dropout")],
              "tags":[{"key":k,"value":"a"} for k in ("team","model","mlflow.runName","mlflow.user")]},
      "inputs":{"dataset_inputs":[]}})
body=json.dumps({"runs":runs})
xs=[]
for _ in range(3):
    t=time.perf_counter()
    js=json.loads(body)
    resp=SearchRuns.Response()
    parse_dict(js, resp)
    out=[Run.from_proto(r) for r in resp.runs]
    xs.append((time.perf_counter()-t)*1000)
print(json.dumps({"runs":N,"bytes":len(body),"client_parse_ms":statistics.median(xs)}))
