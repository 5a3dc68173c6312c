"""MLflow's test sources named in manifest.json, fetched into a cache and verified by SHA-256.

The files are MLflow's (Apache-2.0) and stay out of our repository: the first run downloads them
from GitHub at the pinned commit into ASSAY_MLFLOW_TESTS_CACHE (default
~/.cache/assay/mlflow-tests/<commit>/), later runs reuse the cache. ASSAY_MLFLOW_TESTS_SRC=<an
mlflow checkout at that commit> copies them from a local checkout instead (machines without
GitHub). Whatever the source, a file whose hash differs from the manifest is refused: a test run
against other sources than the pinned ones would report numbers nobody can reproduce."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from typing import Dict

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "manifest.json")


class SourcesUnavailable(RuntimeError):
    """Neither the cache, a local checkout nor GitHub could provide a verified copy."""


def manifest() -> dict:
    with open(MANIFEST) as f:
        return json.load(f)


def cache_dir(m: dict) -> str:
    root = os.environ.get("ASSAY_MLFLOW_TESTS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "assay", "mlflow-tests")
    return os.path.join(root, m["commit"])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _download(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def fetch(timeout: float = 60.0) -> Dict[str, str]:
    """{repo path: local path} of every manifest file, each verified; raises SourcesUnavailable."""
    m = manifest()
    root = cache_dir(m)
    local_src = os.environ.get("ASSAY_MLFLOW_TESTS_SRC")
    out: Dict[str, str] = {}
    for rel, want in m["files"].items():
        dest = os.path.join(root, rel)
        data = _read(dest)
        if data is not None and _sha256(data) == want["sha256"]:
            out[rel] = dest
            continue
        where = os.path.join(local_src, rel) if local_src else m["url"].format(commit=m["commit"], path=rel)
        try:
            data = _read(where) if local_src else _download(where, timeout)
        except OSError as e:
            raise SourcesUnavailable(f"cannot fetch {where}: {e}") from e
        if data is None:
            raise SourcesUnavailable(f"{where} does not exist")
        got = _sha256(data)
        if got != want["sha256"]:
            raise SourcesUnavailable(f"{where}: sha256 {got}, the manifest pins {want['sha256']} (commit {m['commit']})")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        # write-then-rename: a killed fetch never leaves a half file that a later run would hash
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        out[rel] = dest
    return out


def assemble(into: str, files: Dict[str, str]) -> None:
    """A pytest root: the verified upstream files, our shims for the helpers they import, our conftest."""
    for rel, src in files.items():
        os.makedirs(os.path.join(into, os.path.dirname(rel)), exist_ok=True)
        shutil.copyfile(src, os.path.join(into, rel))
    shim = os.path.join(HERE, "shim")
    for dirpath, _, names in os.walk(shim):
        for n in names:
            if n.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, n), shim)
                os.makedirs(os.path.join(into, os.path.dirname(rel)), exist_ok=True)
                shutil.copyfile(os.path.join(dirpath, n), os.path.join(into, rel))
    shutil.copyfile(os.path.join(HERE, "conftest_assay.py"), os.path.join(into, "conftest.py"))
