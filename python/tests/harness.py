"""Test/bench support: a live Assay server (node packages/server/bin/assay.mjs) on a free port
with a temp data dir, and a tiny fault-injecting HTTP proxy (latency, status codes, resets)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(REPO, "python")
ASSAY_BIN = os.path.join(REPO, "packages", "server", "bin", "assay.mjs")


def temp_dir(test: Any, prefix: str = "assay-test-") -> str:
    """A temp directory removed when `test` (a TestCase) ends."""
    d = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, d, True)
    return d


def git_repo(test: Any) -> str:
    """A throwaway git work tree (one commit, then a modified and an untracked file)."""
    repo = temp_dir(test, "assay-git-")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.write("lr = 1e-4\n")
    subprocess.run(git + ["add", "train.py"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], cwd=repo, check=True)
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.write("lr = 3e-4\n")
    with open(os.path.join(repo, "notes.txt"), "w") as f:
        f.write("new\n")
    return repo


class TempCwd:
    """Run a test module outside any git work tree: cwd in a fresh temp directory, which is
    removed, and the old cwd restored, by `close()` (call it from tearDownModule)."""

    def __init__(self, prefix: str = "assay-cwd-") -> None:
        self.old = os.getcwd()
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chdir(self.dir)

    def close(self) -> None:
        os.chdir(self.old)
        shutil.rmtree(self.dir, ignore_errors=True)


def module_in_temp_cwd() -> Tuple[Callable[[], None], Callable[[], None]]:
    """(setUpModule, tearDownModule) running a test module from a temp cwd (see TempCwd)."""
    state: Dict[str, TempCwd] = {}

    def setup() -> None:
        state["cwd"] = TempCwd()

    def teardown() -> None:
        if "cwd" in state:
            state.pop("cwd").close()

    return setup, teardown


class HungServer:
    """Accepts TCP connections and reads from them, but never answers (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._conns: list = []
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._closed.set()
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_available() -> bool:
    return os.path.isfile(ASSAY_BIN) and shutil.which("node") is not None


def require_server() -> None:
    """The live test modules' precondition: fail (not skip) with how to run them."""
    if not server_available():
        raise RuntimeError("the live tests need node and packages/server/bin/assay.mjs (run them through npm test)")


def start_live() -> Tuple["TempCwd", "LiveServer"]:
    """setUpModule of a live test module: a temp cwd (TempCwd) and a started server; unittest runs no
    tearDownModule when setUpModule fails, so a server that does not start leaves no temp cwd behind."""
    require_server()
    cwd = TempCwd()
    try:
        return cwd, LiveServer().start()
    except BaseException:
        cwd.close()
        raise


def stop_live(cwd: Optional["TempCwd"], server: Optional["LiveServer"]) -> None:
    """tearDownModule for start_live: the server first, then the cwd."""
    if server:
        server.cleanup()
    if cwd:
        cwd.close()


class LiveServer:
    def __init__(self, env: Optional[Dict[str, str]] = None, team: str = "team-123") -> None:
        self.data_dir = tempfile.mkdtemp(prefix="assay-pytest-")
        # Own embedded stores, also in CI's PostgreSQL run: servers sharing one database would
        # collide on team names and sweep each other's runs as crashed.
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        # node's temp files (tsx's compile cache) go inside the data dir, removed by cleanup()
        self.env["TMPDIR"] = os.path.join(self.data_dir, "tmp")
        os.makedirs(self.env["TMPDIR"])
        self.env.update(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        out = subprocess.run(["node", ASSAY_BIN, "team", "create", team, "--data-dir", self.data_dir],
                             cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"assay team create failed: {out.stderr.decode()[-2000:]}")
        line = [x for x in out.stdout.decode().splitlines() if x.strip().startswith("{")][-1]
        self.team = json.loads(line)
        self.team["name"] = team
        self.api_key = self.team["api_key"]

    def create_team(self, name: str) -> Dict[str, Any]:
        """Another team in the same data dir (server must be stopped for embedded PGlite)."""
        out = subprocess.run(["node", ASSAY_BIN, "team", "create", name, "--data-dir", self.data_dir],
                             cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.decode()[-2000:])
        return json.loads([x for x in out.stdout.decode().splitlines() if x.strip().startswith("{")][-1])

    def start(self, timeout: float = 90.0, cwd: Optional[str] = None) -> "LiveServer":
        """`cwd`: the server's working directory (MLflow resolves a relative artifact_location there)."""
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["node", ASSAY_BIN, "serve", "--port", str(self.port),
                                      "--data-dir", self.data_dir], cwd=cwd or REPO, env=self.env,
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"assay serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"assay serve not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the server dies mid-request, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- small JSON client for assertions ----------------------------------------------------------
    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query=query)

    def call(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None) -> Any:
        import urllib.parse

        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None


class FaultProxy:
    """A threaded HTTP/1.1 reverse proxy that can delay or fail requests.

    `rule(method, path) -> None | ("status", code, headers) | ("delay", seconds) | ("reset",) |
    ("forward_reset",) | ("hang",) | ("forward_hang",)` — "hang": read the request, never answer;
    "forward_hang": forward it (the server does the work) and never answer; both until close().
    """

    def __init__(self, target: str, rule: Optional[Callable[[str, str], Any]] = None, delay: float = 0.0) -> None:
        import http.client
        import http.server
        import urllib.parse

        self.target = urllib.parse.urlsplit(target)
        self.rule = rule
        self.delay = delay
        self.requests = 0
        self.counts: Dict[str, int] = {}
        self._upstream: list = []
        self._accepted: list = []
        self._closed = threading.Event()
        proxy = self
        local = threading.local()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                proxy._accepted.append(self.connection)

            def _reset(self) -> None:
                """Drop the connection without an answer."""
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.requests += 1
                key = f"{self.command} {self.path.split('?')[0]}"
                proxy.counts[key] = proxy.counts.get(key, 0) + 1
                action = proxy.rule(self.command, self.path) if proxy.rule else None
                if proxy.delay:
                    time.sleep(proxy.delay)
                if action and action[0] == "delay":
                    time.sleep(action[1])
                    action = None
                if action and action[0] == "reset":
                    self._reset()
                    return
                if action and action[0] == "hang":  # read the request, never answer
                    proxy._closed.wait()
                    self._reset()
                    return
                if action and action[0] == "status":
                    payload = json.dumps({"detail": "injected"}).encode()
                    self.send_response(action[1])
                    for k, v in (action[2] if len(action) > 2 else {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                reset_after = bool(action and action[0] == "forward_reset")
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                    proxy._upstream.append(conn)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    local.conn = None
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if reset_after:  # the server did the work, the client never hears about it
                    self._reset()
                    return
                if action and action[0] == "forward_hang":  # the server did the work; no answer, ever
                    proxy._closed.wait()
                    self._reset()
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for c in self._upstream + self._accepted:
            try:
                c.close()
            except OSError:
                pass
