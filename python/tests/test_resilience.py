"""Server killed mid-run, server down for the whole run (spool → sync), crash detection.
Each class owns its server: these tests stop and restart it."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from research_sdk import Experiment  # noqa: E402
from research_sdk._sync import sync  # noqa: E402
from harness import LiveServer, TempCwd, require_server, temp_dir  # noqa: E402

FAST = dict(system_metrics=False, backoff_base=0.05, backoff_cap=0.5)
CWD = None


def setUpModule():
    global CWD
    require_server()
    CWD = TempCwd()


def tearDownModule():
    if CWD:
        CWD.close()


def counts(server, pid, eid, metric):
    # paged by next_step_min: a fast machine logs more than one read's 100,000-point limit, and a
    # single read then looked like lost points (steps 0..99,999 of 106,120)
    from urllib.parse import quote
    url = f"/api/v1/metrics/timeseries/{pid}/{eid}/{quote(metric, safe='')}"
    steps, step_min = [], 0
    while True:
        ts = server.get(url, limit=100000, step_min=step_min)
        steps += [p["step"] for p in ts["points"]]
        if ts["next_step_min"] is None:
            break
        step_min = ts["next_step_min"]
    summ = server.get(f"/api/v1/metrics/summary/{pid}/{eid}")["metrics"].get(metric, {})
    return len(steps), summ.get("count"), steps


class TestServerRestartMidRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer().start()
        cls.spool = tempfile.mkdtemp(prefix="assay-spool-")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.spool, ignore_errors=True)

    def _run(self, name, down_for, grace):
        s = self.server
        e = Experiment("resilience", name, api_url=s.url, api_key=s.api_key, offline_grace=grace,
                       spool_dir=self.spool, batch_size=300, flush_interval=0.1, **FAST)
        n = 0
        stop = threading.Event()

        def train():
            nonlocal n
            while not stop.is_set():
                e.log_metric("loss", 1.0 / (n + 1), step=n)
                e.log_metric("acc", n * 1e-6, step=n)
                n += 1
                if n % 20 == 0:
                    time.sleep(0.002)  # ~5-10k points/s per metric: the run stays under the read limit

        t = threading.Thread(target=train)
        t.start()
        time.sleep(1.0)
        s.kill()  # SIGKILL: batches in flight get no answer, some were already written
        time.sleep(down_for)
        s.start()
        time.sleep(1.5)
        stop.set()
        t.join()
        self.assertTrue(e.finish(timeout=120))
        for m in ("loss", "acc"):
            ts_count, sum_count, steps = counts(s, e.project_id, e.id, m)
            self.assertEqual(steps, list(range(n)), m)
            self.assertEqual(ts_count, n, m)
            self.assertEqual(sum_count, n, f"{m}: summary count {sum_count} != {n} (duplicates?)")
        self.assertEqual(s.get(f"/api/v1/projects/{e.project_id}/experiments/{e.id}")["status"], "complete")
        return e, n

    def test_restart_within_grace_every_point_once(self):
        e, n = self._run("restart-retry", down_for=1.0, grace=30.0)
        self.assertGreater(n, 1000)
        self.assertEqual(e.stats()["points_spooled"], 0)

    def test_restart_after_grace_spools_and_replays_every_point_once(self):
        e, n = self._run("restart-spool", down_for=3.0, grace=0.5)
        self.assertGreater(e.stats()["points_spooled"], 0)
        self.assertEqual(os.listdir(self.spool), [])  # replayed and cleaned up


class TestOffline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer()  # team created, server not running yet

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_down_for_whole_run_then_sync_exactly_once(self):
        s = self.server
        spool = temp_dir(self, "assay-spool-")
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            e = Experiment("offline", "down-all-run", api_url=s.url, api_key=s.api_key, offline_grace=0.5,
                           spool_dir=spool, features={"lr": 0.1}, **FAST)
        self.assertTrue(any("offline" in str(x.message) for x in w))
        n = 5000
        for i in range(n):
            e.log_metric("loss", 1.0 / (i + 1))
        e.log_features({"model": {"depth": 12}})
        t0 = time.monotonic()
        self.assertFalse(e.flush_metrics(timeout=10))  # spooled is safe, but not acknowledged
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertFalse(e.finish())
        self.assertIn(f"{n} point(s)", e.finish_message)
        self.assertIn("python -m research_sdk sync", e.finish_message)
        dirs = os.listdir(spool)
        self.assertEqual(len(dirs), 1)
        s.start()
        try:
            env = {**os.environ, "ASSAY_API_KEY": s.api_key, "PYTHONPATH": os.path.dirname(HERE)}
            r = subprocess.run([sys.executable, "-m", "research_sdk", "sync", spool], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(b"done", r.stdout)
            self.assertEqual(os.listdir(spool), [])
            exp = s.get("/api/v1/projects/offline/experiments/down-all-run")
            self.assertEqual(exp["status"], "complete")
            self.assertEqual(exp["features"], {"lr": 0.1, "model": {"depth": 12}})
            ts_count, sum_count, steps = counts(s, exp["project_id"], exp["id"], "loss")
            self.assertEqual((ts_count, sum_count, steps), (n, n, list(range(n))))
            # a second sync has nothing to do
            r = subprocess.run([sys.executable, "-m", "research_sdk", "sync", spool], env=env,
                               stdout=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0)
            self.assertEqual(counts(s, exp["project_id"], exp["id"], "loss")[1], n)
        finally:
            s.stop()

    def test_offline_mode_and_replay_of_a_crashed_process(self):
        s = self.server
        spool = temp_dir(self, "assay-spool-")
        env = {**os.environ, "ASSAY_MODE": "offline", "ASSAY_SPOOL_DIR": spool, "ASSAY_API_URL": s.url,
               "ASSAY_API_KEY": s.api_key, "PYTHONPATH": os.path.dirname(HERE)}
        # 1) a clean offline run; 2) an offline run that dies by SIGKILL before finish()
        code = ("import os, signal, sys\nfrom research_sdk import Experiment\n"
                "e = Experiment('offline', sys.argv[1], system_metrics=False)\n"
                "e.log_features({'k': 1})\n"
                "for i in range(3000): e.log_metric('x', float(i))\n"
                "e.flush_metrics()\n"
                "if sys.argv[1] == 'killed': os.kill(os.getpid(), signal.SIGKILL)\n"
                "e.finish()\n")
        for name in ("clean", "killed"):
            subprocess.run([sys.executable, "-c", code, name], env=env, timeout=60)
        self.assertEqual(os.listdir(spool), ["python"])  # $ASSAY_SPOOL_DIR/python
        self.assertEqual(len(os.listdir(os.path.join(spool, "python"))), 2)
        s.start()
        try:
            res = sync(spool, api_key=s.api_key)
            self.assertEqual([r["result"] for r in res], ["done", "done"], res)
            for name, status in (("clean", "complete"), ("killed", "crashed")):
                exp = s.get(f"/api/v1/projects/offline/experiments/{name}")
                self.assertEqual(exp["status"], status)
                self.assertEqual(exp["features"], {"k": 1})
                self.assertEqual(counts(s, exp["project_id"], exp["id"], "x")[:2], (3000, 3000))
        finally:
            s.stop()


class TestCrashDetection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer(env={"ASSAY_HEARTBEAT_TIMEOUT_SECONDS": "2"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_killed_process_is_marked_crashed(self):
        s = self.server
        env = {**os.environ, "ASSAY_API_URL": s.url, "ASSAY_API_KEY": s.api_key,
               "PYTHONPATH": os.path.dirname(HERE), "ASSAY_HEARTBEAT_INTERVAL": "0.5"}
        code = ("import os, signal, time\nfrom research_sdk import Experiment\n"
                "e = Experiment('crash', 'victim', system_metrics=False)\n"
                "print(e.project_id, e.id, flush=True)\n"
                "for i in range(100): e.log_metric('x', float(i))\n"
                "e.flush_metrics(); time.sleep(3.0)\n"  # heartbeats keep it running past the timeout
                "os.kill(os.getpid(), signal.SIGKILL)\n")
        p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
        pid, eid = p.stdout.readline().decode().split()
        p.stdout.close()
        path = f"/api/v1/projects/{pid}/experiments/{eid}"
        time.sleep(2.5)
        self.assertEqual(s.get(path)["status"], "running")  # alive: heartbeats arrive
        p.wait(30)
        deadline = time.monotonic() + 40
        status = None
        while time.monotonic() < deadline:
            status = s.get(path)["status"]
            if status == "crashed":
                break
            time.sleep(0.5)
        self.assertEqual(status, "crashed")
        # a heartbeat from a revived client brings it back to running
        s.call("POST", path + "/heartbeat", {})
        self.assertEqual(s.get(path)["status"], "running")


if __name__ == "__main__":
    unittest.main()
