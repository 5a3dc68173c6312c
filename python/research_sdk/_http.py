"""A small keep-alive HTTP/JSON client on top of http.client (one instance per thread)."""
from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import socket
import ssl
import time
import urllib.parse
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

from ._errors import APIError, ServerUnreachableError, error_for, retry_after_seconds
from ._version import __version__

USER_AGENT = f"research_sdk/{__version__} (python)"

#: Exceptions that mean "the request did not get a usable answer" (the server may or may not
#: have processed it). Everything that can be retried is idempotent in this SDK.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException, socket.timeout)


class Response:
    __slots__ = ("status", "headers", "data")

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data

    def json(self) -> Any:
        if not self.data:
            return None
        return json.loads(self.data)

    def detail(self) -> Any:
        try:
            body = self.json()
        except ValueError:
            return self.data[:500].decode("utf-8", "replace")
        if isinstance(body, dict) and "detail" in body:
            return body["detail"]
        return body

    @property
    def retry_after(self) -> Optional[float]:
        return retry_after_seconds(self.headers.get("retry-after"))


def quote(segment: str) -> str:
    """Quote one path segment (names may contain '/', spaces, any Unicode)."""
    return urllib.parse.quote(str(segment), safe="")


class HttpClient:
    """Not thread-safe: every thread that talks to the server owns its own instance."""

    def __init__(self, base_url: str, api_key: Optional[str], timeout: float = 30.0,
                 gzip_min_bytes: int = 64 * 1024) -> None:
        u = urllib.parse.urlsplit(base_url.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"api_url must look like http://host:port, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.gzip_min_bytes = gzip_min_bytes
        self._conn: Optional[http.client.HTTPConnection] = None
        self._used = False
        self._deadline: Optional[float] = None

    @contextlib.contextmanager
    def deadline(self, at: Optional[float]) -> Iterator["HttpClient"]:
        """Within the block, no request waits past monotonic time `at`: each socket operation's
        timeout is cut to the time left, and a request started after it fails at once (as a
        timeout, i.e. "unreachable"). A hung server then costs the caller at most the budget."""
        prev = self._deadline
        if at is not None:
            self._deadline = at if prev is None else min(prev, at)
        try:
            yield self
        finally:
            self._deadline = prev

    def _timeout_now(self) -> float:
        if self._deadline is None:
            return self.timeout
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no time left for this call (offline grace / timeout)")
        return min(self.timeout, left)

    # -- connection ---------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout,
                    context=ssl.create_default_context(), blocksize=1 << 20)
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout, blocksize=1 << 20)
            self._used = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Union[bytes, Any, None] = None,
                headers: Optional[Dict[str, str]] = None,
                query: Optional[Union[Mapping[str, Any], Iterable[Tuple[str, Any]]]] = None,
                compress: bool = False) -> Response:
        """Send one request; raises TRANSPORT_ERRORS when no answer arrived.

        `body` is bytes or a seekable binary file object (streamed in 1 MiB blocks; set
        Content-Length in `headers`). A stale keep-alive connection is retried once at once.
        """
        url = self._prefix + path
        if query:
            items = query.items() if isinstance(query, Mapping) else query
            items = [(k, v) for k, v in items if v is not None]
            if items:
                url += "?" + urllib.parse.urlencode(items, doseq=True)
        h = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        if headers:
            h.update(headers)
        if isinstance(body, (bytes, bytearray)):
            if compress and len(body) >= self.gzip_min_bytes:
                body = gzip.compress(body, compresslevel=1)
                h["Content-Encoding"] = "gzip"
            h["Content-Length"] = str(len(body))
        elif body is None and method in ("POST", "PUT", "PATCH"):
            h["Content-Length"] = "0"
        start_pos = body.tell() if hasattr(body, "seek") else None
        for attempt in (0, 1):
            timeout = self._timeout_now()
            conn = self._connection()
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            reused = self._used
            try:
                conn.request(method, url, body=body, headers=h)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("content-encoding", "") == "gzip" and data:
                    data = gzip.decompress(data)
                self._used = True
                out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
                if resp.will_close:
                    self.close()
                return out
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.close()
                # A kept-alive connection the server closed meanwhile: retry once on a new one.
                if attempt == 0 and reused and (start_pos is not None or not hasattr(body, "read")):
                    if start_pos is not None:
                        body.seek(start_pos)
                    continue
                raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, payload: Any = None, query: Any = None,
             expect: Tuple[int, ...] = (200, 201, 204)) -> Any:
        """JSON request; returns the decoded body, raises APIError / ServerUnreachableError."""
        body = None
        headers = None
        if payload is not None:
            body = json.dumps(payload, allow_nan=False, default=_json_default).encode()
            headers = {"Content-Type": "application/json"}
        try:
            resp = self.request(method, path, body, headers, query)
        except TRANSPORT_ERRORS as e:
            raise ServerUnreachableError(f"cannot reach {self.base_url} ({method} {path}): {e}") from e
        if resp.status not in expect:
            raise error_for(resp.status, resp.detail(), method, path)
        try:
            return resp.json()
        except ValueError:
            return resp.data


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "__fspath__"):
        return str(o)
    return str(o)


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


__all__ = ["HttpClient", "Response", "TRANSPORT_ERRORS", "APIError", "quote", "is_retryable_status"]
