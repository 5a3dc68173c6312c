"""The delivery rules of docs/sdk-delivery.md against a live server — each test fails when its rule
breaks: names in code points and the 422 path (rule 2), the last storable timestamp, a key revoked
mid-run (rule 3), a hung server (rule 4), the spool layout and foreign spools (rule 5), whole reads
(rule 6) and the W&B/MLflow habits (rule 7)."""
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import unittest
import warnings
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from research_sdk import Experiment  # noqa: E402
from harness import FaultProxy, HungServer, git_repo, start_live, stop_live, temp_dir  # noqa: E402
from test_checks import write_node_segment  # noqa: E402

SERVER = None
CWD = None
FAST = dict(system_metrics=False, backoff_base=0.05, backoff_cap=0.5, install_hooks=False)
EMOJI = "\U0001F680"


def setUpModule():
    global SERVER, CWD
    CWD, SERVER = start_live()


def tearDownModule():
    stop_live(CWD, SERVER)


def exp_(test, name, project="delivery", **kw):
    opts = {**FAST, "offline_grace": 2.0, "api_url": SERVER.url, "api_key": SERVER.api_key,
            "spool_dir": temp_dir(test, "assay-spool-"), **kw}
    return Experiment(project, name, **opts)


def count(project, experiment, metric):
    """(summary count, timeseries count) on the server, read with the admin key."""
    summ = SERVER.get(f"/api/v1/metrics/summary/{quote(project, safe='')}/{quote(experiment, safe='')}")
    ts = SERVER.get(f"/api/v1/metrics/timeseries/{quote(project, safe='')}/{quote(experiment, safe='')}/"
                    f"{quote(metric, safe='')}", limit=100000)
    return summ["metrics"].get(metric, {}).get("count", 0), ts["count"]


def run_sync(directory, key, *extra):
    env = {**os.environ, "ASSAY_API_KEY": key, "PYTHONPATH": os.path.dirname(HERE)}
    return subprocess.run([sys.executable, "-m", "research_sdk", "sync", directory, *extra], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)


class TestPoints(unittest.TestCase):
    def test_250_emoji_delivered_verbatim_251_refused_at_the_call(self):
        e = exp_(self, "emoji")
        name = EMOJI * 250  # 250 code points, 500 UTF-16 units, 1000 UTF-8 bytes
        e.log_metric(name, 1.5, step=0)
        with self.assertRaises(ValueError) as cm:
            e.log_metric(EMOJI * 251, 1.0)
        self.assertIn("got 251", str(cm.exception))
        self.assertTrue(e.finish())
        ts = e.get_metric(name)
        self.assertEqual(ts["metric_name"], name)
        self.assertEqual([(p["step"], p["value"]) for p in ts["points"]], [(0, 1.5)])
        self.assertEqual(list(e.summary()), [name])
        self.assertEqual(e.dropped_points, {})

    def test_a_422_costs_only_the_refused_point(self):
        e = exp_(self, "422-one-point")
        for i in range(200):
            e.log_metric("loss", 1.0 / (i + 1), step=i)
        # Bypass the SDK's own check (as a rule the server has and the SDK lacks would): one point
        # with an invalid step goes into the same batch, the same series.
        e._q.append(("loss", 0.5, -1, time.time()))
        with self.assertLogs("research_sdk", "WARNING") as logs:
            t0 = time.monotonic()
            self.assertFalse(e.flush_metrics(timeout=30))  # answered, but a point was refused
            self.assertLess(time.monotonic() - t0, 10)
            self.assertFalse(e.finish())
        self.assertIn("refused 1 point(s)", e.finish_message)
        self.assertEqual(count(e.project_id, e.id, "loss"), (200, 200))
        self.assertEqual([p["step"] for p in e.get_metric("loss")["points"]], list(range(200)))
        self.assertEqual(e.dropped_points["loss"]["count"], 1)
        self.assertIn("steps.200", e.dropped_points["loss"]["reason"])
        self.assertEqual(e.stats()["points_dropped"], 1)
        self.assertEqual(len([r for r in logs.output if "refused point(s) of metric 'loss'" in r]), 1)

    def test_a_422_on_a_name_drops_that_metric_and_warns_once(self):
        e = exp_(self, "422-name", batch_size=50)
        bad = "x" * 251
        with self.assertLogs("research_sdk", "WARNING") as logs:
            for i in range(200):
                e.log_metric("ok", float(i))
                if i % 2 == 0:
                    e._q.append((bad, 1.0, i, time.time()))  # bypasses the check
            self.assertFalse(e.flush_metrics(timeout=30))
        self.assertFalse(e.finish())
        self.assertEqual(count(e.project_id, e.id, "ok"), (200, 200))
        self.assertEqual(e.dropped_points[bad]["count"], 100)
        self.assertEqual(len([r for r in logs.output if "refused point(s)" in r]), 1)  # once per metric

    def test_last_storable_timestamp(self):
        e = exp_(self, "last-timestamp")
        last = dt.datetime(2106, 2, 7, 6, 28, 15, 999000, tzinfo=dt.timezone.utc)
        e.log_metric("t", 1.0, step=0, timestamp=last)
        e.log_metric("t", 2.0, step=1, timestamp=4294967295999)  # epoch ms
        e.log_metric("t", 3.0, step=2, timestamp=0)
        for bad in (last + dt.timedelta(milliseconds=1), 4294967296000, "2106-02-07T06:28:16Z", -1):
            with self.assertRaises(ValueError, msg=bad):
                e.log_metric("t", 9.0, step=3, timestamp=bad)
        self.assertTrue(e.finish())
        pts = e.get_metric("t")["points"]
        self.assertEqual([p["timestamp"][:23] for p in pts],
                         ["2106-02-07T06:28:15.999", "2106-02-07T06:28:15.999", "1970-01-01T00:00:00.000"])


class TestRevokedKey(unittest.TestCase):
    def test_revoked_mid_run_every_point_kept_then_synced_exactly_once(self):
        key = SERVER.call("POST", "/api/v1/api-keys", {"name": "revoked-mid-run"})
        spool = temp_dir(self, "assay-spool-")
        e = Experiment("delivery", "revoked", api_url=SERVER.url, api_key=key["api_key"], spool_dir=spool,
                       offline_grace=2.0, batch_size=500, flush_interval=0.05, **FAST)
        n = 20_000
        with self.assertLogs("research_sdk", "WARNING") as logs:
            for i in range(n):
                e.log_metric("loss", 1.0 / (i + 1), step=i)
                if i == 6_000:
                    self.assertTrue(e.flush_metrics(timeout=30))
                    SERVER.call("DELETE", f"/api/v1/api-keys/{key['id']}")
                if i % 500 == 0:
                    time.sleep(0.01)  # batches keep going out with the revoked key
            e.log_features({"after": "revocation"})  # recorded, not raised
            t0 = time.monotonic()
            self.assertFalse(e.finish())
        self.assertLess(time.monotonic() - t0, 3.0)
        on_server = count("delivery", "revoked", "loss")[0]
        self.assertGreater(on_server, 6_000)
        self.assertLess(on_server, n)
        msg = e.finish_message
        self.assertIn(f"{n - on_server} point(s)", msg)  # every point: on the server or in the spool
        self.assertIn(e.spool_dir, msg)
        self.assertIn("ASSAY_API_KEY=<key> python -m research_sdk sync", msg)
        self.assertTrue(any("refused the API key" in r for r in logs.output))
        # A sync with the revoked key keeps everything; with a valid key it delivers exactly once.
        r = run_sync(spool, key["api_key"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(count("delivery", "revoked", "loss")[0], on_server)
        r = run_sync(spool, SERVER.api_key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(count("delivery", "revoked", "loss"), (n, n))
        info = SERVER.get("/api/v1/projects/delivery/experiments/revoked")
        self.assertEqual(info["status"], "complete")
        self.assertEqual(info["features"], {"after": "revocation"})
        self.assertEqual(os.listdir(spool), [])


class TestHungServer(unittest.TestCase):
    GRACE = 1.5

    def test_constructor_and_calls_return_within_the_grace_then_replay_once(self):
        hung = HungServer()
        self.addCleanup(hung.close)
        spool = temp_dir(self, "assay-spool-")
        t0 = time.monotonic()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            e = Experiment("delivery", "hung-from-start", api_url=hung.url, api_key=SERVER.api_key,
                           spool_dir=spool, offline_grace=self.GRACE, features={"lr": 0.1}, **FAST)
        took = time.monotonic() - t0
        self.assertGreaterEqual(hung.accepted, 1)
        self.assertLess(took, self.GRACE + 0.5, f"constructor blocked {took:.2f}s")
        self.assertTrue(any("offline" in str(x.message) for x in w))
        for i in range(3000):
            e.log_metric("loss", float(i))
        for call in (lambda: e.log_features({"model": {"depth": 12}}), lambda: e.flush_metrics(timeout=0.5),
                     lambda: e.flush_metrics()):
            t0 = time.monotonic()
            call()
            self.assertLess(time.monotonic() - t0, self.GRACE + 0.5)
        t0 = time.monotonic()
        self.assertFalse(e.finish(timeout=1.0))
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIn("3000 point(s)", e.finish_message)
        r = run_sync(spool, SERVER.api_key, "--api-url", SERVER.url)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(count("delivery", "hung-from-start", "loss"), (3000, 3000))
        info = SERVER.get("/api/v1/projects/delivery/experiments/hung-from-start")
        self.assertEqual(info["features"], {"lr": 0.1, "model": {"depth": 12}})

    def test_hangs_mid_run_batches_spooled_and_replayed_exactly_once(self):
        state = {"hang": False}

        def rule(method, path):
            if not state["hang"]:
                return None
            # batches reach the server but the answer never comes; everything else hangs
            return ("forward_hang",) if "/metrics/batch/" in path else ("hang",)

        proxy = FaultProxy(SERVER.url, rule)
        self.addCleanup(proxy.close)
        spool = temp_dir(self, "assay-spool-")
        e = Experiment("delivery", "hung-mid-run", api_url=proxy.url, api_key=SERVER.api_key, spool_dir=spool,
                       offline_grace=self.GRACE, batch_size=1000, flush_interval=0.05, **FAST)
        n = 6000
        for i in range(n // 2):
            e.log_metric("loss", float(i), step=i)
        self.assertTrue(e.flush_metrics(timeout=30))
        state["hang"] = True
        for i in range(n // 2, n):
            e.log_metric("loss", float(i), step=i)
        repo = git_repo(self)
        for label, call, bound in (
                ("flush_metrics(timeout=0.5)", lambda: e.flush_metrics(timeout=0.5), 0.5 + 0.3),
                ("flush_metrics()", e.flush_metrics, self.GRACE + 0.5),
                ("log_features", lambda: e.log_features({"late": True}) or False, self.GRACE + 0.5),
                ("log_code_snapshot", lambda: not e.log_code_snapshot(path=repo)["dirty"], self.GRACE + 0.5),
                ("finish(timeout=2)", lambda: e.finish(timeout=2.0), 2.0 + 0.5)):
            t0 = time.monotonic()
            self.assertFalse(call(), label)
            took = time.monotonic() - t0
            self.assertLess(took, bound, f"{label} blocked {took:.2f}s")
        on_server = count("delivery", "hung-mid-run", "loss")[0]
        self.assertGreaterEqual(on_server, n // 2)  # some unanswered batches were stored anyway
        self.assertGreaterEqual(int(re.search(r"(\d+) point\(s\)", e.finish_message).group(1)), n - on_server)
        r = run_sync(spool, SERVER.api_key, "--api-url", SERVER.url)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.decode()
        if on_server > n // 2:  # the batches the server stored but never answered: same batch_id
            self.assertNotIn(" 0 already there", out)
        self.assertEqual(count("delivery", "hung-mid-run", "loss"), (n, n))
        info = SERVER.get("/api/v1/projects/delivery/experiments/hung-mid-run")
        self.assertEqual((info["status"], info["features"]), ("complete", {"late": True}))
        self.assertIn("+lr = 3e-4", info["git"]["diff"])  # the snapshot recorded while it hung


class TestReadBack(unittest.TestCase):
    def test_get_metric_pages_to_the_end_or_says_it_was_cut(self):
        e = exp_(self, "25k")
        n = 25_000
        for i in range(n):
            e.log_metric("loss", 1.0 / (i + 1), step=i)
        self.assertTrue(e.finish())
        whole = e.get_metric("loss")
        self.assertEqual(whole["count"], n)
        self.assertEqual([p["step"] for p in whole["points"]], list(range(n)))
        self.assertEqual((whole["truncated"], whole["downsampled"], whole["next_step_min"]), (False, False, None))
        paged = e.get_metric("loss", page_size=7_000)  # four requests, continued by next_step_min
        self.assertEqual([p["step"] for p in paged["points"]], list(range(n)))
        self.assertFalse(paged["truncated"])
        cut = e.get_metric("loss", limit=10_000)
        self.assertEqual((cut["count"], cut["truncated"], cut["next_step_min"]), (10_000, True, 10_000))
        cut = e.get_metric("loss", limit=12_000, page_size=5_000)
        self.assertEqual([p["step"] for p in cut["points"]], list(range(12_000)))
        self.assertEqual((cut["truncated"], cut["next_step_min"]), (True, 12_000))
        rest = e.get_metric("loss", step_min=cut["next_step_min"])
        self.assertEqual([p["step"] for p in rest["points"]], list(range(12_000, n)))
        self.assertFalse(rest["truncated"])
        small = e.get_metric("loss", max_points=100)
        self.assertTrue(small["downsampled"])
        self.assertLessEqual(small["count"], 100)


class TestHabits(unittest.TestCase):
    def test_log_dict_resume_by_id_tags_description_features(self):
        e = exp_(self, "habits", tags=["baseline"], description="first try", features={"opt": {"lr": 0.1}})
        e.log({"loss": 0.5, "acc": 0.7}, step=3)
        e.log({"loss": 0.4, "acc": 0.8})
        self.assertTrue(e.finish())
        r = exp_(self, None, id=e.id, tags=["resumed"], features={"opt": {"wd": 0.01}})
        self.assertEqual((r.id, r.name), (e.id, "habits"))
        self.assertEqual(r.tags, ["baseline", "resumed"])  # merged, in order
        self.assertEqual(r.features, {"opt": {"lr": 0.1, "wd": 0.01}})
        self.assertEqual(r.description, "first try")
        r.log({"loss": 0.3})  # automatic steps continue after the resumed series
        r.set_tags(["final"])
        r.set_description("notes")
        r.log_features({"opt": {"lr": 0.2}})
        self.assertEqual((r.tags, r.description, r.features), (["final"], "notes", {"opt": {"lr": 0.2, "wd": 0.01}}))
        self.assertTrue(r.finish())
        self.assertEqual([(p["step"], p["value"]) for p in r.get_metric("loss")["points"]],
                         [(3, 0.5), (4, 0.4), (5, 0.3)])
        self.assertEqual([p["step"] for p in r.get_metric("acc")["points"]], [3, 4])
        info = SERVER.get(f"/api/v1/projects/{e.project_id}/experiments/{e.id}")
        self.assertEqual((info["tags"], info["description"], info["status"]), (["final"], "notes", "complete"))


class TestSpoolLayout(unittest.TestCase):
    def test_sync_replays_python_and_legacy_runs_and_reports_foreign_ones(self):
        root = temp_dir(self, "assay-spool-root-")
        env = {**os.environ, "ASSAY_SPOOL_DIR": root, "ASSAY_MODE": "offline", "ASSAY_API_URL": SERVER.url,
               "PYTHONPATH": os.path.dirname(HERE)}
        code = ("import sys\nfrom research_sdk import Experiment\n"
                "e = Experiment('delivery', sys.argv[1], system_metrics=False, spool_dir=sys.argv[2] or None)\n"
                "for i in range(500): e.log_metric('x', float(i))\n"
                "e.finish()\n")
        for name, where in (("spool-new", ""), ("spool-legacy", root)):  # legacy: a run dir in the root
            subprocess.run([sys.executable, "-c", code, name, where], env=env, check=True, timeout=60)
        self.assertEqual(len(os.listdir(os.path.join(root, "python"))), 1)
        write_node_segment(os.path.join(root, "node"))
        env.pop("ASSAY_MODE")
        env["ASSAY_API_KEY"] = SERVER.api_key
        r = subprocess.run([sys.executable, "-m", "research_sdk", "sync"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)  # all replayed; foreign spools reported
        self.assertEqual(r.stdout.decode().count(": done"), 2)
        self.assertIn(f"ASSAY_API_KEY=<key> npx assay-sdk sync {os.path.join(root, 'node')}", r.stderr.decode())
        for name in ("spool-new", "spool-legacy"):
            self.assertEqual(count("delivery", name, "x"), (500, 500))
        self.assertEqual(sorted(os.listdir(root)), ["node", "python"])
        self.assertTrue(os.listdir(os.path.join(root, "node")))  # the other SDK's files: untouched
        with open(os.path.join(root, "node", "20260101T000000000-123-abcd.jsonl")) as f:
            self.assertEqual(json.loads(f.readline())["type"], "header")


if __name__ == "__main__":
    unittest.main()
