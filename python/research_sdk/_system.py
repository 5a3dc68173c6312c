"""System metrics from /proc (Linux) and nvidia-smi: CPU %, RAM, process RSS, GPU util/memory."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, Optional, Tuple


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", "replace")
    except OSError:
        return None


class SystemSampler:
    def __init__(self, gpu: bool = True) -> None:
        self._last_cpu: Optional[Tuple[int, int]] = self._cpu_times()
        self._last_proc: Optional[Tuple[float, float]] = self._proc_cpu()
        self._nvsmi = shutil.which("nvidia-smi") if gpu else None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _cpu_times() -> Optional[Tuple[int, int]]:
        s = _read("/proc/stat")
        if not s or not s.startswith("cpu "):
            return None
        v = [int(x) for x in s.split("\n", 1)[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle

    def _proc_cpu(self) -> Optional[Tuple[float, float]]:
        t = os.times()
        import time

        return t.user + t.system, time.monotonic()

    def sample(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        cur = self._cpu_times()
        if cur and self._last_cpu:
            dt = cur[0] - self._last_cpu[0]
            di = cur[1] - self._last_cpu[1]
            if dt > 0:
                out["system/cpu_percent"] = round(100.0 * (dt - di) / dt, 2)
        self._last_cpu = cur
        pc = self._proc_cpu()
        if pc and self._last_proc and pc[1] > self._last_proc[1]:
            out["system/process_cpu_percent"] = round(
                100.0 * (pc[0] - self._last_proc[0]) / (pc[1] - self._last_proc[1]), 2)
        self._last_proc = pc
        mem = _read("/proc/meminfo")
        if mem:
            info = {}
            for line in mem.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("MemTotal:", "MemAvailable:"):
                    info[parts[0]] = int(parts[1]) * 1024
            total, avail = info.get("MemTotal:"), info.get("MemAvailable:")
            if total and avail is not None:
                out["system/memory_used_mb"] = round((total - avail) / 2**20, 1)
                out["system/memory_percent"] = round(100.0 * (total - avail) / total, 2)
        statm = _read("/proc/self/statm")
        if statm:
            out["system/process_rss_mb"] = round(int(statm.split()[1]) * self._page / 2**20, 1)
        if self._nvsmi:
            out.update(self._gpu())
        return out

    def _gpu(self) -> Dict[str, float]:
        try:
            p = subprocess.run([self._nvsmi, "--query-gpu=index,utilization.gpu,memory.used,memory.total",
                                "--format=csv,noheader,nounits"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._nvsmi = None
            return {}
        if p.returncode != 0:
            self._nvsmi = None
            return {}
        return gpu_metrics(p.stdout.decode("ascii", "replace"))


def _num(s: str) -> Optional[float]:
    try:
        return float(s)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def gpu_metrics(csv: str) -> Dict[str, float]:
    """Metrics from `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
    --format=csv,noheader,nounits`: per GPU utilization %, memory used (MiB) and memory %.
    A field the driver cannot read ("[N/A]") is skipped; the others of that GPU are kept."""
    out: Dict[str, float] = {}
    for line in csv.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) < 4 or not f[0].isdigit():
            continue
        i, util, used, total = f[0], _num(f[1]), _num(f[2]), _num(f[3])
        if util is not None:
            out[f"system/gpu{i}/utilization_percent"] = util
        if used is not None:
            out[f"system/gpu{i}/memory_used_mb"] = used
            if total:
                out[f"system/gpu{i}/memory_percent"] = round(100.0 * used / total, 2)
    return out
