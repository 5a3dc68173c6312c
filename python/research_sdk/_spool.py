"""On-disk spool: append-only, fsynced JSONL segments of batch bodies, one directory per run.

Layout of a run directory (``<spool root>/<run>/``, the root by default ``$ASSAY_SPOOL_DIR/python``)::

    meta.json                  the run: api_url, project/experiment names and ids, pending
                               features / code snapshot / status / artifacts (atomic rewrite)
    lock                       flock()ed by the live process that owns the run
    seg-<16 digits>.jsonl      one batch body (the exact JSON the batch endpoint takes) per line
    seg-<16 digits>.ack        byte offset up to which the segment has been acknowledged

Segments are replayed in name order. New batches are appended to the last segment; batches
that are older than everything on disk (the in-memory queue when the server goes away) are
written to a new segment *before* the first one, so the spool stays in logging order. An ack
file may lag behind (it is not fsynced): replaying an acknowledged batch again is harmless
because every body carries its batch_id.
"""
from __future__ import annotations

import errno
import json
import os
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from ._errors import SpoolLockedError

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock, best effort
    fcntl = None  # type: ignore

SEGMENT_MAX_BYTES = 64 << 20
_FIRST_SEQ = 10 ** 15
_SEG_RE = re.compile(r"^seg-(\d{16})\.jsonl$")


def shared_root() -> str:
    """`ASSAY_SPOOL_DIR`, default `~/.assay/spool`: shared by both SDKs, a directory each."""
    env = (os.environ.get("ASSAY_SPOOL_DIR") or "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".assay", "spool")


def default_root() -> str:
    """This SDK's spool root, `<shared root>/python` (docs/sdk-delivery.md rule 5). Run
    directories of older versions sit directly in the shared root; `sync` replays them too."""
    return os.path.join(shared_root(), "python")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Segment:
    __slots__ = ("seq", "path", "size", "acked")

    def __init__(self, seq: int, path: str, size: int, acked: int) -> None:
        self.seq = seq
        self.path = path
        self.size = size
        self.acked = acked

    @property
    def ack_path(self) -> str:
        return self.path[:-6] + ".ack"


class Spool:
    """Not thread-safe by itself: the sender's outbox serialises every call under its lock."""

    def __init__(self, directory: str, lock: bool = True) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._lock_fd: Optional[int] = None
        if lock:
            self._acquire_lock()
        self._segments: List[_Segment] = []
        self._tail_fd: Optional[int] = None
        self._read_f = None
        self._read_seq: Optional[int] = None
        self.pending = 0  # batches on disk not yet acknowledged (exact for this process' writes)
        self._scan()

    # -- lock -----------------------------------------------------------------------------------
    def _acquire_lock(self) -> None:
        fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise SpoolLockedError(f"spool {self.dir} is in use by another process") from None
                raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    # -- scan -----------------------------------------------------------------------------------
    def _scan(self) -> None:
        segs = []
        for fn in os.listdir(self.dir):
            m = _SEG_RE.match(fn)
            if not m:
                continue
            path = os.path.join(self.dir, fn)
            size = os.path.getsize(path)
            acked = 0
            try:
                with open(path[:-6] + ".ack") as f:
                    acked = min(int(f.read().strip() or 0), size)
            except (OSError, ValueError):
                pass
            segs.append(_Segment(int(m.group(1)), path, size, acked))
        segs.sort(key=lambda s: s.seq)
        self._segments = segs
        self.pending = 0
        for s in segs:
            if s.acked < s.size:
                with open(s.path, "rb") as f:
                    f.seek(s.acked)
                    self.pending += sum(1 for line in f if line.strip())

    @property
    def empty(self) -> bool:
        return self.pending == 0

    # -- writing --------------------------------------------------------------------------------
    def _new_segment(self, seq: int) -> _Segment:
        seg = _Segment(seq, os.path.join(self.dir, "seg-%016d.jsonl" % seq), 0, 0)
        fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.close(fd)
        _fsync_dir(self.dir)
        return seg

    def append(self, bodies: List[bytes]) -> None:
        """Append batches at the end (newest); fsynced before returning."""
        if not bodies:
            return
        tail = self._segments[-1] if self._segments else None
        if tail is None or tail.size >= SEGMENT_MAX_BYTES or self._tail_fd is None:
            if self._tail_fd is not None:
                os.close(self._tail_fd)
                self._tail_fd = None
            if tail is None or tail.size >= SEGMENT_MAX_BYTES:
                tail = self._new_segment((tail.seq + 1) if tail else _FIRST_SEQ)
                self._segments.append(tail)
            self._tail_fd = os.open(tail.path, os.O_WRONLY | os.O_APPEND)
        data = b"".join(b.rstrip(b"\n") + b"\n" for b in bodies)
        _write_all(self._tail_fd, data)
        os.fsync(self._tail_fd)
        tail.size += len(data)
        self.pending += len(bodies)

    def prepend(self, bodies: List[bytes]) -> None:
        """Write batches that are older than everything already spooled (a new first segment)."""
        if not bodies:
            return
        if not self._segments:
            self.append(bodies)
            return
        seg = self._new_segment(self._segments[0].seq - 1)
        data = b"".join(b.rstrip(b"\n") + b"\n" for b in bodies)
        fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        seg.size = len(data)
        self._segments.insert(0, seg)
        self.pending += len(bodies)

    # -- reading --------------------------------------------------------------------------------
    def peek(self) -> Optional[Tuple[bytes, Tuple[int, int]]]:
        """The oldest unacknowledged batch body and its position token, or None."""
        while self._segments:
            head = self._segments[0]
            if head.acked < head.size:
                if self._read_seq != head.seq:
                    self._close_reader()
                    self._read_f = open(head.path, "rb")
                    self._read_seq = head.seq
                self._read_f.seek(head.acked)
                line = self._read_f.readline()
                end = head.acked + len(line)
                if not line.endswith(b"\n"):
                    # A torn write from a crash: nothing after it is valid in this segment.
                    head.size = head.acked
                    self._drop_head_if_done()
                    continue
                body = line.strip()
                if not body:
                    self._ack_to(head, end)
                    continue
                return body, (head.seq, end)
            if not self._drop_head_if_done():
                return None
        return None

    def ack(self, pos: Tuple[int, int]) -> None:
        seq, end = pos
        for seg in self._segments:
            if seg.seq == seq:
                if end > seg.acked:
                    self.pending = max(0, self.pending - 1)
                self._ack_to(seg, end)
                return

    def _ack_to(self, seg: _Segment, end: int) -> None:
        seg.acked = max(seg.acked, end)
        if seg is self._segments[0] and self._drop_head_if_done():
            return
        try:
            with open(seg.ack_path + ".tmp", "w") as f:
                f.write(str(seg.acked))
            os.replace(seg.ack_path + ".tmp", seg.ack_path)
        except OSError:
            pass

    def _drop_head_if_done(self) -> bool:
        """Delete the first segment when fully acknowledged. True if one was removed."""
        if not self._segments:
            return False
        head = self._segments[0]
        if head.acked < head.size:
            return False
        is_tail = len(self._segments) == 1
        if is_tail and self._tail_fd is not None:
            os.close(self._tail_fd)
            self._tail_fd = None
        if self._read_seq == head.seq:
            self._close_reader()
        for p in (head.path, head.ack_path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self._segments.pop(0)
        if not self._segments:
            self.pending = 0
        return True

    def _close_reader(self) -> None:
        if self._read_f is not None:
            self._read_f.close()
            self._read_f = None
            self._read_seq = None

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        self._close_reader()
        if self._tail_fd is not None:
            os.close(self._tail_fd)
            self._tail_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove_if_empty(self, keep_meta_if: bool = False) -> bool:
        """Delete the run directory when nothing is left to replay (and no meta is pending)."""
        if self.pending or any(s.acked < s.size for s in self._segments) or keep_meta_if:
            return False
        self.close()
        for fn in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, fn))
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            return False
        return True

    # -- meta -------------------------------------------------------------------------------------
    def read_meta(self) -> Dict[str, Any]:
        return read_meta(self.dir)

    def write_meta(self, meta: Dict[str, Any]) -> None:
        write_json_atomic(os.path.join(self.dir, "meta.json"), meta)


def read_meta(directory: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def run_dir_name(project: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{project}__{name}")[:80].strip("._") or "run"
    return f"{safe}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"
