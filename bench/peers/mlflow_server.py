"""Starts/stops `mlflow server` (SQLite backend, loopback) and reads its memory from /proc."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except OSError:
            pass
    return kids


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class MlflowServer:
    def __init__(self, proc, port, workers):
        self.proc = proc
        self.port = port
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, workdir, db_path, timeout_s=180):
        """Returns (server, ms from spawn to GET /health == 200)."""
        port = free_port()
        workers = os.environ.get("BENCH_MLFLOW_WORKERS", "")  # empty = MLflow's default (4)
        bin_dir = os.path.dirname(sys.executable)
        cmd = [
            os.path.join(bin_dir, "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{db_path}",
            "--default-artifact-root", f"file://{os.path.join(workdir, 'artifacts')}",
            "--host", "127.0.0.1", "--port", str(port),
        ]
        if workers:
            cmd += ["--workers", workers]
        logf = open(os.path.join(workdir, "server.log"), "ab")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir)
        server = cls(proc, port, int(workers) if workers else 4)
        while time.perf_counter() - t0 < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({proc.returncode}); see {workdir}/server.log")
            try:
                with urllib.request.urlopen(server.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return server, (time.perf_counter() - t0) * 1000
            except OSError:
                pass
            time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout_s} s")

    def pids(self):
        kids = _children()
        out, stack = [], [self.proc.pid]
        while stack:
            p = stack.pop()
            out.append(p)
            stack.extend(kids.get(p, []))
        return out

    def memory(self):
        """RSS and PSS summed over the whole tree (server, uvicorn workers, job runners). PSS
        splits pages shared between the forked/spawned workers, so it is the fair total."""
        pids = self.pids()
        return {"rss": sum(_status_kb(p, "VmRSS") for p in pids), "pss": sum(_pss(p) for p in pids), "pids": len(pids)}

    def cpu_seconds(self):
        total = 0
        for p in self.pids():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return total

    def settle(self, max_s=60, quiet=0.05):
        """Waits until the tree uses < `quiet` of a core over 1 s (its job runners import lazily
        after /health is already up). Returns the seconds waited."""
        t0 = time.perf_counter()
        last = self.cpu_seconds()
        while time.perf_counter() - t0 < max_s:
            time.sleep(1)
            now = self.cpu_seconds()
            if now - last < quiet:
                break
            last = now
        return time.perf_counter() - t0

    def stop(self, grace_s=20):
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the server and its workers
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
