"""Integration tests against a live Assay server (started here on a free port, temp data dir)."""
import contextlib
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import research_sdk  # noqa: E402
from research_sdk import (Experiment, HypothesisEvaluator, NotSupportedError, TeamMismatchError,  # noqa: E402
                          compare)
from harness import FaultProxy, LiveServer, TempCwd, git_repo, require_server, temp_dir  # noqa: E402

SERVER = None
SPOOL = None
CWD = None
OLD_SPOOL_ENV = None
FAST = dict(system_metrics=False, offline_grace=2.0, backoff_base=0.05, backoff_cap=0.5)


def setUpModule():
    global SERVER, SPOOL, CWD, OLD_SPOOL_ENV
    require_server()
    CWD = TempCwd()
    SPOOL = tempfile.mkdtemp(prefix="assay-spool-")
    OLD_SPOOL_ENV = os.environ.get("ASSAY_SPOOL_DIR")
    os.environ["ASSAY_SPOOL_DIR"] = SPOOL
    SERVER = LiveServer().start()


def tearDownModule():
    if SERVER:
        SERVER.cleanup()
    if OLD_SPOOL_ENV is None:
        os.environ.pop("ASSAY_SPOOL_DIR", None)
    else:
        os.environ["ASSAY_SPOOL_DIR"] = OLD_SPOOL_ENV
    shutil.rmtree(SPOOL, ignore_errors=True)
    CWD.close()


class Scalar:
    """Stands in for a torch/numpy scalar: only .item()."""

    def __init__(self, v):
        self.v = v

    def item(self):
        return self.v


def exp_(name, project="live", **kw):
    opts = {**FAST, **kw}
    return Experiment(project, name, api_url=opts.pop("api_url", SERVER.url), api_key=SERVER.api_key, **opts)


def series(e, metric, **q):
    from urllib.parse import quote
    return SERVER.get(f"/api/v1/metrics/timeseries/{e.project_id}/{e.id}/{quote(metric, safe='')}", limit=100000, **q)


def info(e):
    return SERVER.get(f"/api/v1/projects/{e.project_id}/experiments/{e.id}")


def summary(e):
    return SERVER.get(f"/api/v1/metrics/summary/{e.project_id}/{e.id}")["metrics"]


class TestSeedExample(unittest.TestCase):
    def test_seed_example_end_to_end(self):
        with open(os.path.join(HERE, "seed_example_experiment_tracking.py"), encoding="utf-8") as f:
            code = f.read()
        # Only the connection literals are pointed at this test's server; nothing else changes.
        code = code.replace('"http://localhost:8000"', repr(SERVER.url)).replace('"your-api-key"', repr(SERVER.api_key))
        work = temp_dir(self, "assay-seed-")
        os.makedirs(os.path.join(work, "checkpoints"))
        with open(os.path.join(work, "checkpoints", "model.pt"), "wb") as f:
            f.write(os.urandom(4096))
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
                       cwd=work, check=True)
        train_loader = [(None, None)] * 7  # 7 batches per epoch, 100 epochs → 700 steps
        cwd = os.getcwd()
        out = io.StringIO()
        try:
            os.chdir(work)
            g = {"__name__": "__main__", "train_loader": train_loader}
            with contextlib.redirect_stdout(out), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(code, "seed_example", "exec"), g)
        finally:
            os.chdir(cwd)
        self.assertIn("Experiment tracking completed!", out.getvalue())
        exp = g["exp"]
        info = exp.info()
        self.assertEqual(info["status"], "complete")
        self.assertIsNotNone(info["finished_at"])
        self.assertEqual(info["features"]["model"]["architecture"], "ViT-Base")
        self.assertEqual(info["features"]["training"]["learning_rate"], 1e-4)
        self.assertTrue(info["git"]["commit"])
        for m, v in (("loss", 0.42), ("accuracy", 0.95)):
            ts = series(exp, m)
            self.assertEqual(ts["count"], 700)
            self.assertEqual([p["step"] for p in ts["points"]], list(range(700)))
            self.assertTrue(all(p["value"] == v for p in ts["points"]))
            self.assertEqual(summary(exp)[m]["count"], 700)


class TestLogging(unittest.TestCase):
    def test_auto_step(self):
        e = exp_("auto-step")
        for i in range(5):
            e.log_metric("x", float(i))
        e.log_metric("x", 10.0, step=10)
        e.log_metric("x", 11.0)
        e.buffer_metric("y", 1.0)
        e.buffer_metric("y", 2.0)
        self.assertTrue(e.finish())
        self.assertEqual([p["step"] for p in series(e, "x")["points"]], [0, 1, 2, 3, 4, 10, 11])
        self.assertEqual([p["step"] for p in series(e, "y")["points"]], [0, 1])

    def test_resume_continues_steps(self):
        e = exp_("resume")
        for i in range(3):
            e.log_metric("x", 1.0)
        e.finish()
        e2 = exp_("resume")
        self.assertEqual(e2.id, e.id)
        self.assertEqual(e2.info()["status"], "running")
        e2.log_metric("x", 2.0)
        e2.finish()
        self.assertEqual([p["step"] for p in series(e, "x")["points"]], [0, 1, 2, 3])

    def test_nan_and_inf(self):
        e = exp_("nan-inf")
        for v in (1.0, math.nan, math.inf, -math.inf, 2.0):
            e.log_metric("v", v)
        e.flush_metrics()
        pts = e.get_metric("v")["points"]
        vals = [p["value"] for p in pts]
        self.assertEqual(vals[0], 1.0)
        self.assertTrue(math.isnan(vals[1]))
        self.assertEqual(vals[2:], [math.inf, -math.inf, 2.0])
        raw = series(e, "v")["points"]
        self.assertEqual([p["value"] for p in raw[1:4]], ["NaN", "Infinity", "-Infinity"])
        self.assertEqual(e.summary()["v"]["count"], 5)
        e.finish()

    def test_item_objects_ints_bools(self):
        e = exp_("item")
        e.log_metric("a", Scalar(0.5))
        e.log_metric("a", Scalar(3))
        e.log_metric("a", 7)
        e.log_metric("a", True)
        e.log_metric("a", 0.25, step=Scalar(9))
        with self.assertRaises(TypeError):
            e.log_metric("a", "0.5")
        e.finish()
        pts = series(e, "a")["points"]
        self.assertEqual([(p["step"], p["value"]) for p in pts], [(0, 0.5), (1, 3), (2, 7), (3, 1), (9, 0.25)])

    def test_unicode_and_long_names(self):
        e = exp_("names")
        long = "m/" + "é" * 240
        e.log_metric("train/loss ü 🚀", 1.0)
        e.log_metric(long, 2.0)
        with self.assertRaises(ValueError):
            e.log_metric("x" * 251, 3.0)  # too long: refused at the call, the rest goes through
        self.assertTrue(e.finish())
        self.assertEqual(series(e, "train/loss ü 🚀")["count"], 1)
        self.assertEqual(series(e, long)["count"], 1)

    def test_finish_waits_for_acks(self):
        proxy = FaultProxy(SERVER.url, delay=0.3)  # every request takes ≥ 0.3 s
        try:
            e = exp_("finish-waits", api_url=proxy.url, batch_size=2000)
            n = 10_000
            for i in range(n):
                e.log_metric("loss", 1.0 / (i + 1))
            self.assertTrue(e.finish())
        finally:
            proxy.close()
        # No flush, no sleep: finish() returned, so the server has every point.
        self.assertEqual(summary(e)["loss"]["count"], n)
        self.assertEqual(info(e)["status"], "complete")

    def test_flush_metrics_blocks_until_acked(self):
        e = exp_("flush")
        for i in range(1234):
            e.log_metric("a", float(i))
        self.assertTrue(e.flush_metrics(timeout=30))
        self.assertEqual(summary(e)["a"]["count"], 1234)
        e.finish()

    def test_context_manager(self):
        with self.assertRaises(ZeroDivisionError):
            with exp_("ctx-fail") as e:
                e.log_metric("a", 1.0)
                1 / 0
        self.assertEqual(e.info()["status"], "failed")
        with exp_("ctx-ok") as e2:
            e2.log_metric("a", 1.0)
        self.assertEqual(e2.info()["status"], "complete")
        self.assertEqual(summary(e)["a"]["count"], 1)

    def _script(self, body):
        env = {**os.environ, "ASSAY_API_URL": SERVER.url, "ASSAY_API_KEY": SERVER.api_key,
               "PYTHONPATH": os.path.dirname(HERE)}
        return subprocess.run([sys.executable, "-c", body], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)

    def test_uncaught_exception_marks_failed_and_exit_marks_complete(self):
        r = self._script("from research_sdk import Experiment\n"
                         "e = Experiment('live', 'hook-fail', system_metrics=False)\n"
                         "print(e.id, flush=True)\n"
                         "for i in range(100): e.log_metric('a', i)\n"
                         "raise RuntimeError('boom')\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"boom", r.stderr)
        eid = r.stdout.decode().split()[0]
        self.assertEqual(SERVER.get(f"/api/v1/projects/live/experiments/{eid}")["status"], "failed")
        self.assertEqual(SERVER.get(f"/api/v1/metrics/summary/live/{eid}")["metrics"]["a"]["count"], 100)
        r = self._script("from research_sdk import Experiment\n"
                         "e = Experiment('live', 'hook-exit', system_metrics=False)\n"
                         "print(e.id, flush=True)\n"
                         "for i in range(100): e.log_metric('a', i)\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        eid = r.stdout.decode().split()[0]
        self.assertEqual(SERVER.get(f"/api/v1/projects/live/experiments/{eid}")["status"], "complete")
        self.assertEqual(SERVER.get(f"/api/v1/metrics/summary/live/{eid}")["metrics"]["a"]["count"], 100)

    def test_system_metrics(self):
        e = exp_("sys", system_metrics=True, system_metrics_interval=0.2)
        time.sleep(1.0)
        e.finish()
        s = summary(e)
        self.assertIn("system/cpu_percent", s)
        self.assertIn("system/process_rss_mb", s)
        self.assertGreaterEqual(s["system/memory_percent"]["count"], 2)


class TestRetries(unittest.TestCase):
    def test_429_503_and_lost_responses_are_retried_exactly_once(self):
        state = {"n": 0}

        def rule(method, path):
            if "/metrics/batch/" not in path:
                return None
            state["n"] += 1
            return {1: ("status", 429, {"Retry-After": "1"}), 2: ("status", 503, {}), 3: ("forward_reset",),
                    4: ("reset",), 5: ("status", 500, {})}.get(state["n"])

        proxy = FaultProxy(SERVER.url, rule)
        try:
            e = exp_("retries", api_url=proxy.url, offline_grace=30, batch_size=500)
            t0 = time.monotonic()
            for i in range(2000):
                e.log_metric("a", float(i))
            self.assertTrue(e.finish())
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)  # Retry-After honoured
        finally:
            proxy.close()
        self.assertEqual(summary(e)["a"]["count"], 2000)
        self.assertEqual(series(e, "a")["count"], 2000)
        st = e.stats()
        self.assertGreaterEqual(st["retries"], 4)  # a reset on a kept-alive connection is retried at once
        self.assertGreaterEqual(st["batches_duplicate"], 1)  # the batch whose answer was lost

    def test_other_4xx_is_dropped_once_and_logging_goes_on(self):
        state = {"n": 0}

        def rule(method, path):
            if "/metrics/batch/" in path:
                state["n"] += 1
                if state["n"] == 1:
                    return ("status", 400, {})
            return None

        proxy = FaultProxy(SERVER.url, rule)
        try:
            e = exp_("drop4xx", api_url=proxy.url)
            with self.assertLogs("research_sdk", "WARNING") as logs:
                e.log_metric("a", 1.0)
                e.flush_metrics()
                e.log_metric("a", 2.0)
                e.flush_metrics()
                e.log_metric("a", 3.0)
                e.flush_metrics()
            self.assertFalse(e.finish())  # a point was refused: not everything reached the server
        finally:
            proxy.close()
        self.assertEqual(state["n"], 3)  # not retried
        self.assertEqual(len([r for r in logs.output if "refused point(s) of metric" in r]), 1)  # once per metric
        self.assertIn("metric 'a'", logs.output[0])
        self.assertEqual(series(e, "a")["count"], 2)
        self.assertEqual(e.stats()["points_dropped"], 1)
        self.assertEqual(e.dropped_points, {"a": {"count": 1, "reason": "HTTP 400: injected"}})


class TestMetadata(unittest.TestCase):
    def test_team_check(self):
        tid, tname = SERVER.team["team_id"], SERVER.team["name"]
        for team in (tid, tname):
            e = Experiment("live", "team-ok", team_id=team, api_url=SERVER.url, api_key=SERVER.api_key, **FAST)
            e.finish()
        with self.assertRaises(TeamMismatchError) as cm:
            Experiment("live", "team-bad", team_id="someone-else", api_url=SERVER.url, api_key=SERVER.api_key, **FAST)
        self.assertIn("someone-else", str(cm.exception))
        self.assertIn(tname, str(cm.exception))

    def test_features_merge(self):
        e = exp_("features", features={"model": {"arch": "vit"}})
        e.log_features({"model": {"layers": 12}, "lr": 0.1, "bad": math.nan})
        e.log_features({"model": {"layers": 24}})
        f = e.info()["features"]
        self.assertEqual(f["model"], {"arch": "vit", "layers": 24})
        self.assertEqual(f["lr"], 0.1)
        e.finish()

    def test_code_snapshot(self):
        repo = git_repo(self)
        e = exp_("code")
        snap = e.log_code_snapshot("git_diff", path=repo)
        stored = e.info()["git"]
        self.assertEqual(stored["commit"], snap["commit"])
        self.assertEqual(len(stored["commit"]), 40)
        self.assertTrue(stored["dirty"])
        self.assertIn("+lr = 3e-4", stored["diff"])
        self.assertEqual(stored["untracked"], ["notes.txt"])
        with self.assertWarns(RuntimeWarning):  # cwd is a temp dir outside any git work tree
            self.assertIsNone(e.log_code_snapshot("git_diff"))
        self.assertTrue(e.finish())

    def test_read_back_and_compare(self):
        a, b = exp_("cmp-a", project="cmp"), exp_("cmp-b", project="cmp")
        for i in range(10):
            a.log_metric("loss", 1.0 - i * 0.05)
            b.log_metric("loss", 1.0 - i * 0.08)
        a.finish()
        b.finish()
        r = compare("cmp", ["cmp-a", "cmp-b"], ["loss"], api_url=SERVER.url, api_key=SERVER.api_key)
        # keyed by the identifiers as passed: names stay names
        self.assertEqual(list(r["experiments"]), ["cmp-a", "cmp-b"])
        self.assertAlmostEqual(r["experiments"]["cmp-b"]["loss"]["last"], 1.0 - 9 * 0.08)
        self.assertEqual(a.summary()["loss"]["count"], 10)
        self.assertEqual(len(a.get_metric("loss")["points"]), 10)
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError):
                research_sdk.to_pandas(r)
        else:
            self.assertEqual(research_sdk.to_pandas(a.get_metric("loss")).shape[0], 10)
            self.assertEqual(research_sdk.to_pandas(r).shape, (1, 2))

    def test_hypothesis_on_a_server_without_the_routes_is_clear(self):
        # An older server (here: a proxy answering 501 on the hypotheses paths) gives a clear
        # NotSupportedError from both calls — never a made-up result. tests/test_hypotheses.py
        # covers the real routes.
        proxy = FaultProxy(SERVER.url, rule=lambda m, p: ("status", 501) if "/hypotheses" in p else None)
        self.addCleanup(proxy.close)
        h = HypothesisEvaluator(project="live", hypothesis_id="h-lr-comparison", baseline_experiment="auto-step",
                                target_metrics=["loss", "accuracy"], api_url=proxy.url, api_key=SERVER.api_key)
        with self.assertRaises(NotSupportedError) as cm:
            h.evaluate()
        self.assertIn("does not support hypotheses", str(cm.exception))
        self.assertIn("/hypotheses", str(cm.exception))
        with self.assertRaises(NotSupportedError):
            h.get_result()

    def test_artifacts(self):
        e = exp_("artifacts")
        d = temp_dir(self)
        ck = os.path.join(d, "checkpoints")
        os.makedirs(os.path.join(ck, "sub"))
        for rel in ("a.pt", "sub/b.pt", "c.txt"):
            with open(os.path.join(ck, rel), "wb") as f:
                f.write(os.urandom(100_000))
        first = e.log_artifacts(path=ck, pattern="*.pt")
        self.assertEqual(sorted(a["path"] for a in first), ["checkpoints/a.pt", "checkpoints/sub/b.pt"])
        self.assertFalse(any(a.get("skipped") or a.get("pending") for a in first))
        again = e.log_artifacts(path=ck, pattern="*.pt")
        self.assertTrue(all(a.get("skipped") for a in again))
        items = SERVER.get(f"/api/v1/projects/{e.project_id}/experiments/{e.id}/artifacts")["items"]
        self.assertEqual(len(items), 2)
        e.finish()

    def test_heartbeat(self):
        e = exp_("heartbeat", heartbeat_interval=0.3)
        time.sleep(1.2)
        hb1 = e.info()["heartbeat_at"]
        time.sleep(0.8)
        hb2 = e.info()["heartbeat_at"]
        e.finish()
        self.assertIsNotNone(hb1)
        self.assertNotEqual(hb1, hb2)


if __name__ == "__main__":
    unittest.main()
