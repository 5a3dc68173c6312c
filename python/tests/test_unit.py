"""Pure unit tests (no server): value coercion and wire encoding, spool, backoff, outbox ordering and
flush markers, git helpers, system metrics (the nvidia-smi parser on real-looking output)."""
import datetime as dt
import json
import math
import os
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from research_sdk import _encode as enc  # noqa: E402
from research_sdk._errors import retry_after_seconds  # noqa: E402
from research_sdk._git import strip_credentials  # noqa: E402
from research_sdk._deliver import OK, Outcome  # noqa: E402
from research_sdk._outbox import Marker, Outbox  # noqa: E402
from research_sdk._sender import Backoff  # noqa: E402
from research_sdk._spool import Spool  # noqa: E402
from research_sdk._system import SystemSampler, gpu_metrics  # noqa: E402
from harness import module_in_temp_cwd, temp_dir  # noqa: E402

setUpModule, tearDownModule = module_in_temp_cwd()


class Item:
    def __init__(self, v):
        self.v = v

    def item(self):
        return self.v


class TestEncoding(unittest.TestCase):
    def test_coerce_value(self):
        self.assertEqual(enc.coerce_value(3), 3.0)
        self.assertEqual(enc.coerce_value(True), 1.0)
        self.assertEqual(enc.coerce_value(Item(0.25)), 0.25)
        self.assertEqual(enc.coerce_value(Item(7)), 7.0)
        with self.assertRaises(TypeError):
            enc.coerce_value("0.5")
        with self.assertRaises(TypeError):
            enc.coerce_value(None)

    def test_coerce_step_and_timestamp(self):
        self.assertEqual(enc.coerce_step(Item(5)), 5)
        self.assertEqual(enc.coerce_step(4.0), 4)
        with self.assertRaises(TypeError):
            enc.coerce_step(1.5)
        with self.assertRaises(TypeError):
            enc.coerce_step(True)
        t = enc.coerce_timestamp(dt.datetime(2024, 1, 2, 3, 4, 5))
        self.assertEqual(t, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp())
        self.assertEqual(enc.coerce_timestamp("2024-01-02T03:04:05Z"), t)
        self.assertEqual(enc.coerce_timestamp(t * 1000), t)
        last = dt.datetime(2106, 2, 7, 6, 28, 15, 999000, tzinfo=dt.timezone.utc)
        for ok in (last, 4294967295999, "2106-02-07T06:28:15.999Z", 0):
            self.assertLessEqual(round(enc.coerce_timestamp(ok) * 1000), 4294967295999, ok)
        for bad in (last + dt.timedelta(milliseconds=1), 4294967296000, -1, "1969-12-31T23:59:59Z"):
            with self.assertRaises(ValueError, msg=bad):
                enc.coerce_timestamp(bad)
        self.assertEqual(enc.coerce_step(2 ** 53 - 1), 2 ** 53 - 1)
        for bad in (-1, 2 ** 53, Item(-3), float(2 ** 53)):
            with self.assertRaises(ValueError, msg=bad):
                enc.coerce_step(bad)

    def test_last_storable_timestamp_is_encoded_exactly(self):
        t = enc.coerce_timestamp(dt.datetime(2106, 2, 7, 6, 28, 15, 999000, tzinfo=dt.timezone.utc))
        doc = json.loads(enc.encode_series_batch("b", {"m": ([0], [1.0], [t])}))
        self.assertEqual(doc["series"][0]["timestamps"], [4294967295999])

    def test_non_finite_on_the_wire(self):
        groups = {"loss": ([0, 1, 2, 3], [0.5, math.nan, math.inf, -math.inf], [1.0, 1.0, 1.0, 1.0])}
        doc = json.loads(enc.encode_series_batch("b1", groups))
        self.assertEqual(doc["batch_id"], "b1")
        self.assertEqual(doc["series"][0]["values"], [0.5, "NaN", "Infinity", "-Infinity"])
        self.assertEqual(doc["series"][0]["timestamps"], [1000] * 4)
        rows = json.loads(enc.encode_points_batch("b2", groups))["metrics"]
        self.assertEqual([r["metric_value"] for r in rows], [0.5, "NaN", "Infinity", "-Infinity"])
        self.assertEqual(enc.decode_value("NaN") != enc.decode_value("NaN"), True)
        self.assertEqual(enc.decode_value("-Infinity"), -math.inf)

    def test_roundtrip_precision_and_unicode(self):
        vals = [0.1, 1e-300, 1.7976931348623157e308, -0.0, 123456789.123456789]
        groups = {"ünï/cödé \"q\"": (list(range(5)), vals, [0.0] * 5)}
        doc = json.loads(enc.encode_series_batch("x", groups))
        self.assertEqual(doc["series"][0]["values"], vals)
        self.assertEqual(doc["series"][0]["metric_name"], "ünï/cödé \"q\"")

    def test_series_to_points_and_split(self):
        groups = {"a": ([0, 1], [1.0, 2.0], [1.0, 2.0]), "b": ([5], [math.nan], [3.0])}
        body = enc.encode_series_batch("id1", groups)
        rows = json.loads(enc.series_body_to_points_body(body))
        self.assertEqual(rows["batch_id"], "id1")
        self.assertEqual(len(rows["metrics"]), 3)
        self.assertEqual(rows["metrics"][2], {"metric_name": "b", "metric_value": "NaN", "step": 5, "timestamp": 3000})
        halves = enc.split_body(body)
        self.assertEqual(len(halves), 2)
        self.assertEqual(sum(enc.body_point_count(h) for h in halves), 3)
        ids = {json.loads(h)["batch_id"] for h in halves}
        self.assertEqual(len(ids), 2)

    def test_sanitize(self):
        self.assertEqual(enc.sanitize_json({"a": math.nan, "b": (1, Item(2.5)), 3: {"c"}}),
                         {"a": "NaN", "b": [1, 2.5], "3": ["c"]})

    def test_retry_after(self):
        self.assertEqual(retry_after_seconds("3"), 3.0)
        self.assertIsNone(retry_after_seconds("soon"))
        self.assertIsNone(retry_after_seconds(None))

    def test_strip_credentials(self):
        self.assertEqual(strip_credentials("https://u:tok@github.com/a/b.git"), "https://github.com/a/b.git")
        self.assertEqual(strip_credentials("git@github.com:a/b.git"), "git@github.com:a/b.git")


class TestBackoff(unittest.TestCase):
    def test_exponential_with_jitter_and_cap(self):
        b = Backoff(0.1, 2.0)
        delays = [b.next() for _ in range(10)]
        for i, d in enumerate(delays):
            cap = min(2.0, 0.1 * 2 ** i)
            self.assertGreaterEqual(d, cap / 2 - 1e-9)
            self.assertLessEqual(d, cap + 1e-9)
        self.assertGreaterEqual(b.next(retry_after=7), 7)
        b.reset()
        self.assertLessEqual(b.next(), 0.1)


class TestSpool(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir(self)

    def test_append_prepend_replay_in_order(self):
        s = Spool(os.path.join(self.dir, "run"))
        s.append([b'{"n":3}', b'{"n":4}'])
        s.prepend([b'{"n":1}', b'{"n":2}'])
        s.append([b'{"n":5}'])
        self.assertEqual(s.pending, 5)
        seen = []
        while True:
            item = s.peek()
            if item is None:
                break
            seen.append(json.loads(item[0])["n"])
            s.ack(item[1])
        self.assertEqual(seen, [1, 2, 3, 4, 5])
        self.assertTrue(s.empty)
        self.assertTrue(s.remove_if_empty())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "run")))

    def test_resume_after_restart_and_torn_line(self):
        d = os.path.join(self.dir, "run")
        s = Spool(d)
        s.append([b'{"n":1}', b'{"n":2}', b'{"n":3}'])
        body, pos = s.peek()
        s.ack(pos)
        s.close()
        seg = [f for f in os.listdir(d) if f.endswith(".jsonl")][0]
        with open(os.path.join(d, seg), "ab") as f:
            f.write(b'{"n":4, "torn')  # a crash mid-write
        s2 = Spool(d)
        seen = []
        while True:
            item = s2.peek()
            if item is None:
                break
            seen.append(json.loads(item[0])["n"])
            s2.ack(item[1])
        self.assertEqual(seen, [2, 3])
        s2.close()

    def test_lock(self):
        from research_sdk import SpoolLockedError

        d = os.path.join(self.dir, "run")
        s = Spool(d)
        with self.assertRaises(SpoolLockedError):
            Spool(d)
        s.close()
        Spool(d).close()


class TestOutbox(unittest.TestCase):
    def setUp(self):
        self.dir = temp_dir(self)
        self.spool = None

    def factory(self):
        self.spool = Spool(os.path.join(self.dir, "run"))
        return self.spool

    def drain(self, ob):
        stop = threading.Event()
        out = []
        while True:
            with ob.lock:
                if ob.drained():
                    break
            b = ob.next_for_send(stop)
            out.append(json.loads(b.body)["n"])
            ob.done(b, Outcome(OK))
        return out

    def test_memory_bound_spills_and_order_is_kept(self):
        ob = Outbox(self.factory, max_memory_bytes=30)
        for i in range(6):
            ob.put(b'{"n":%d}' % i, 1)  # 7 bytes each: 4 fit in memory, then spill
        self.assertIsNotNone(self.spool)
        self.assertEqual(self.drain(ob), [0, 1, 2, 3, 4, 5])

    def test_go_offline_moves_memory_ahead_of_spool(self):
        ob = Outbox(self.factory, max_memory_bytes=20)
        for i in range(4):
            ob.put(b'{"n":%d}' % i, 1)
        stop = threading.Event()
        first = ob.next_for_send(stop)  # in flight
        self.assertEqual(json.loads(first.body)["n"], 0)
        ob.go_offline()
        ob.put(b'{"n":4}', 1)
        ob.done(first, Outcome(OK))  # late ack of a batch that was moved: ignored (replayed, idempotent)
        ob.go_online()
        self.assertEqual(self.drain(ob), [0, 1, 2, 3, 4])

    def test_flush_marker_tells_the_truth(self):
        ob = Outbox(self.factory)
        ob.put(b'{"n":0}', 1)
        m = Marker()
        ob.add_marker(m)
        self.assertFalse(m.event.is_set())
        stop = threading.Event()
        b = ob.next_for_send(stop)
        self.assertFalse(m.event.is_set())
        ob.done(b, Outcome(OK))
        self.assertTrue(m.wait(0))  # acknowledged: True
        m2 = Marker()
        ob.put(b'{"n":1}', 1)
        ob.add_marker(m2)
        ob.go_offline()  # spooled: released at once, but not acknowledged
        self.assertTrue(m2.event.is_set())
        self.assertFalse(m2.wait(0))
        self.assertEqual(ob.points_on_disk(), 1)
        # back online: a marker behind the spooled batch waits for its replay
        ob.go_online()
        m3 = Marker()
        ob.add_marker(m3)
        self.assertFalse(m3.event.is_set())
        b = ob.next_for_send(stop)
        ob.done(b, Outcome(OK))
        self.assertTrue(m3.wait(0))
        self.assertEqual(ob.points_on_disk(), 0)

    def test_stop_auth_spools_everything_and_stops_sending(self):
        ob = Outbox(self.factory, window=2)
        for i in range(3):
            ob.put(b'{"n":%d}' % i, 10)
        stop = threading.Event()
        first = ob.next_for_send(stop)
        first.sent_at = 1.0  # a request is out
        self.assertTrue(ob.stalled(0.0))
        self.assertEqual(ob.stop_auth("HTTP 401: revoked"), 3)
        ob.put(b'{"n":3}', 10)  # logged after the refusal: straight to disk
        self.assertEqual(ob.points_on_disk(), 40)
        self.assertFalse(ob.wait_drained(timeout=1))
        stop.set()
        self.assertIsNone(ob.next_for_send(stop))  # nothing is sent with a refused key
        ob.done(first, Outcome(OK))  # a late answer for a moved batch changes nothing
        self.assertEqual(ob.points_on_disk(), 40)
        self.assertEqual(self.spool.pending, 4)


# `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`
# on a 2×A100 box (one GPU idle; a driver that cannot read utilization prints "[N/A]").
NVIDIA_SMI = "0, 87, 30512, 81920\n1, 0, 4, 81920\n2, [N/A], 1024, 16384\n"


class TestSystem(unittest.TestCase):
    def test_gpu_parser_on_nvidia_smi_output(self):
        out = gpu_metrics(NVIDIA_SMI)
        self.assertEqual(out["system/gpu0/utilization_percent"], 87.0)
        self.assertEqual(out["system/gpu0/memory_used_mb"], 30512.0)
        self.assertEqual(out["system/gpu0/memory_percent"], round(100 * 30512 / 81920, 2))
        self.assertEqual(out["system/gpu1/utilization_percent"], 0.0)
        self.assertEqual(out["system/gpu1/memory_percent"], round(100 * 4 / 81920, 2))
        # an unreadable field is skipped, the readable ones of that GPU are kept
        self.assertNotIn("system/gpu2/utilization_percent", out)
        self.assertEqual(out["system/gpu2/memory_used_mb"], 1024.0)
        self.assertEqual(gpu_metrics(""), {})
        self.assertEqual(gpu_metrics("garbage\n"), {})

    def test_sampler_runs_nvidia_smi_and_parses_it(self):
        d = temp_dir(self)
        fake = os.path.join(d, "nvidia-smi")
        with open(os.path.join(d, "out.csv"), "w") as f:
            f.write(NVIDIA_SMI)
        with open(fake, "w") as f:
            f.write(f"#!/bin/sh\nexec cat '{d}/out.csv'\n")
        os.chmod(fake, 0o755)
        old = os.environ.get("PATH", "")
        os.environ["PATH"] = d + os.pathsep + old
        try:
            out = SystemSampler(gpu=True).sample()
        finally:
            os.environ["PATH"] = old
        self.assertEqual(out["system/gpu0/utilization_percent"], 87.0)
        self.assertEqual(out["system/gpu2/memory_used_mb"], 1024.0)

    def test_sample(self):
        s = SystemSampler(gpu=False)
        out = s.sample()
        if os.path.exists("/proc/meminfo"):
            self.assertIn("system/memory_percent", out)
            self.assertIn("system/process_rss_mb", out)
            self.assertGreater(out["system/process_rss_mb"], 1)


if __name__ == "__main__":
    unittest.main()
