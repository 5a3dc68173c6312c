#!/usr/bin/env python3
"""Cost of Experiment.log_metric on the training thread, and points/s delivered.

Scenarios (each: a tight loop of N calls, every call timed with perf_counter_ns):
  live   the background sender delivers to a live server at full rate
  down   the server is unreachable: batches go to the on-disk spool
  slow   every request takes 1 s (a local delaying proxy in front of the server)
plus `delivered`: N points logged as fast as possible, then flush_metrics(): points/s acked.

Prints one line per figure: `name value unit`. By default it starts its own server
(node packages/server/bin/assay.mjs) on a free port with a temp data dir; or pass --api-url/--api-key.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tests"))

from research_sdk import Experiment  # noqa: E402


def emit(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.3f} {unit}" if isinstance(value, float) else f"{name} {value} {unit}", flush=True)


def percentile(sorted_vals, q):
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def timer_overhead_ns(n: int = 200_000) -> float:
    pc = time.perf_counter_ns
    d = [0] * n
    for i in range(n):
        t0 = pc()
        d[i] = pc() - t0
    d.sort()
    return d[n // 2]


def timed_loop(fn, n: int, overhead: float):
    """Per-call cost of fn(name, value, step=i), timer overhead subtracted. Returns (median, p99) in µs."""
    pc = time.perf_counter_ns
    d = [0] * n
    v = 0.5
    for i in range(n):
        t0 = pc()
        fn("loss", v, step=i)
        d[i] = pc() - t0
    d.sort()
    return (max(0.0, d[n // 2] - overhead) / 1000.0, max(0.0, percentile(d, 0.99) - overhead) / 1000.0,
            max(0.0, percentile(d, 0.999) - overhead) / 1000.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=int(os.environ.get("BENCH_SDK_POINTS", 1_000_000)))
    ap.add_argument("--api-url")
    ap.add_argument("--api-key")
    ap.add_argument("--latency", type=float, default=1.0, help="slow-server latency per request, seconds")
    ap.add_argument("--scenarios", default="baseline,live,delivered,down,slow")
    args = ap.parse_args()
    n = args.points
    scen = set(args.scenarios.split(","))
    spool = tempfile.mkdtemp(prefix="assay-bench-spool-")
    server = None
    url, key = args.api_url, args.api_key
    if not url:
        from harness import LiveServer

        server = LiveServer(team="bench").start()
        url, key = server.url, server.api_key
    common = dict(api_url=url, api_key=key, system_metrics=False, spool_dir=spool, install_hooks=False)
    overhead = timer_overhead_ns()
    emit("sdk_timer_overhead", overhead, "ns")
    try:
        if "baseline" in scen:
            lst = []
            app = lst.append

            def bare(name, value, step):
                app((name, value, step))
            med, p99, _ = timed_loop(bare, n, overhead)
            emit("sdk_baseline_list_append_median", med, "us")
            emit("sdk_baseline_list_append_p99", p99, "us")
            del lst

        if "live" in scen:
            e = Experiment("bench-sdk", "live", **common)
            gc.collect()
            t0 = time.perf_counter()
            med, p99, p999 = timed_loop(e.log_metric, n, overhead)
            loop_s = time.perf_counter() - t0
            e.flush_metrics()
            total_s = time.perf_counter() - t0
            emit("sdk_log_metric_live_median", med, "us")
            emit("sdk_log_metric_live_p99", p99, "us")
            emit("sdk_log_metric_live_p999", p999, "us")
            emit("sdk_log_metric_live_loop_rate", n / loop_s, "calls/s")
            emit("sdk_live_delivered_while_timing", n / total_s, "points/s")
            e.finish()

        if "delivered" in scen:
            e = Experiment("bench-sdk", "delivered", **common)
            lm = e.log_metric
            gc.collect()
            t0 = time.perf_counter()
            for i in range(n):
                lm("loss", 0.5, step=i)
            t1 = time.perf_counter()
            e.flush_metrics()
            t2 = time.perf_counter()
            st = e.stats()
            emit("sdk_log_metric_untimed_loop_rate", n / (t1 - t0), "calls/s")
            emit("sdk_delivered", st["points_acked"] / (t2 - t0), "points/s")
            emit("sdk_delivered_batches", st["batches_acked"], "batches")
            e.finish()

        if "down" in scen:
            from harness import free_port

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = Experiment("bench-sdk", "down", **{**common, "api_url": f"http://127.0.0.1:{free_port()}"},
                               offline_grace=0.2)
            gc.collect()
            med, p99, p999 = timed_loop(e.log_metric, n, overhead)
            t0 = time.perf_counter()
            e.flush_metrics()
            emit("sdk_log_metric_down_median", med, "us")
            emit("sdk_log_metric_down_p99", p99, "us")
            emit("sdk_log_metric_down_p999", p999, "us")
            emit("sdk_down_spooled", e.stats()["points_spooled"], "points")
            e.finish(timeout=5)

        if "slow" in scen:
            from harness import FaultProxy

            proxy = FaultProxy(url, delay=args.latency)
            try:
                e = Experiment("bench-sdk", "slow", **{**common, "api_url": proxy.url})
                gc.collect()
                t0 = time.perf_counter()
                med, p99, p999 = timed_loop(e.log_metric, n, overhead)
                loop_s = time.perf_counter() - t0
                emit("sdk_log_metric_slow_median", med, "us")
                emit("sdk_log_metric_slow_p99", p99, "us")
                emit("sdk_log_metric_slow_p999", p999, "us")
                time.sleep(2 * args.latency + 1)
                st = e.stats()
                emit("sdk_slow_delivered", st["points_acked"] / (time.perf_counter() - t0), "points/s")
                e.finish(timeout=3 * args.latency + 2)  # the rest is spooled; not measured
            finally:
                proxy.close()
    finally:
        if server:
            server.cleanup()
        shutil.rmtree(spool, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
