"""MLflow's own REST tracking test module (tests/tracking/test_rest_tracking.py at the commit pinned
in mlflow_upstream/manifest.json, fetched and hash-verified at test time, never committed here) run
with the pinned client against a live Assay — the proof FastTrackML and mlflow-go-backend give.

Exact, in both directions: the tests that pass are exactly mlflow_upstream/expected_pass.txt (a
regression fails; a new pass must be added to the list), the failures exactly known_failures.txt
(each with its reason), the skips exactly the out-of-scope tests of skips.txt.

Sources unavailable (no cache, no GitHub, no ASSAY_MLFLOW_TESTS_SRC) or PyPI unreachable: a loud
skip, like the other tests that need third-party packages."""
from __future__ import annotations

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "mlflow_upstream"))
sys.path.insert(0, HERE)
from harness import server_available  # noqa: E402
from fetch import SourcesUnavailable  # noqa: E402
import run as upstream  # noqa: E402

LISTS = os.path.join(HERE, "mlflow_upstream")
OFFLINE_HINTS = ("NewConnectionError", "Temporary failure in name resolution", "No matching distribution", "ConnectTimeout", "Network is unreachable")
RESULTS: dict = {}


def read_list(name: str) -> dict:
    """{id: reason} from a list file: one entry a line, `<id> <reason>`, # comments."""
    out = {}
    with open(os.path.join(LISTS, name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, reason = line.partition(" ")
                out[key] = reason.strip()
    return out


def loud_skip(why: str) -> None:
    msg = f"!!! SKIPPED: {why} — MLflow's REST tracking test module did NOT run !!!"
    print("\n" + msg, file=sys.stderr)
    raise unittest.SkipTest(msg)


def setUpModule() -> None:
    if not server_available():
        raise unittest.SkipTest("node or the Assay server is not available")
    try:
        out = upstream.run()
    except SourcesUnavailable as e:
        loud_skip(f"MLflow's test sources are not available ({e})")
    except RuntimeError as e:
        if any(h in str(e) for h in OFFLINE_HINTS):
            loud_skip(f"cannot install {upstream.REQUIREMENTS} from PyPI (offline?)")
        raise
    RESULTS.update(out["results"])
    c = upstream.counts(RESULTS)
    print(f"\nMLflow test_rest_tracking.py against Assay: {c} in {out['seconds']} s", file=sys.stderr)


def ids(outcome: str) -> set:
    return {k for k, v in RESULTS.items() if v["outcome"] == outcome}


class MlflowRestTrackingModule(unittest.TestCase):
    def test_passing_tests_are_exactly_the_golden_list(self) -> None:
        expected = set(read_list("expected_pass.txt"))
        got = ids("passed")
        self.assertEqual(sorted(expected - got), [], "tests that passed before and do not now: " + "; ".join(f"{k}: {RESULTS.get(k, {}).get('message', 'not run')}" for k in sorted(expected - got)))
        self.assertEqual(sorted(got - expected), [], "new passes: add them to mlflow_upstream/expected_pass.txt (and drop them from known_failures.txt)")

    def test_failures_are_exactly_the_known_ones(self) -> None:
        self.assertEqual(sorted(ids("failed")), sorted(read_list("known_failures.txt")))

    def test_skips_are_exactly_the_out_of_scope_ones(self) -> None:
        out_of_scope = read_list("skips.txt")
        skipped = ids("skipped")
        self.assertEqual(sorted({s.split("[")[0] for s in skipped}), sorted(out_of_scope))
        for s in skipped:
            self.assertEqual(RESULTS[s]["message"], out_of_scope[s.split("[")[0]], s)


if __name__ == "__main__":
    unittest.main()
