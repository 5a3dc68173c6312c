"""Python environments with third-party packages for the tests that need them (pandas for the
design's examples, tools such as mlflow or schemathesis): the SDK itself stays standard-library
only, so these never enter the SDK's own interpreter.

A venv per requirement set, created once under ASSAY_TEST_VENVS (default ~/.cache/assay/test-venvs)
and reused; a `.complete` marker written last means a half-installed venv (a killed run) is
rebuilt rather than trusted. PyPI unreachable is a failure, not a skip: a test that cannot get its
tools has not shown anything."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from typing import Sequence

ROOT = os.environ.get("ASSAY_TEST_VENVS") or os.path.join(os.path.expanduser("~"), ".cache", "assay", "test-venvs")


def venv_python(name: str, requirements: Sequence[str], timeout: float = 1200.0) -> str:
    """The interpreter of a venv holding `requirements` (pip specifiers), built if missing."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    home = os.path.join(ROOT, f"{name}-{key}")
    python = os.path.join(home, "bin", "python")
    marker = os.path.join(home, ".complete")
    os.makedirs(ROOT, mode=0o700, exist_ok=True)
    # Test processes may race to build the same venv: one builds, the others wait on the lock.
    with open(os.path.join(ROOT, f".{name}-{key}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(marker):
            shutil.rmtree(home, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", home], check=True, timeout=300)
            r = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            if r.returncode != 0:
                raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{r.stdout.decode()[-3000:]}")
            with open(marker, "w") as f:
                f.write("\n".join(requirements) + "\n")
    return python
